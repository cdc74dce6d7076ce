import { Match, type Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { appConfig, synthAgent } from './synth-agent.ts';

interface Statement {
  actions: string[];
  resources: string[];
}

/** Every IAM statement in the template, with CloudFormation references rendered as `<...>` (as cdk-nag does). */
function statements(template: Template): Statement[] {
  const render = (value: unknown): string => {
    if (typeof value === 'string') return value;
    const node = value as Record<string, unknown>;
    if ('Ref' in node) return `<${node.Ref}>`;
    if ('Fn::GetAtt' in node) return `<${(node['Fn::GetAtt'] as string[]).join('.')}>`;
    if ('Fn::Join' in node) {
      const [separator, parts] = node['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(separator);
    }
    return JSON.stringify(value);
  };
  const list = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) =>
    list(policy.Properties.PolicyDocument.Statement).map((statement: any) => ({
      actions: list(statement.Action),
      resources: list(statement.Resource).map(render),
    })),
  );
}

function resourcesOf(template: Template, action: string): string[] {
  return statements(template)
    .filter((statement) => statement.actions.includes(action))
    .flatMap((statement) => statement.resources)
    .sort();
}

describe('IAM scoping', () => {
  const { template } = synthAgent([
    appConfig('iam-web', { cluster: { name: 'prod', region: 'eu-west-1' }, credentialsSecret: 'git/web' }),
    appConfig('iam-api', {
      cluster: { name: 'staging', region: 'us-east-2' },
      credentialsSecret: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:git/api-AbC123',
    }),
    appConfig('iam-far', {
      cluster: {
        name: 'partner',
        region: 'eu-west-1',
        roleArn: 'arn:aws:iam::444455556666:role/driftless-deployer',
      },
      credentialsSecret: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:git/partial',
    }),
  ]);

  it('allows eks:DescribeCluster on the listed clusters only', () => {
    expect(resourcesOf(template, 'eks:DescribeCluster')).toEqual([
      'arn:<AWS::Partition>:eks:eu-west-1:<AWS::AccountId>:cluster/prod',
      'arn:<AWS::Partition>:eks:us-east-2:<AWS::AccountId>:cluster/staging',
    ]);
  });

  it('allows secretsmanager:GetSecretValue on the listed secrets only, by name, full or partial ARN', () => {
    expect(resourcesOf(template, 'secretsmanager:GetSecretValue')).toEqual([
      'arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:git/web-??????',
      'arn:aws:secretsmanager:eu-west-1:111122223333:secret:git/api-AbC123',
      'arn:aws:secretsmanager:eu-west-1:111122223333:secret:git/partial-??????',
    ]);
  });

  it('allows sts:AssumeRole on the listed roles only, and leaves their cluster to that role', () => {
    expect(resourcesOf(template, 'sts:AssumeRole')).toEqual([
      'arn:aws:iam::444455556666:role/driftless-deployer',
    ]);
    expect(resourcesOf(template, 'eks:DescribeCluster').join()).not.toContain('partner');
  });

  it('reads and writes the history table through a grant on the table itself', () => {
    expect(resourcesOf(template, 'dynamodb:PutItem')).toEqual([
      expect.stringMatching(/^<AgentTable\w+\.Arn>$/),
    ]);
  });

  it('has no wildcard resource for EKS, Secrets Manager, STS or DynamoDB', () => {
    const scoped = statements(template).filter((statement) =>
      statement.actions.some((action) => /^(eks|secretsmanager|sts|dynamodb):/.test(action)),
    );
    expect(scoped.length).toBeGreaterThanOrEqual(4);
    for (const statement of scoped) {
      for (const resource of statement.resources) expect(resource).not.toContain('*');
    }
  });

  it('writes logs to the agent log group only', () => {
    expect(resourcesOf(template, 'logs:PutLogEvents')).toEqual([
      expect.stringMatching(/^<AgentSyncLogGroup\w+\.Arn>$/),
    ]);
  });
});

