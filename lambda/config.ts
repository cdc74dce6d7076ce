/**
 * App settings: one schema for the deploy-time config file (validated at `cdk synth`) and for
 * what the Lambda reads at run time. Errors name the setting, e.g. `apps[1].cluster.region`.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { issueLines, type Locate, parseWithPositions } from './config-issues.ts';
import { checkRepo, checkRepoPath } from './config-repo.ts';
import { agentReactionSettings, appReactionSettings } from './notify/settings.ts';
import { AWS_REGION, DNS_LABEL, IAM_ROLE_ARN } from './setting-patterns.ts';
import type { RenderOptions } from './source/render/render.ts';
import { RENDER_MODES } from './source/render/settings.ts';
import { parseRepoUrl, plainHttpCredentialsReason } from './source/repo-url.ts';

const appName = z.string().regex(DNS_LABEL.pattern, DNS_LABEL.message);

// The shapes EventBridge Scheduler accepts, so a typo fails at synth rather than at deploy. The
// rate unit is singular for 1 and plural otherwise: Scheduler rejects `rate(1 minutes)` and `rate(5 minute)`.
const schedule = z
  .string()
  .regex(
    /^(rate\((1 (minute|hour|day)|([2-9]|[1-9]\d+) (minutes|hours|days))\)|cron\(\S+( \S+){5}\))$/,
    'must be an EventBridge Scheduler expression: rate(1 minute), rate(5 minutes) or cron(min hour day month weekday year)',
  );

export const clusterSchema = z.strictObject({
  /** EKS cluster name. */
  name: z.string().min(1),
  /** AWS region of the cluster. */
  region: z.string().regex(AWS_REGION.pattern, AWS_REGION.message),
  /** Role to assume before calling EKS (cross-account clusters). */
  roleArn: z.string().regex(IAM_ROLE_ARN.pattern, IAM_ROLE_ARN.message).optional(),
  /**
   * Deploy time only (the CDK stack reads it, the agent ignores it): create an EKS access entry
   * for this app's own role on this cluster, with an access policy (cluster-wide or limited to
   * `namespaces`) and/or Kubernetes groups bound by your own RBAC. Absent: grant access yourself.
   */
  access: z
    .strictObject({
      /** An EKS access policy name such as AmazonEKSEditPolicy, or its full ARN. */
      policy: z
        .string()
        .regex(
          /^(arn:aws[a-z-]*:eks::aws:cluster-access-policy\/)?AmazonEKS[A-Za-z0-9]+Policy$/,
          'must be an EKS access policy such as AmazonEKSEditPolicy or its ARN',
        )
        .optional(),
      /** Limit the policy to these namespaces. Default: the whole cluster. */
      namespaces: z
        .array(appName)
        .min(1, 'list at least one namespace, or omit it for cluster scope')
        .optional(),
      /** Kubernetes groups of the app's identity, for RoleBindings/ClusterRoleBindings you write. */
      kubernetesGroups: z
        .array(
          z
            .string()
            .min(1)
            .regex(/^(?!system:)/, 'must not start with "system:" (EKS reserves those groups)'),
        )
        .min(1, 'list at least one group, or omit it')
        .optional(),
    })
    .refine((access) => access.policy || access.kubernetesGroups, {
      message: 'set policy, kubernetesGroups or both',
    })
    .refine((access) => access.policy || !access.namespaces, {
      message: 'namespaces limits a policy: set policy too (groups are scoped by your RoleBindings)',
      path: ['namespaces'],
    })
    .optional(),
});

/**
 * Bounds of one renderer process (`helm template`, `kubectl kustomize`): past one it is killed and
 * the run fails before any write. Set by the platform team here, never by a repository. Its own
 * key, as `render` already names an app's render mode.
 */
export const renderLimitsSchema = z.strictObject({
  /** Resident memory of the renderer, in MiB. Keep it well under the function's memory. Default 512. */
  maxMemoryMiB: z.number().int().min(64).max(10_240).optional(),
  /** CPU time (user + system) of the renderer, in seconds. Default 30. */
  maxCpuSeconds: z.number().int().min(1).max(900).optional(),
  /** Wall-clock time of the renderer, in seconds. Default 60. */
  timeoutSeconds: z.number().int().min(1).max(900).optional(),
});

const webhookSecretArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/,
    'must be a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)',
  );

export const appSchema = z.strictObject({
  name: appName,
  /** https URL of the Git repository (the CLI takes a local path with --repo); never with credentials. */
  repo: z.string().min(1).superRefine(checkRepo),
  /** Branch, tag or full commit SHA. Default: the remote's default branch. */
  ref: z.string().min(1).optional(),
  /** Folder inside the repository. Default: the root. */
  path: z.string().default('.').superRefine(checkRepoPath),
  /** Secrets Manager secret (name or ARN) with a token string or JSON {username,password} / {token}. */
  credentialsSecret: z.string().min(1).optional(),
  cluster: clusterSchema,
  /** Namespace for namespaced objects that name none. */
  namespace: appName.default('default'),
  /**
   * Create `namespace` before the first write when it is missing, labelled as the app's (one that
   * exists without the app's label is never taken over). It is pruned only once this is off, with
   * prune on, and when it holds nothing that is not the app's. Any render mode.
   */
  createNamespace: z.boolean().default(false),
  schedule: schedule.default('rate(5 minutes)'),
  prune: z.boolean().default(false),
  selfHeal: z.boolean().default(false),
  allowEmpty: z.boolean().default(false),
  suspended: z.boolean().default(false),
  ...appReactionSettings,
  /** How the folder becomes objects: auto-detected, plain manifests, Kustomize or Helm. */
  render: z.enum(RENDER_MODES).default('auto'),
  /**
   * Helm charts: release name (default: the app name), values files (relative to the chart),
   * inline values; `pruneCrds` prunes CRDs that left the chart's `crds/` folder (Helm never does).
   */
  helm: z
    .strictObject({
      releaseName: appName.optional(),
      valuesFiles: z.array(z.string().min(1)).optional(),
      values: z.record(z.string(), z.unknown()).optional(),
      pruneCrds: z.boolean().optional(),
    })
    .optional(),
  /** Overrides the agent-wide `renderLimits`, key by key, for an app whose render needs more (or less). */
  renderLimits: renderLimitsSchema.optional(),
  /** Kustomize: `allowRemoteBases` lets the renderer fetch URLs in `resources` (off: no network). */
  kustomize: z.strictObject({ allowRemoteBases: z.boolean().optional() }).optional(),
  /** Take over existing objects without this app's label (forced apply, then labelled). */
  adopt: z.boolean().default(false),
  /**
   * What the app may touch; `"*"` allows all. Default: its own `namespace` only, and of the
   * cluster-scoped kinds only Namespaces (in `namespaces`).
   */
  scope: z
    .strictObject({
      namespaces: z
        .array(z.union([z.literal('*'), appName]))
        .min(1, 'list at least one namespace or "*"')
        .optional(),
      clusterKinds: z
        .array(z.string().regex(/^(\*|[A-Z][A-Za-z0-9]*)$/, 'must be a kind such as ClusterRole, or "*"'))
        .optional(),
    })
    .optional(),
  /** Most objects one run may prune. Default: half of what the app owned, when it owned more than 5. */
  pruneLimit: z.number().int().nonnegative().optional(),
  /** This app's own push secret: only a push signed with it starts the app (not the agent-wide one). */
  webhook: z.strictObject({ secretArn: webhookSecretArn }).optional(),
});

const agentSettings = {
  /** Bounds of every app's renderer; an app's own `renderLimits` overrides them key by key. */
  renderLimits: renderLimitsSchema.optional(),
  ...agentReactionSettings,
};

export const configSchema = z
  .strictObject({ apps: z.array(appSchema).min(1, 'list at least one app'), ...agentSettings })
  .superRefine(checkApps);

/** The CLI on a kubeconfig (`--kubeconfig`/`--context`) needs no EKS `cluster` of its apps. */
export const kubeconfigConfigSchema = z
  .strictObject({
    apps: z.array(appSchema.extend({ cluster: clusterSchema.optional() })).min(1, 'list at least one app'),
    ...agentSettings,
  })
  .superRefine(checkApps);

