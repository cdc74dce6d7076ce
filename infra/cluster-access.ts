/**
 * What one app's role may reach, derived from its config: `eks:DescribeCluster` on its cluster,
 * `secretsmanager:GetSecretValue` on its secret, `sts:AssumeRole` on its cross-account role (never
 * a `*` resource), and the optional EKS access entry that lets the role into the cluster's
 * Kubernetes API with the app's access policy or Kubernetes groups.
 */
import { ArnFormat, Aws, CfnRule, Fn, Stack, Token } from 'aws-cdk-lib';
import { CfnAccessEntry } from 'aws-cdk-lib/aws-eks';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { type AppConfig, ConfigError } from '../lambda/config.ts';

/** A secret ARN ends in `-` and six random characters; a partial ARN or a name does not. */
const COMPLETE_SECRET_ARN = /^arn:[^:]+:secretsmanager:[^:]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/;

/** Adds the app's EKS, Secrets Manager and STS permissions to `role`, each on the app's own resources only. */
export function grantAppAccess(role: iam.IRole, app: AppConfig): void {
  const stack = Stack.of(role);
  const statements: [string, string | undefined][] = [
    // With a role to assume, DescribeCluster runs as that role, not as the app's.
    [
      'eks:DescribeCluster',
      app.cluster.roleArn ? undefined : clusterArn(stack, app.cluster.region, app.cluster.name),
    ],
    ['secretsmanager:GetSecretValue', app.credentialsSecret && secretArn(stack, app.credentialsSecret)],
    ['sts:AssumeRole', app.cluster.roleArn],
  ];
  for (const [action, resource] of statements) {
    if (resource)
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: [action], resources: [resource] }));
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

/** One app's identity, as the access entry needs it. */
export interface AppPrincipal {
  app: AppConfig;
  /** The app's index in the config, for messages (`apps[1].cluster.access`). */
  index: number;
  role: iam.IRole;
}

/**
 * Creates one EKS access entry per app that asks for `cluster.access`, for that app's own role:
 * its access policy (cluster-wide or on its namespaces) and its Kubernetes groups. Access
 * entries live in the cluster's account and region, so a cluster reached through `roleArn` or in
 * another region than the stack is a config error.
 */
export class ClusterAccessEntries extends Construct {
  /** The entries created, keyed by app name. */
  readonly entries: ReadonlyMap<string, CfnAccessEntry>;

  constructor(scope: Construct, id: string, props: { apps: readonly AppPrincipal[]; source: string }) {
    super(scope, id);
    const stack = Stack.of(this);
    const problems: string[] = [];
    const wanted: AppPrincipal[] = [];
    for (const entry of props.apps) {
      const { app, index } = entry;
      if (!app.cluster.access) continue;
      const setting = `apps[${index}].cluster.access`;
      if (app.cluster.roleArn) {
        problems.push(
          `  ${setting}: cannot be combined with cluster.roleArn; create the access entry for that role in the cluster's account`,
        );
      } else if (!Token.isUnresolved(stack.region) && stack.region !== app.cluster.region) {
        problems.push(
          `  ${setting}: cluster ${app.cluster.name} is in ${app.cluster.region} but the stack deploys to ${stack.region}; access entries are created in the stack's region`,
        );
      } else {
        wanted.push(entry);
      }
    }
    if (problems.length > 0) throw new ConfigError(`invalid ${props.source}:\n${problems.join('\n')}`);

    const regions = new Set<string>();
    const entries = new Map<string, CfnAccessEntry>();
    for (const { app, role } of wanted) {
      const { access, name, region } = app.cluster;
      if (!access) continue;
      if (Token.isUnresolved(stack.region) && !regions.has(region)) {
        regions.add(region);
        // An environment-agnostic stack learns its region at deploy time: fail there, early and clearly.
        new CfnRule(this, `${region}-Region`, {
          assertions: [
            {
              assert: Fn.conditionEquals(Aws.REGION, region),
              assertDescription: `driftless creates EKS access entries for clusters in ${region} (${name}): deploy the stack to ${region}`,
            },
          ],
        });
      }
      entries.set(
        app.name,
        new CfnAccessEntry(this, app.name, {
          clusterName: name,
          principalArn: role.roleArn,
          type: 'STANDARD',
          kubernetesGroups: access.kubernetesGroups,
          accessPolicies: access.policy
            ? [
                {
                  policyArn: accessPolicyArn(access.policy),
                  accessScope: access.namespaces
                    ? { type: 'namespace', namespaces: [...access.namespaces].sort() }
                    : { type: 'cluster' },
                },
              ]
            : undefined,
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