describe('EKS access entries', () => {
  it('creates none unless an app asks for one', () => {
    const { template } = synthAgent([appConfig('ae-none')]);
    template.resourceCountIs('AWS::EKS::AccessEntry', 0);
  });

  it("gives the function's role the chosen policy on the app's cluster", () => {
    const { template } = synthAgent([
      appConfig('ae-admin', {
        cluster: { name: 'prod', region: 'eu-west-1', access: { policy: 'AmazonEKSClusterAdminPolicy' } },
      }),
    ]);
    template.resourceCountIs('AWS::EKS::AccessEntry', 1);
    template.hasResourceProperties('AWS::EKS::AccessEntry', {
      ClusterName: 'prod',
      Type: 'STANDARD',
      PrincipalArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AgentRole'), 'Arn'] },
      AccessPolicies: [
        {
          PolicyArn: {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy',
              ],
            ],
          },
          AccessScope: { Type: 'cluster' },
        },
      ],
    });
  });

  it('merges the apps of one cluster into one entry: namespaces add up, cluster scope wins', () => {
    const edit = (namespaces?: string[]) => ({ policy: 'AmazonEKSEditPolicy', namespaces });
    const { template } = synthAgent([
      appConfig('ae-a', { cluster: { name: 'shared', region: 'eu-west-1', access: edit(['team-a']) } }),
      appConfig('ae-b', {
        cluster: { name: 'shared', region: 'eu-west-1', access: edit(['team-b', 'team-a']) },
      }),
      appConfig('ae-c', {
        cluster: {
          name: 'shared',
          region: 'eu-west-1',
          access: { policy: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy' },
        },
      }),
      appConfig('ae-d', { cluster: { name: 'other', region: 'eu-west-1', access: edit(['x']) } }),
      appConfig('ae-e', { cluster: { name: 'other', region: 'eu-west-1', access: edit() } }),
    ]);
    template.resourceCountIs('AWS::EKS::AccessEntry', 2);
    template.hasResourceProperties('AWS::EKS::AccessEntry', {
      ClusterName: 'shared',
      AccessPolicies: [
        {
          PolicyArn: Match.anyValue(),
          AccessScope: { Type: 'namespace', Namespaces: ['team-a', 'team-b'] },
        },
        {
          PolicyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy',
          AccessScope: { Type: 'cluster' },
        },
      ],
    });
    template.hasResourceProperties('AWS::EKS::AccessEntry', {
      ClusterName: 'other',
      AccessPolicies: [{ PolicyArn: Match.anyValue(), AccessScope: { Type: 'cluster' } }],
    });
  });

  it('checks at deploy time that an environment-agnostic stack deploys in the cluster region', () => {
    const { template } = synthAgent([
      appConfig('ae-rule', {
        cluster: { name: 'prod', region: 'eu-west-1', access: { policy: 'AmazonEKSAdminPolicy' } },
      }),
    ]);
    const rules = template.toJSON().Rules as Record<string, any>;
    const assertions = Object.values(rules).flatMap((rule) => rule.Assertions);
    expect(assertions).toContainEqual({
      Assert: { 'Fn::Equals': [{ Ref: 'AWS::Region' }, 'eu-west-1'] },
      AssertDescription: expect.stringContaining('deploy the stack to eu-west-1'),
    });
  });

  it('refuses an access entry for a cluster in another region than the stack, naming the setting', () => {
    expect(() =>
      synthAgent(
        [
          appConfig('ae-ok', { cluster: { name: 'a', region: 'eu-west-1' } }),
          appConfig('ae-far', {
            cluster: { name: 'b', region: 'us-east-1', access: { policy: 'AmazonEKSAdminPolicy' } },
          }),
        ],
        { env: { account: '111122223333', region: 'eu-west-1' } },
      ),
    ).toThrow(/apps\[1\]\.cluster\.access: cluster b is in us-east-1 but the stack deploys to eu-west-1/);
  });

  it('refuses an access entry combined with roleArn, naming the setting', () => {
    expect(() =>
      synthAgent([
        appConfig('ae-role', {
          cluster: {
            name: 'a',
            region: 'eu-west-1',
            roleArn: 'arn:aws:iam::444455556666:role/deployer',
            access: { policy: 'AmazonEKSAdminPolicy' },
          },
        }),
      ]),
    ).toThrow(/apps\[0\]\.cluster\.access: cannot be combined with cluster\.roleArn/);
  });
});
