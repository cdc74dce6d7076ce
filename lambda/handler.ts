/**
 * The Lambda entry: an EventBridge Scheduler event `{ "app": "name" }` -> the app's settings from
 * the config file the stack ships -> one `runSync` -> log lines, EMF metrics, the run summary.
 *
 * It throws only for invocation-level errors (bad event, unknown app, bad config, history store
 * unreachable), so the function's Errors metric means "the agent is broken", not "a manifest is
 * bad": a failed sync is a normal result, recorded in the history and counted in SyncFailures.
 *
 * Environment:
 * - `DRIFTLESS_CONFIG_FILE`: the app config (YAML/JSON, validated with `loadConfigFile`).
 * - `DRIFTLESS_TABLE`: the DynamoDB history table.
 * - `DRIFTLESS_CACHE_DIR`: scratch space for Git data. @default /tmp/driftless
 * - `DRIFTLESS_EVENT_BUS`: event bus (name or ARN) for run events. @default none: no events
 * - `DRIFTLESS_APP_ROLE_ARN_PREFIX`: with it, each run assumes its app's own role (session
 *   `driftless-<app>`) for Secrets Manager, EKS and any cross-account role. @default the function's role
 * - `DRIFTLESS_RECORD_TTL_DAYS`: days a run record is kept. @default 90
 * - `POWERTOOLS_METRICS_NAMESPACE` @default Driftless; `POWERTOOLS_SERVICE_NAME` @default driftless
 */
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { STSClient } from '@aws-sdk/client-sts';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { appIdentities } from './cluster/app-identity.ts';
import { appSessionName } from './cluster/app-role.ts';
import { connectCluster } from './cluster/target.ts';
import { type AppConfig, appScope, ConfigError, type DriftlessConfig, loadConfigFile } from './config.ts';
import { openHistoryStore } from './history/open-store.ts';
import type { HistoryStore, RunStatus } from './history/store.ts';
import { logSyncRun, type SyncLogger } from './log.ts';
import { type RunEventPublisher, runEventPublisher } from './notify/publish.ts';
import type { Action, Health } from './reconcile/types.ts';
import { loadSource } from './source/source.ts';
import { type ClusterConnector, runSync, type SourceLoader, type SyncRun } from './sync.ts';

/** What the schedule sends. */
export interface SyncEvent {
  app: string;
  /** What asked for the run, stored in the history. @default 'schedule' */
  trigger?: 'schedule' | 'webhook';
}

/** What an invocation returns: the run without its per-object detail (that is in the history). */
export interface SyncSummary {
  app: string;
  runId?: string;
  cluster: string;
  revision: string;
  previousRevision?: string;
  /** The run's status; `Suspended` when the app is suspended in the config and nothing ran. */
  outcome: RunStatus | 'Suspended';
  dryRun: boolean;
  counts: Partial<Record<Action, number>>;
  /** The app's health at the end of the run (worst of its objects). */
  health?: Health;
  startedAt?: string;
  finishedAt?: string;
  durationMs: number;
  error?: string;
  /** Earlier runs this one found dead and marked `Interrupted`. */
  interrupted: string[];
}

/** Everything the handler would otherwise build from the environment; tests replace pieces. */
export interface HandlerDeps {
  /** @default a Powertools Logger */
  logger?: Logger;
  /** @default Powertools Metrics, namespace `POWERTOOLS_METRICS_NAMESPACE` or `Driftless` */
  metrics?: Metrics;
  /** @default `loadConfigFile(DRIFTLESS_CONFIG_FILE)`, once per container */
  loadConfig?: () => Promise<DriftlessConfig>;
  /** @default `openHistoryStore('dynamodb:' + DRIFTLESS_TABLE)`, once per container */
  openStore?: () => Promise<HistoryStore>;
  /** @default `loadSource` with `DRIFTLESS_CACHE_DIR` and a Secrets Manager client */
  loadSource?: SourceLoader;
  /** CA certificates (PEM) the default `loadSource` trusts for https Git servers. @default none (`NODE_EXTRA_CA_CERTS` still counts) */
  gitCa?: readonly string[];
  /** @default `connectCluster` (DescribeCluster + a signed EKS token) as the app's role */
  connect?: ClusterConnector;
  /** The STS client that assumes the apps' roles. @default `new STSClient({})` */
  sts?: STSClient;
  /** @default Date.now */
  now?: () => number;
  /** @default a publisher to `DRIFTLESS_EVENT_BUS`; none when it is unset */
  publishRunEvent?: RunEventPublisher;
}

