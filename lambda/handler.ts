/**
 * The Lambda entry: an EventBridge Scheduler event `{ "app": "name" }` -> the app's settings from
 * the config file the stack ships -> one `runSync` -> log lines, EMF metrics, the run summary.
 *
 * It throws only for invocation-level errors (bad event, unknown app, bad config, history store
 * unreachable), so the function's Errors metric means "the agent is broken", not "a manifest is
 * bad": a failed sync is a normal result, recorded in the history and counted in SyncFailures.
 * A failure nothing awaits (a stray rejection, a throw in a timer) is the agent broken too: the
 * deployed handler records the run `Failed`, then lets the runtime fail the invocation (`last-resort.ts`).
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
import type { RunDeadline } from './cluster/run-deadline.ts';
import { connectCluster } from './cluster/target.ts';
import {
  type AppConfig,
  appRenderOptions,
  appScope,
  ConfigError,
  type DriftlessConfig,
  loadConfigFile,
} from './config.ts';
import { openHistoryStore } from './history/open-store.ts';
import type { HistoryStore } from './history/store.ts';
import { guardRun, installLastResort } from './last-resort.ts';
import { logSyncRun, type SyncLogger } from './log.ts';
import { type RunEventPublisher, runEventPublisher } from './notify/publish.ts';
import { recordMetrics, type SyncSummary, summarize, suspendedSummary } from './run-summary.ts';
import type { RenderOptions } from './source/render/render.ts';
import { loadSource } from './source/source.ts';
import { type ClusterConnector, runSync, type SourceLoader, type SyncInput } from './sync.ts';

export type { SyncSummary };

/** What the schedule sends. */
export interface SyncEvent {
  app: string;
  /** What asked for the run, stored in the history. @default 'schedule' */
  trigger?: 'schedule' | 'webhook';
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
  /**
   * Add the process-wide last resort on the first invocation: a failure nothing awaits records
   * the run `Failed` and is handed to the runtime's own listeners. @default false (`handler` sets it)
   */
  lastResort?: boolean;
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
  const sourceFor = (app: string, render: RenderOptions): SourceLoader =>
    deps.loadSource ??
    ((settings, context) => {
      let secrets = secretsClients.get(app);
      if (!secrets) {
        secrets = new SecretsManagerClient({ credentials: identities(app) });
        secretsClients.set(app, secrets);
      }
      const cacheDir = join(process.env.DRIFTLESS_CACHE_DIR ?? '/tmp/driftless', 'git');
      return loadSource(settings, {
        cacheDir,
        secrets,
        logger: syncLogger,
        ca: deps.gitCa,
        render,
        ...context,
      });
    });
  const connectFor = (app: string): ClusterConnector =>
    deps.connect ?? ((target) => connectCluster(target, { credentials: identities(app) }));
  const syncLogger = powertoolsSyncLogger(logger);
  const eventBus = process.env.DRIFTLESS_EVENT_BUS;
  const publishRunEvent =
    deps.publishRunEvent ?? (eventBus ? runEventPublisher({ eventBus, logger: syncLogger }) : undefined);

  return async (event, context) => {
    // On the first invocation, not at import: by then the runtime's own listeners are in place.
    if (deps.lastResort) {
      installLastResort({
        logger: syncLogger,
        flush: () => logger.flushBuffer(),
        exitCode: 1,
        passToPrevious: true,
      });
    }
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
      const history = await store();
      const input = appSyncInput(app, parsed.data.trigger);
      const renderOptions = appRenderOptions(await config(), app);
      const run = await guardRun(history, (onRunStarted) =>
        runSync(input, {
          store: history,
          loadSource: sourceFor(app.name, renderOptions),
          connect: connectFor(app.name),
          logger: syncLogger,
          now: deps.now,
          onRunStarted,
          deadline: runDeadline(context),
        }),
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

/** Time kept after a run's deadline to finish and record it before the Lambda is stopped. */
const DEADLINE_MARGIN_MS = 30_000;

/**
 * The run's deadline: the invocation's remaining time less a margin (at most half of what is
 * left), so a run the Lambda timeout would kill records itself `Failed` and releases its lease first.
 */
function runDeadline(context: Context | undefined): RunDeadline | undefined {
  if (typeof context?.getRemainingTimeInMillis !== 'function') return undefined;
  const remaining = context.getRemainingTimeInMillis();
  const margin = Math.min(DEADLINE_MARGIN_MS, remaining / 2);
  return {
    at: Date.now() + remaining - margin,
    reason: `${Math.round(margin / 1000)} s before the Lambda's timeout`,
  };
}

/** What one run of a deployed app is: its settings from the config, the EKS target as its own role. */
function appSyncInput(app: AppConfig, trigger: SyncEvent['trigger']): SyncInput {
  return {
    app: app.name,
    source: {
      repo: app.repo,
      ref: app.ref,
      path: app.path,
      credentialsSecret: app.credentialsSecret,
      app: app.name,
      render: {
        mode: app.render,
        namespace: app.namespace,
        helm: app.helm,
        kustomize: app.kustomize,
      },
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
    createNamespace: app.createNamespace,
    trigger,
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
export const handler: SyncHandler = createHandler({ lastResort: true });