/** Checks across apps: unique names, per-app webhooks need the receiver, no credentials over http. */
function checkApps(
  config: {
    apps: Pick<AppConfig, 'name' | 'repo' | 'webhook' | 'credentialsSecret'>[];
    webhook?: unknown;
  },
  ctx: z.RefinementCtx,
): void {
  const seen = new Set<string>();
  config.apps.forEach((app, index) => {
    if (seen.has(app.name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['apps', index, 'name'],
        message: `duplicate app name "${app.name}"`,
      });
    }
    seen.add(app.name);
    if (app.webhook && !config.webhook) {
      ctx.addIssue({
        code: 'custom',
        path: ['apps', index, 'webhook'],
        message: 'needs the push receiver: set webhook: true (or its settings) at the top level',
      });
    }
    const url = app.credentialsSecret ? parseRepoUrl(app.repo) : undefined;
    const overHttp = url && plainHttpCredentialsReason(url, 'the credentials');
    if (overHttp)
      ctx.addIssue({ code: 'custom', path: ['apps', index, 'credentialsSecret'], message: overHttp });
  });
}

export type ClusterConfig = z.infer<typeof clusterSchema>;

/** The scope an app runs with: its settings, or the defaults (its namespace, Namespaces only). */
export function appScope(app: Pick<AppConfig, 'namespace' | 'scope'>): {
  namespaces: string[];
  clusterKinds: string[];
} {
  return {
    namespaces: app.scope?.namespaces ?? [app.namespace],
    clusterKinds: app.scope?.clusterKinds ?? ['Namespace'],
  };
}
/** The render options of an app's runs: its `renderLimits` over the agent's, then the defaults. */
export function appRenderOptions(
  config: Pick<DriftlessConfig, 'renderLimits'>,
  app: Pick<AppConfig, 'renderLimits'>,
): RenderOptions {
  const setting = <K extends keyof RenderLimits>(key: K) =>
    app.renderLimits?.[key] ?? config.renderLimits?.[key];
  const timeoutSeconds = setting('timeoutSeconds');
  return {
    maxMemoryMiB: setting('maxMemoryMiB'),
    maxCpuSeconds: setting('maxCpuSeconds'),
    timeoutMs: timeoutSeconds === undefined ? undefined : timeoutSeconds * 1000,
  };
}
export type AppConfig = z.infer<typeof appSchema>;
export type RenderLimits = z.infer<typeof renderLimitsSchema>;
export type DriftlessConfig = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A config the CLI reads for a kubeconfig target: an app's `cluster` may be absent. */
export type KubeconfigConfig = z.infer<typeof kubeconfigConfigSchema>;

/**
 * Validates a parsed config; the error lists every bad setting by path, e.g. `apps[0].repo:
 * Required`, an unknown key with the nearest known one, and with `locate` its line and column.
 */
export function parseConfig(input: unknown, source = 'config', locate?: Locate): DriftlessConfig {
  return parseWith(configSchema, input, source, locate);
}

function parseWith<S extends z.ZodType>(
  schema: S,
  input: unknown,
  source: string,
  locate?: Locate,
): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const lines = issueLines(result.error.issues, schema, locate);
  throw new ConfigError(`invalid ${source}:\n${lines.join('\n')}`);
}

/** Reads and validates a YAML or JSON config file (JSON is YAML). */
export async function loadConfigFile(path: string): Promise<DriftlessConfig> {
  return parseConfigText(await readConfigFile(path), path);
}

/** The CLI with `--kubeconfig`/`--context`: as `loadConfigFile`, but apps need no `cluster`. */
export async function loadKubeconfigConfigFile(path: string): Promise<KubeconfigConfig> {
  const { value, locate } = parseYaml(await readConfigFile(path), path);
  return parseWith(kubeconfigConfigSchema, value, `config file ${path}`, locate);
}

async function readConfigFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
}

/** Parses and validates config file text; synchronous for CDK constructs. `path` names the file in errors. */
export function parseConfigText(text: string, path: string): DriftlessConfig {
  const { value, locate } = parseYaml(text, path);
  return parseConfig(value, `config file ${path}`, locate);
}

function parseYaml(text: string, path: string): { value: unknown; locate: Locate } {
  try {
    return parseWithPositions(text);
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(error as Error).message}`);
  }
}