const eventSchema = z.object({
  app: z.string().min(1, 'must name an app'),
  trigger: z.enum(['schedule', 'webhook']).default('schedule'),
});

export type SyncHandler = (event: unknown, context?: Context) => Promise<SyncSummary>;

/** Builds the handler. Config and store are created on first use and reused while the container lives. */
export function createHandler(deps: HandlerDeps = {}): SyncHandler {
  const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'driftless';
  const logger = deps.logger ?? new Logger({ serviceName });
  const metrics =
    deps.metrics ??
    new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'Driftless', serviceName });
  const config = once(deps.loadConfig ?? (() => loadConfigFile(requireEnv('DRIFTLESS_CONFIG_FILE'))));
  const store = once(
    deps.openStore ??
      (() =>
        openHistoryStore(`dynamodb:${requireEnv('DRIFTLESS_TABLE')}`, {
          recordTtlDays: recordTtlDays(process.env.DRIFTLESS_RECORD_TTL_DAYS),
        })),
  );
  const identities = appIdentities(process.env.DRIFTLESS_APP_ROLE_ARN_PREFIX, deps.sts);
  const secretsClients = new Map<string, SecretsManagerClient>();
  // Per app: the Secrets Manager client and the cluster connection run as the app's own role.
  const sourceFor = (app: string): SourceLoader =>
    deps.loadSource ??
    ((settings, context) => {
      let secrets = secretsClients.get(app);
      if (!secrets) {
        secrets = new SecretsManagerClient({ credentials: identities(app) });
        secretsClients.set(app, secrets);
      }
      const cacheDir = join(process.env.DRIFTLESS_CACHE_DIR ?? '/tmp/driftless', 'git');
      return loadSource(settings, { cacheDir, secrets, logger: syncLogger, ca: deps.gitCa, ...context });
    });
  const connectFor = (app: string): ClusterConnector =>
    deps.connect ?? ((target) => connectCluster(target, { credentials: identities(app) }));
  const syncLogger = powertoolsSyncLogger(logger);
  const eventBus = process.env.DRIFTLESS_EVENT_BUS;
  const publishRunEvent =
    deps.publishRunEvent ?? (eventBus ? runEventPublisher({ eventBus, logger: syncLogger }) : undefined);

  return async (event, context) => {
    if (context) logger.addContext(context);
    const parsed = eventSchema.safeParse(event);
    if (!parsed.success) {
      throw new Error(
        `invalid event ${excerpt(JSON.stringify(event) ?? String(event))}: expected {"app": "<name>"} (${parsed.error.issues[0]?.message})`,
      );
    }
    const app = findApp(await config(), parsed.data.app);
    logger.appendKeys({ app: app.name });
    try {
      if (app.suspended) {
        logger.info('app suspended: nothing to do', { app: app.name });
        return suspendedSummary(app);
      }
      const run = await runSync(
        {
          app: app.name,
          source: {
            repo: app.repo,
            ref: app.ref,
            path: app.path,
            credentialsSecret: app.credentialsSecret,
            app: app.name,
            render: { mode: app.render, namespace: app.namespace, helm: app.helm, kustomize: app.kustomize },
          },
          target: {
            type: 'eks',
            name: app.cluster.name,
            region: app.cluster.region,
            roleArn: app.cluster.roleArn,
            sessionName: appSessionName(app.name),
          },
          namespace: app.namespace,
          prune: app.prune,
          selfHeal: app.selfHeal,
          allowEmpty: app.allowEmpty,
          adopt: app.adopt,
          scope: appScope(app),
          pruneLimit: app.pruneLimit,
          trigger: parsed.data.trigger,
        },
        {
          store: await store(),
          loadSource: sourceFor(app.name),
          connect: connectFor(app.name),
          logger: syncLogger,
          now: deps.now,
        },
      );
      logSyncRun(syncLogger, run);
      recordMetrics(metrics, run);
      const event = await publishRunEvent?.(run.record, await store(), run.previousRevision);
      if (event && !event.published) {
        metrics.singleMetric().addMetric('RunEventFailures', MetricUnit.Count, 1);
      }
      return summarize(run);
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
      logger.removeKeys(['app']);
    }
  };
}

