/**
 * The run a `sync`/`plan` command line asks for: the deploy config's app (with `--config`), and
 * each flag over the one setting it names. `--repo` replaces only the repository: the config's
 * `path`, `ref`, `render`, `helm` and `kustomize` stay unless their own flags are given. The
 * config's `credentialsSecret` belongs to its repository and is not sent to another one.
 */
import { AWS_REGION, DNS_LABEL, IAM_ROLE_ARN } from '../setting-patterns.ts';
import type { RenderMode } from '../source/source.ts';
import type { ClusterTarget, SyncInput } from '../sync.ts';
import type { ConfiguredApp } from './app-config.ts';
import type { OutputFormat } from './options.ts';

export interface SyncOptions {
  repo?: string;
  ref?: string;
  path?: string;
  app: string;
  config?: string;
  namespace?: string;
  prune?: boolean;
  selfHeal?: boolean;
  allowEmpty?: boolean;
  render?: RenderMode;
  adopt?: boolean;
  pruneLimit?: number;
  moveSource?: boolean;
  dryRun?: boolean;
  kubeconfig?: string;
  context?: string;
  cluster?: string;
  region?: string;
  roleArn?: string;
  history?: string;
  output: OutputFormat;
  quiet?: boolean;
  wait?: number;
}

/** Thrown for bad flag combinations, reported like commander's own usage errors (exit 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Whether the command line names a kubeconfig target, so a config's EKS `cluster` is not needed. */
export function targetsKubeconfig(options: Pick<SyncOptions, 'kubeconfig' | 'context' | 'cluster'>): boolean {
  return !options.cluster && Boolean(options.kubeconfig || options.context);
}

/** The run the command line asks for: the deploy config's app settings (if any), flags over them. */
export function syncInput(options: SyncOptions, configured?: ConfiguredApp): SyncInput {
  const app = options.app;
  if (!DNS_LABEL.pattern.test(app)) throw new UsageError(`--app "${app}" ${DNS_LABEL.message}`);
  const from = configured?.app;
  const repo = options.repo ?? from?.repo;
  if (!repo)
    throw new UsageError(
      'give the repository with --repo URL|PATH, or an app of a deploy config with --config FILE',
    );
  const namespace = options.namespace ?? from?.namespace ?? 'default';
  if (!DNS_LABEL.pattern.test(namespace)) throw new UsageError(`--namespace ${DNS_LABEL.message}`);
  return {
    app,
    source: {
      repo,
      ref: options.ref ?? from?.ref,
      path: options.path ?? from?.path ?? '.',
      credentialsSecret: options.repo ? undefined : from?.credentialsSecret,
      app,
      render: {
        mode: options.render ?? from?.render ?? 'auto',
        namespace,
        helm: from?.helm,
        kustomize: from?.kustomize,
      },
    },
    target: clusterTarget(options, from?.cluster),
    namespace,
    createNamespace: from?.createNamespace ?? false,
    prune: Boolean(options.prune ?? from?.prune),
    selfHeal: Boolean(options.selfHeal ?? from?.selfHeal),
    allowEmpty: Boolean(options.allowEmpty ?? from?.allowEmpty),
    adopt: Boolean(options.adopt ?? from?.adopt),
    // Without a deploy config the CLI runs unrestricted, under the user's own credentials.
    scope: configured?.scope,
    pruneLimit: options.pruneLimit ?? from?.pruneLimit,
    moveSource: Boolean(options.moveSource),
    dryRun: Boolean(options.dryRun),
    trigger: 'cli',
    healthTimeoutMs: options.wait,
  };
}

/** `--kubeconfig`/`--context`/`--cluster` when given, else the deploy config's EKS cluster. */
function clusterTarget(
  options: SyncOptions,
  configured?: NonNullable<ConfiguredApp['app']['cluster']>,
): ClusterTarget {
  if (configured && !options.cluster && !options.kubeconfig && !options.context) {
    if (options.region || options.roleArn) throw new UsageError('--region and --role-arn need --cluster');
    return { type: 'eks', name: configured.name, region: configured.region, roleArn: configured.roleArn };
  }
  if (options.cluster) {
    if (options.kubeconfig || options.context) {
      throw new UsageError(
        '--cluster connects to EKS directly; do not combine it with --kubeconfig or --context',
      );
    }
    return {
      type: 'eks',
      name: options.cluster,
      region: requireRegion(options.region),
      roleArn: checkRoleArn(options.roleArn),
    };
  }
  if (options.region || options.roleArn) throw new UsageError('--region and --role-arn need --cluster');
  return { type: 'kubeconfig', kubeconfig: options.kubeconfig, context: options.context };
}

/** The region from `--region` or the environment, checked like the config's `cluster.region` (it becomes a host name). */
export function requireRegion(region?: string): string {
  const resolved = region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!resolved) throw new UsageError('--cluster needs --region (or AWS_REGION)');
  if (!AWS_REGION.pattern.test(resolved)) {
    throw new UsageError(`${region ? '--region' : 'AWS_REGION'} ${AWS_REGION.message}`);
  }
  return resolved;
}

export function checkRoleArn(roleArn?: string): string | undefined {
  if (roleArn !== undefined && !IAM_ROLE_ARN.pattern.test(roleArn))
    throw new UsageError(`--role-arn ${IAM_ROLE_ARN.message}`);
  return roleArn;
}
