/**
 * One IAM role per app: the identity the cluster sees for that app's runs. The function's own
 * role may only assume these roles, and each role trusts only the function's role, and only in
 * a session named for its own app (`driftless-<app>`), so a run of app A can never act as app B,
 * even when an invoker names A's role in B's event. The role holds the app's cluster, secret and
 * cross-account permissions; its access entry holds the app's Kubernetes rights.
 */
import { createHash } from 'node:crypto';
import { Aws, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { APP_ROLE_PATH, appRoleSuffix, appSessionName } from '../lambda/cluster/app-role.ts';
import type { AppConfig } from '../lambda/config.ts';
import { ClusterAccessEntries, grantAppAccess } from './cluster-access.ts';

export interface AppIdentitiesProps {
  /** The function's role: the only principal the app roles trust. */
  readonly functionRole: iam.Role;
  readonly apps: readonly AppConfig[];
  /** Names the config file in errors. */
  readonly source: string;
}

/** The per-app roles, their access entries, and the grant that lets the function assume them. */
export class AppIdentities extends Construct {
  /** One role per app, keyed by app name. */
  readonly roles: Readonly<Record<string, iam.Role>>;
  /** EKS access entries of the apps that ask for `cluster.access`. */
  readonly accessEntries: ClusterAccessEntries;
  /**
   * What the function prepends to `appRoleSuffix(app)` to get an app's role ARN
   * (`DRIFTLESS_APP_ROLE_ARN_PREFIX`).
   */
  readonly roleArnPrefix: string;

  constructor(scope: Construct, id: string, props: AppIdentitiesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    // Role names are unique per account: the stack's name and this construct's path tell two
    // driftless stacks apart, the region the same stack deployed twice.
    const stackTag = createHash('sha256')
      .update(`${stack.stackName}/${this.node.path}`)
      .digest('hex')
      .slice(0, 8);
    const namePrefix = `${stackTag}-${Aws.REGION}-`;
    this.roleArnPrefix = `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role${APP_ROLE_PATH}${namePrefix}`;

    const roles: Record<string, iam.Role> = {};
    for (const app of props.apps) {
      const role = new iam.Role(this, app.name, {
        roleName: `${namePrefix}${appRoleSuffix(app.name)}`,
        path: APP_ROLE_PATH,
        description: `driftless app ${app.name}: its cluster identity, assumed by the pull agent for its runs only`,
        assumedBy: new iam.ArnPrincipal(props.functionRole.roleArn).withConditions({
          StringEquals: { 'sts:RoleSessionName': appSessionName(app.name) },
        }),
      });
      grantAppAccess(role, app);
      roles[app.name] = role;
    }
    this.roles = roles;

    const arns = Object.values(roles).map((role) => role.roleArn);
    if (arns.length > 0) {
      props.functionRole.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['sts:AssumeRole'], resources: arns }),
      );
    }
    this.accessEntries = new ClusterAccessEntries(this, 'AccessEntries', {
      apps: props.apps.map((app, index) => ({ app, index, role: roles[app.name] as iam.Role })),
      source: props.source,
    });
  }
}