/** The other apps are not listed: an invoker learns nothing about them from a wrong name. */
function findApp(config: DriftlessConfig, name: string): AppConfig {
  const app = config.apps.find((candidate) => candidate.name === name);
  if (!app) {
    throw new ConfigError(
      `unknown app ${excerpt(JSON.stringify(name))}: no app of that name is in the deployed config`,
    );
  }
  return app;
}

/** Event text echoed in an error is cut to this many characters. */
const MAX_ECHO = 100;

function excerpt(text: string): string {
  return text.length > MAX_ECHO ? `${text.slice(0, MAX_ECHO)}… (${text.length} characters)` : text;
}

/** One EMF document per run, dimension `app`. Drift healed on the same revision counts as drift. */
function recordMetrics(metrics: Metrics, run: SyncRun): void {
  const { record } = run;
  // A run that found the lease taken did nothing; its log line says so, the metrics stay clean.
  if (record.outcome === 'Skipped') return;
  const counts = record.counts;
  const applied = (counts.created ?? 0) + (counts.configured ?? 0);
  const sameRevision = record.revision !== '' && record.revision === run.previousRevision;
  metrics.addDimension('app', record.app);
  metrics.addMetric('SyncRuns', MetricUnit.Count, 1);
  metrics.addMetric('SyncFailures', MetricUnit.Count, record.outcome === 'Failed' ? 1 : 0);
  // The heartbeat: an alarm fires when no run of the app ended Synced for a while (infra/alarms.ts).
  metrics.addMetric('SyncedRuns', MetricUnit.Count, record.outcome === 'Synced' ? 1 : 0);
  metrics.addMetric('DriftDetected', MetricUnit.Count, (counts.drifted ?? 0) + (sameRevision ? applied : 0));
  metrics.addMetric('ObjectsApplied', MetricUnit.Count, applied);
  metrics.addMetric('ObjectsPruned', MetricUnit.Count, counts.pruned ?? 0);
  metrics.addMetric('SyncDuration', MetricUnit.Milliseconds, record.durationMs);
}

function summarize(run: SyncRun): SyncSummary {
  const { record } = run;
  return {
    app: record.app,
    runId: record.runId,
    cluster: record.cluster ?? '',
    revision: record.revision,
    previousRevision: run.previousRevision,
    outcome: record.outcome,
    dryRun: record.dryRun,
    counts: record.counts,
    health: record.health,
    startedAt: record.startedAt,
    finishedAt: record.finishedAt,
    durationMs: record.durationMs,
    error: record.error,
    interrupted: run.interrupted.map((dead) => dead.runId),
  };
}

function suspendedSummary(app: AppConfig): SyncSummary {
  return {
    app: app.name,
    cluster: `${app.cluster.name} (${app.cluster.region})`,
    revision: '',
    outcome: 'Suspended',
    dryRun: false,
    counts: {},
    durationMs: 0,
    interrupted: [],
  };
}

/** Powertools takes attributes as extra arguments; an absent one must not be passed as `undefined`. */
function powertoolsSyncLogger(logger: Logger): SyncLogger {
  const level =
    (method: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, attributes?: Record<string, unknown>) => {
      if (attributes) logger[method](message, attributes);
      else logger[method](message);
    };
  return { debug: level('debug'), info: level('info'), warn: level('warn'), error: level('error') };
}

function recordTtlDays(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const days = Number(value);
  if (!Number.isInteger(days) || days < 1) {
    throw new ConfigError(
      `environment variable DRIFTLESS_RECORD_TTL_DAYS must be a whole number of days, at least 1`,
    );
  }
  return days;
}

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new ConfigError(`environment variable ${name} is not set (the stack sets it)`);
  return value;
}

/** Caches a promise for the container's life; a rejection is not cached, so the next invocation retries. */
function once<T>(create: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= create().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}

/** The function the stack deploys: `handler.handler`. */
export const handler: SyncHandler = createHandler();
