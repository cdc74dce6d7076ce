import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { appConfig, synthAgent } from './synth-agent.ts';

interface Statement {
  actions: string[];
  resources: string[];
}

/**
 * Every IAM statement in the template, with CloudFormation references rendered as `<...>` (as
 * cdk-nag does); with `role`, only the statements of policies attached to roles whose logical ID
 * starts with it.
 */
function statements(template: Template, role?: string): Statement[] {
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
  const attached = (policy: any) =>
    !role || list(policy.Properties.Roles).some((ref: any) => String(ref.Ref).startsWith(role));
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter(attached)
    .flatMap((policy) =>
      list(policy.Properties.PolicyDocument.Statement).map((statement: any) => ({
        actions: list(statement.Action),
        resources: list(statement.Resource).map(render),
      })),
    );
}

function resourcesOf(template: Template, action: string, role?: string): string[] {
  return statements(template, role)
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

  it("gives each app's role its own cluster, secret and cross-account role, and the function's role none of them", () => {
    expect(resourcesOf(template, 'eks:DescribeCluster', 'AgentAppRolesiamweb')).toEqual([
      'arn:<AWS::Partition>:eks:eu-west-1:<AWS::AccountId>:cluster/prod',
    ]);
    expect(resourcesOf(template, 'secretsmanager:GetSecretValue', 'AgentAppRolesiamweb')).toEqual([
      'arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:git/web-??????',
    ]);
    expect(resourcesOf(template, 'sts:AssumeRole', 'AgentAppRolesiamfar')).toEqual([
      'arn:aws:iam::444455556666:role/driftless-deployer',
    ]);
    // With a role to assume, the cluster is that role's to describe.
    expect(resourcesOf(template, 'eks:DescribeCluster').join()).not.toContain('partner');
    const own = statements(template, 'AgentRole').flatMap((statement) => statement.actions);
    expect(own.filter((action) => /^(eks|secretsmanager):/.test(action))).toEqual([]);
    expect(resourcesOf(template, 'sts:AssumeRole', 'AgentRole')).toEqual([
      expect.stringMatching(/^<AgentAppRolesiamapi\w+\.Arn>$/),
      expect.stringMatching(/^<AgentAppRolesiamfar\w+\.Arn>$/),
      expect.stringMatching(/^<AgentAppRolesiamweb\w+\.Arn>$/),
    ]);
  });

  it('grants on the history table exactly the DynamoDB actions the store calls', () => {
    const actions = statements(template, 'AgentRole')
      .flatMap((statement) => statement.actions)
      .filter((action) => action.startsWith('dynamodb:'))
      .sort();
    expect(actions).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
    // ...and that list is what the store's source sends, command for command.
    const source = readFileSync(join(import.meta.dirname, '../../lambda/history/dynamodb-store.ts'), 'utf8');
    const sent = new Set([...source.matchAll(/new (\w+)Command\(/g)].map((match) => match[1] ?? ''));
    const action: Record<string, string> = {
      BatchGet: 'BatchGetItem',
      Delete: 'DeleteItem',
      Get: 'GetItem',
      Put: 'PutItem',
      Query: 'Query',
      Update: 'UpdateItem',
    };
    expect([...sent].map((name) => `dynamodb:${action[name] ?? name}`).sort()).toEqual(actions);
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

  it("gives the app's own role the chosen policy on the app's cluster", () => {
    const { template } = synthAgent([
      appConfig('ae-admin', {
        cluster: { name: 'prod', region: 'eu-west-1', access: { policy: 'AmazonEKSClusterAdminPolicy' } },
      }),
    ]);
    template.resourceCountIs('AWS::EKS::AccessEntry', 1);
    template.hasResourceProperties('AWS::EKS::AccessEntry', {
      ClusterName: 'prod',
      Type: 'STANDARD',
      PrincipalArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AgentAppRolesaeadmin'), 'Arn'] },
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

  it('gives each app of a shared cluster an entry of its own: its policy on its namespaces, or its groups', () => {
    const { template } = synthAgent([
      appConfig('ae-a', {
        cluster: {
          name: 'shared',
          region: 'eu-west-1',
          access: { policy: 'AmazonEKSEditPolicy', namespaces: ['team-a'] },
        },
      }),
      appConfig('ae-b', {
        cluster: { name: 'shared', region: 'eu-west-1', access: { kubernetesGroups: ['team-b-deployers'] } },
      }),
    ]);
    template.resourceCountIs('AWS::EKS::AccessEntry', 2);
    template.hasResourceProperties('AWS::EKS::AccessEntry', {
      ClusterName: 'shared',
      PrincipalArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AgentAppRolesaea'), 'Arn'] },
      AccessPolicies: [
        { PolicyArn: Match.anyValue(), AccessScope: { Type: 'namespace', Namespaces: ['team-a'] } },
      ],
      KubernetesGroups: Match.absent(),
    });
    template.hasResourceProperties('AWS::EKS::AccessEntry', {
      ClusterName: 'shared',
      PrincipalArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AgentAppRolesaeb'), 'Arn'] },
      KubernetesGroups: ['team-b-deployers'],
      AccessPolicies: Match.absent(),
    });
  });

  it('names an access setting with neither a policy nor groups, namespaces without a policy, and a system: group', () => {
    const refused = (access: unknown) => () =>
      synthAgent([appConfig('ae-bad', { cluster: { name: 'a', region: 'eu-west-1', access } })], {
        nag: false,
      });
    expect(refused({})).toThrow(/apps\[0\]\.cluster\.access: set policy, kubernetesGroups or both/);
    expect(refused({ kubernetesGroups: ['g'], namespaces: ['x'] })).toThrow(
      /apps\[0\]\.cluster\.access\.namespaces: namespaces limits a policy/,
    );
    expect(refused({ kubernetesGroups: ['system:masters'] })).toThrow(
      /kubernetesGroups\[0\]: must not start with "system:"/,
    );
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

describe('per-app identity', () => {
  const { template } = synthAgent([
    appConfig('id-web'),
    appConfig('id-a-very-long-application-name-that-needs-shortening-x'),
  ]);

  it("trusts only the function's role, and only in a session named for its own app", () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      Path: '/driftless/',
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Action: 'sts:AssumeRole',
            Effect: 'Allow',
            Principal: { AWS: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AgentRole'), 'Arn'] } },
            Condition: { StringEquals: { 'sts:RoleSessionName': 'driftless-id-web' } },
          },
        ],
      },
    });
  });

  it('names each role so the function can find it from one prefix, within IAM and STS limits', () => {
    const roles = template.findResources('AWS::IAM::Role', { Properties: { Path: '/driftless/' } });
    const names = Object.values(roles).map((role) => JSON.stringify(role.Properties.RoleName));
    expect(names).toHaveLength(2);
    expect(names.some((name) => name.includes('-id-web"'))).toBe(true);
    const sessions = Object.values(roles).map(
      (role) =>
        role.Properties.AssumeRolePolicyDocument.Statement[0].Condition.StringEquals['sts:RoleSessionName'],
    );
    for (const session of sessions) expect(session.length).toBeLessThanOrEqual(64);
    expect(sessions).toContainEqual(expect.stringMatching(/^driftless-id-a-very-long-.*-[0-9a-f]{8}$/));
    // The function's prefix and each role's name share the stack's tag and region.
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0];
    const prefix = JSON.stringify(fn?.Properties.Environment.Variables.DRIFTLESS_APP_ROLE_ARN_PREFIX);
    const tag = /:role\/driftless\/([0-9a-f]{8})-/.exec(prefix)?.[1];
    expect(tag).toBeDefined();
    for (const name of names) expect(name).toContain(`"${tag}-"`);
  });
});
