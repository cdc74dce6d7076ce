/**
 * What the agent's role may reach, derived from the config: `eks:DescribeCluster` on the listed
 * clusters, `secretsmanager:GetSecretValue` on the listed secrets, `sts:AssumeRole` on the listed
 * roles (never a `*` resource), and the optional EKS access entries that let the role into each
 * cluster's Kubernetes API.
 */
import { ArnFormat, Aws, CfnRule, Fn, Stack, Token } from 'aws-cdk-lib';
import { CfnAccessEntry } from 'aws-cdk-lib/aws-eks';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { type AppConfig, ConfigError } from '../lambda/config.ts';

/** A secret ARN ends in `-` and six random characters; a partial ARN or a name does not. */
const COMPLETE_SECRET_ARN = /^arn:[^:]+:secretsmanager:[^:]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/;

/** Adds the config's EKS, Secrets Manager and STS permissions to `role`, each on the listed resources only. */
export function grantConfiguredAccess(role: iam.IRole, apps: readonly AppConfig[]): void {
  const stack = Stack.of(role);
  const clusterArns = new Set<string>();
  const secretArns = new Set<string>();
  const roleArns = new Set<string>();
  for (const app of apps) {
    // With a role to assume, DescribeCluster runs as that role, not as the function's.
    if (app.cluster.roleArn) roleArns.add(app.cluster.roleArn);
    else clusterArns.add(clusterArn(stack, app.cluster.region, app.cluster.name));
    if (app.credentialsSecret) secretArns.add(secretArn(stack, app.credentialsSecret));
  }
  const statements: [string, Set<string>][] = [
    ['eks:DescribeCluster', clusterArns],
    ['secretsmanager:GetSecretValue', secretArns],
    ['sts:AssumeRole', roleArns],
  ];
  for (const [action, resources] of statements) {
    if (resources.size === 0) continue;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: [action], resources: [...resources].sort() }),
    );
  }
}

function clusterArn(stack: Stack, region: string, name: string): string {
  return stack.formatArn({ service: 'eks', region, resource: 'cluster', resourceName: name });
}

/**
 * Secrets Manager appends six random characters to a secret's ARN; a policy naming the secret
 * by name or partial ARN matches them with `-??????` (one character each, not a `*`).
 */
function secretArn(stack: Stack, secret: string): string {
  if (COMPLETE_SECRET_ARN.test(secret)) return secret;
  if (secret.startsWith('arn:')) return `${secret}-??????`;
  return stack.formatArn({
    service: 'secretsmanager',
    resource: 'secret',
    resourceName: `${secret}-??????`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/** One cluster's access entry as merged from every app that targets it. */
interface ClusterAccess {
  name: string;
  region: string;
  /** Policy ARN -> namespaces, or `undefined` for cluster scope. */
  policies: Map<string, Set<string> | undefined>;
}

/**
 * Creates one EKS access entry per cluster whose apps ask for `cluster.access`, for `principal`
 * (the function's role). Apps on the same cluster share the entry: their policies are merged, a
 * cluster scope wins over namespaces. Access entries live in the cluster's account and region,
 * so a cluster reached through `roleArn` or in another region than the stack is a config error.
 */
export class ClusterAccessEntries extends Construct {
  /** The entries created, keyed by `region/cluster`. */
  readonly entries: ReadonlyMap<string, CfnAccessEntry>;

  constructor(
    scope: Construct,
    id: string,
    props: { principal: iam.IRole; apps: readonly AppConfig[]; source: string },
  ) {
    super(scope, id);
    const stack = Stack.of(this);
    const clusters = new Map<string, ClusterAccess>();
    const problems: string[] = [];
    props.apps.forEach((app, index) => {
      const access = app.cluster.access;
      if (!access) return;
      const setting = `apps[${index}].cluster.access`;
      if (app.cluster.roleArn) {
        problems.push(
          `  ${setting}: cannot be combined with cluster.roleArn; create the access entry for that role in the cluster's account`,
        );
        return;
      }
      if (!Token.isUnresolved(stack.region) && stack.region !== app.cluster.region) {
        problems.push(
          `  ${setting}: cluster ${app.cluster.name} is in ${app.cluster.region} but the stack deploys to ${stack.region}; access entries are created in the stack's region`,
        );
        return;
      }
      const key = `${app.cluster.region}/${app.cluster.name}`;
      const cluster = clusters.get(key) ?? {
        name: app.cluster.name,
        region: app.cluster.region,
        policies: new Map(),
      };
      clusters.set(key, cluster);
      const policyArn = accessPolicyArn(access.policy);
      const known = cluster.policies.get(policyArn);
      if (!access.namespaces || (cluster.policies.has(policyArn) && known === undefined)) {
        cluster.policies.set(policyArn, undefined);
      } else {
        cluster.policies.set(policyArn, new Set([...(known ?? []), ...access.namespaces]));
      }
    });
    if (problems.length > 0) throw new ConfigError(`invalid ${props.source}:\n${problems.join('\n')}`);

    const entries = new Map<string, CfnAccessEntry>();
    for (const [key, cluster] of clusters) {
      const id = `${cluster.region}-${cluster.name}`;
      if (Token.isUnresolved(stack.region)) {
        // An environment-agnostic stack learns its region at deploy time: fail there, early and clearly.
        new CfnRule(this, `${id}-Region`, {
          assertions: [
            {
              assert: Fn.conditionEquals(Aws.REGION, cluster.region),
              assertDescription: `driftless creates the EKS access entry for cluster ${cluster.name} in ${cluster.region}: deploy the stack to ${cluster.region}`,
            },
          ],
        });
      }
      entries.set(
        key,
        new CfnAccessEntry(this, id, {
          clusterName: cluster.name,
          principalArn: props.principal.roleArn,
          type: 'STANDARD',
          accessPolicies: [...cluster.policies].map(([policyArn, namespaces]) => ({
            policyArn,
            accessScope: namespaces
              ? { type: 'namespace', namespaces: [...namespaces].sort() }
              : { type: 'cluster' },
          })),
        }),
      );
    }
    this.entries = entries;
  }
}

function accessPolicyArn(policy: string): string {
  if (policy.startsWith('arn:')) return policy;
  return `arn:${Aws.PARTITION}:eks::aws:cluster-access-policy/${policy}`;
}
