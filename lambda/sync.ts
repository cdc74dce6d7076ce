/**
 * One sync of one app, the same under the Lambda, the CLI and the tests: take the app's lease,
 * record the run, fetch the source, connect to the cluster, reconcile, store the new state, and
 * finish the record. Every piece with a side effect is injected (store, source loader, cluster
 * connector, clock, logger), like isomorphic-git's commands take `fs` and `http`.
 *
 * Invariants:
 * - Every run ends with a finished record, `Failed` with the error message when any step fails
 *   (cluster unreachable, fetch, bad manifest, rejected credentials, API server down).
 * - An app is its name, its source and the cluster (see `identity.ts`): state, inventory and
 *   lease are per app and cluster, and a run whose source differs from the stored one is
 *   refused before any write unless it is told to move the app (`moveSource`).
 * - Two overlapping runs of one app on one cluster never reconcile at once: the loser records `Skipped`.
 * - The cluster's identity is the uid of `kube-system`; a run that cannot read it fails before the
 *   lease (never keyed by the server URL, which would split state and lease between identities).
 * - No write starts after the lease's deadline (history/lease.ts), whatever the history store does.
 * - A dry run (`plan`) takes no lease and writes no state, but it is recorded (`dryRun: true`),
 *   so the history shows when drift was seen.
 * - When the history store fails while finishing, the whole result goes to the log as one
 *   structured line and `runSync` throws: a run is never silently lost.
 */
import { randomBytes } from 'node:crypto';
import { clusterCapabilities } from './cluster/capabilities.ts';
import type { KubeClient } from './cluster/kube-client.ts';
import { contextName } from './cluster/kubeconfig-merge.ts';
import { type RunDeadline, withDeadline } from './cluster/run-deadline.ts';
import type { ClusterTarget } from './cluster/target.ts';
import { readControls, suspendedMessage } from './history/controls.ts';
import { guardWrites, type RunLease, takeLease } from './history/lease.ts';
import { type AppKey, type HistoryStore, StateConflictError, type SyncRecord } from './history/store.ts';
import { appSource, clusterIdentity, describeSource, sameSource } from './identity.ts';
import { errorMessage, type SyncLogger, silentLogger } from './log.ts';
import { countActions, reconcile as reconcileEngine } from './reconcile/reconcile.ts';
import type { AppScope, AppState, ReconcileOptions, ReconcileResult, SyncResult } from './reconcile/types.ts';
import { redactCredentialsIn } from './source/errors.ts';
import { renderFailure } from './source/render/render-error.ts';
import type { LoadedSource as LoadedRevision, LoadSourceOptions, SourceSettings } from './source/source.ts';

export type { SourceSettings };
/** What the engine needs of a loaded source (`loadSource` returns more, for its log line). */
export type LoadedSource = Pick<LoadedRevision, 'revision' | 'objects' | 'renderInputs'>;

/** Fetches the app's manifests. The shells bind `loadSource` from `source/source.ts` with their options. */
export type SourceLoader = (settings: SourceSettings, context?: SourceContext) => Promise<LoadedSource>;
/**
 * What a run offers its source loader: the live cluster's capabilities, for Helm charts, and the
 * app and cluster whose cache folder the load uses (one app's caches are never another's).
 */
export type SourceContext = Pick<LoadSourceOptions, 'capabilities' | 'partition'>;
/** Opens a Kubernetes client for a target. The shells bind `connectCluster` from `cluster/target.ts`. */
export type ClusterConnector = (target: ClusterTarget) => Promise<KubeClient>;
export type Reconciler = typeof reconcileEngine;
export type { ClusterTarget };

export interface SyncInput {
  /** App name: the ownership label value and the history key. */
  app: string;
  source: SourceSettings;
  target: ClusterTarget;
  /** Namespace for namespaced objects that name none. @default 'default' */
  namespace?: string;
  /** @default false */
  prune?: boolean;
  /** @default false */
  selfHeal?: boolean;
  /** @default false */
  allowEmpty?: boolean;
  /** Compute and report, write nothing to the cluster or the state. @default false */
  dryRun?: boolean;
  /** Take over existing objects without this app's label. @default false */
  adopt?: boolean;
  /** What the app may touch. @default unrestricted */
  scope?: AppScope;
  /** Most objects one run may prune. @default half of what the app owned, when more than 5 */
  pruneLimit?: number;
  /**
   * Create `namespace` before the first write when it is missing, labelled as the app's (never one
   * that exists without the label). Pruned only once the setting is off and it holds nothing that
   * must stay. @default false
   */
  createNamespace?: boolean;
  /** Accept a source that differs from the stored one, moving the app to it. @default false */
  moveSource?: boolean;
  /** What started the run, stored in the record: `schedule`, `cli`, ... @default 'manual' */
  trigger?: string;
  /** Passed to the engine. */
  concurrency?: number;
  healthTimeoutMs?: number;
}

export interface SyncDeps {
  store: HistoryStore;
  loadSource: SourceLoader;
  connect: ClusterConnector;
  /** @default the engine in `reconcile/reconcile.ts` */
  reconcile?: Reconciler;
  /** Milliseconds since the epoch. @default Date.now */
  now?: () => number;
  /** @default a logger that drops everything */
  logger?: SyncLogger;
  /**
   * How long the lease lives without renewal; a killed run blocks the app for at most this long.
   * A run writes nothing after its last renewal + this − a margin (history/lease.ts). @default 60_000
   */
  leaseTtlMs?: number;
  /** Identifies this run. @default a time-ordered random id */
  runId?: string;
  /** Told the run's record as soon as it exists, so a shell's last resort (`last-resort.ts`) can finish it `Failed`. */
  onRunStarted?: (record: SyncRecord) => void;
  /**
   * Past it no request to the cluster starts and the run ends `Failed` ("stopped at its deadline …"),
   * leaving time to record it (the Lambda passes its remaining time less a margin). @default none
   */
  deadline?: RunDeadline;
}

/** What a sync did, for the shells to print, log and measure. */
export interface SyncRun {
  /** The record as stored (outcome `Skipped` when another run held the lease). */
  record: SyncRecord;
  /** The record in the CLI's JSON contract shape; `Skipped` is reported as `Failed` with an error. */
  result: SyncResult;
  /** Earlier runs this run found dead and marked `Interrupted`. */
  interrupted: SyncRecord[];
  /** The revision the app was at before this run (from the stored state). */
  previousRevision?: string;
}

/** The history store failed while finishing a run; the result is in the log line before this error. */
export class HistoryWriteError extends Error {
  override name = 'HistoryWriteError';
}

const DEFAULT_LEASE_TTL_MS = 60_000;

/**
 * Runs one sync of `input.app`. Throws only when the history store fails (lease, start, or finish:
 * `HistoryWriteError`); every other failure is a `Failed` record in the result.
 */
export async function runSync(input: SyncInput, deps: SyncDeps): Promise<SyncRun> {
  const now = deps.now ?? Date.now;
  const logger = deps.logger ?? silentLogger;
  const store = deps.store;
  const leaseTtlMs = deps.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
  const started = now();
  const runId = deps.runId ?? newRunId(started);
  const dryRun = input.dryRun ?? false;
  const base: SyncRecord = {
    runId,
    app: input.app,
    revision: '',
    outcome: 'Running',
    dryRun,
    trigger: input.trigger ?? 'manual',
    cluster: describeTarget(input.target),
    startedAt: new Date(started).toISOString(),
    finishedAt: '',
    durationMs: 0,
    resources: [],
    counts: {},
  };
  deps.onRunStarted?.(base);

  // Operator controls (driftless suspend / pin), read first: a suspended app's sync is skipped
  // before the cluster is reached or anything is fetched or written; a pinned app syncs its commit.
  const controls = await readControls(store, input.app);
  if (controls?.suspended && !dryRun) {
    const skipped = finish(base, now(), {
      outcome: 'Skipped',
      error: suspendedMessage(input.app, controls.suspended),
    });
    logger.info('sync skipped: app suspended', { app: input.app, runId });
    await record(store, 'startRun', skipped, logger);
    return { record: skipped, result: toResult(skipped), interrupted: [] };
  }
  const pinned = controls?.pinned?.revision;
  if (pinned) base.pinned = pinned;
  const run = pinned ? { ...input, source: { ...input.source, ref: pinned } } : input;

  // The cluster's identity keys the lease and the state, so the cluster is reached first.
  let kube: KubeClient;
  let key: AppKey;
  try {
    kube = withDeadline(await deps.connect(input.target), deps.deadline);
    key = { app: input.app, cluster: await clusterIdentity(kube) };
  } catch (error) {
    const message = `connect to cluster: ${redactCredentialsIn(errorMessage(error))}`;
    logger.error('sync failed', { app: input.app, step: 'connect to cluster', error: message });
    const failed = finish(base, now(), { outcome: 'Failed', error: message });
    await record(store, 'finishRun', failed, logger);
    return { record: failed, result: toResult(failed), interrupted: [] };
  }
  base.clusterId = key.cluster;

  let lease: RunLease | undefined;
  try {
    lease = dryRun ? undefined : await takeLease(store, key, runId, { ttlMs: leaseTtlMs, now, logger });
  } catch (error) {
    throw new HistoryWriteError(
      `history store failed while taking the lease of app "${input.app}" (nothing was synced): ${errorMessage(error)}`,
      { cause: error },
    );
  }
  if (!dryRun && !lease) {
    const skipped = finish(base, now(), {
      outcome: 'Skipped',
      error: `another sync of app "${input.app}" holds the lease; skipped`,
    });
    logger.warn('sync skipped: lease held by another run', { app: input.app, runId });
    await record(store, 'startRun', skipped, logger);
    return { record: skipped, result: toResult(skipped), interrupted: [] };
  }

  // Losing the lease, or reaching its deadline (lease.ts), stops this run's writes.
  try {
    // A plan takes no lease, so a sync beside it would mark its Running record Interrupted:
    // plans are recorded once, when they finish.
    if (!dryRun) await record(store, 'startRun', base, logger);
    const interrupted = dryRun ? [] : await store.markInterrupted(key, runId, base.startedAt);
    for (const dead of interrupted) {
      logger.warn('earlier run marked interrupted', { app: input.app, runId: dead.runId });
    }
    const { record: finished, previousRevision } = await syncSteps(
      run,
      deps,
      { base, kube: lease ? guardWrites(kube, lease) : kube, key },
      now,
      logger,
      lease?.signal,
    );
    await record(store, 'finishRun', finished, logger);
    return { record: finished, result: toResult(finished), interrupted, previousRevision };
  } finally {
    await lease?.release();
  }
}

/** Source -> cluster -> state -> reconcile -> state. Never throws: failures become a `Failed` record. */
async function syncSteps(
  input: SyncInput,
  deps: SyncDeps,
  { base, kube, key }: { base: SyncRecord; kube: KubeClient; key: AppKey },
  now: () => number,
  logger: SyncLogger,
  signal: AbortSignal | undefined,
): Promise<{ record: SyncRecord; previousRevision?: string }> {
  let revision = '';
  let previousRevision: string | undefined;
  let step = 'fetch source';
  try {
    logger.info('fetching source', {
      app: input.app,
      repo: redactCredentialsIn(input.source.repo),
      ref: input.source.ref,
    });
    // A Helm chart renders for the live cluster (its version and API versions).
    const source = await deps.loadSource(input.source, {
      capabilities: () => clusterCapabilities(kube),
      partition: { app: key.app, cluster: key.cluster },
    });
    revision = source.revision;

    step = 'read state';
    const stored = await deps.store.getState(key);
    const state: AppState = stored?.state ?? { inventory: [] };
    previousRevision = state.revision;

    step = 'check source';
    const from = appSource(input.source);
    if (state.source && !sameSource(state.source, from) && !input.moveSource) {
      throw new Error(
        `app "${input.app}" on this cluster was synced from ${describeSource(state.source)}, and this run is from ${describeSource(from)}: refused before any write (two sources under one app name would prune each other's objects). Use another app name, or move the app to the new source with --move-source (driftless sync --config FILE --app ${input.app} --move-source for a deployed app)`,
      );
    }

    step = 'reconcile';
    const options: ReconcileOptions = {
      app: input.app,
      revision,
      renderInputs: source.renderInputs,
      defaultNamespace: input.namespace ?? 'default',
      prune: input.prune ?? false,
      selfHeal: input.selfHeal ?? false,
      allowEmpty: input.allowEmpty ?? false,
      dryRun: input.dryRun ?? false,
      adopt: input.adopt ?? false,
      scope: input.scope,
      pruneLimit: input.pruneLimit,
      createNamespace: input.createNamespace ?? false,
      pruneHelmCrds: input.source.render?.helm?.pruneCrds ?? false,
      // Labelled objects the inventory does not list are the app's only if the stored source says so.
      pruneUnlisted: state.source !== undefined && sameSource(state.source, from),
      concurrency: input.concurrency,
      healthTimeoutMs: input.healthTimeoutMs,
    };
    logger.info('reconciling', { app: input.app, revision, server: kube.server, dryRun: options.dryRun });
    let version = stored?.version ?? 0;
    const result: ReconcileResult = await (deps.reconcile ?? reconcileEngine)({
      kube,
      desired: source.objects,
      options,
      state,
      logger,
      signal,
      // Write-ahead: the objects this run may create are tracked before the first write.
      beforeWrite: async (intended) => {
        version = await deps.store.putState(key, { ...intended, source: from }, version);
      },
    });

    let stateError: string | undefined;
    if (!options.dryRun) {
      step = 'store state';
      try {
        await deps.store.putState(key, { ...result.state, source: from }, version);
      } catch (error) {
        // The cluster was changed but the inventory is not stored: keep what the run did in the
        // record and say so; the next run repairs the state from the labelled objects it lists.
        stateError =
          error instanceof StateConflictError
            ? `state not stored (another writer changed it): ${error.message}`
            : `state not stored (history store failed): ${errorMessage(error)}`;
      }
    }
    const finished = finish(base, now(), {
      revision,
      outcome: stateError ? 'Failed' : result.outcome,
      resources: result.resources,
      health: result.health,
      error: joinErrors(result.error, stateError),
    });
    return { record: finished, previousRevision };
  } catch (error) {
    // A source error names the commit whose manifests were refused, once it was resolved.
    revision ||= (error as { revision?: string }).revision ?? '';
    // The commit was fetched; what it holds did not render (Kustomize or Helm).
    if (step === 'fetch source' && renderFailure(error)) step = 'render';
    const message = `${step}: ${redactCredentialsIn(errorMessage(error))}`;
    logger.error('sync failed', { app: input.app, step, error: message });
    return { record: finish(base, now(), { revision, outcome: 'Failed', error: message }), previousRevision };
  }
}

function finish(base: SyncRecord, finishedAt: number, fields: Partial<SyncRecord>): SyncRecord {
  const resources = fields.resources ?? base.resources;
  const done: SyncRecord = {
    ...base,
    ...fields,
    resources,
    counts: countActions(resources),
    finishedAt: new Date(finishedAt).toISOString(),
    durationMs: Math.max(0, finishedAt - Date.parse(base.startedAt)),
  };
  if (done.error === undefined) delete done.error;
  // Whatever the objects said before the run failed, the app's health is not known.
  if (done.outcome === 'Failed') done.health = 'Unknown';
  if (done.health === undefined) delete done.health;
  return done;
}

/** Writes a record; when the store fails, logs the full record as one line and throws. */
async function record(
  store: HistoryStore,
  method: 'startRun' | 'finishRun',
  syncRecord: SyncRecord,
  logger: SyncLogger,
): Promise<void> {
  try {
    await store[method](syncRecord);
  } catch (error) {
    // One CloudWatch event holds 256 KB: every object and action, without the diffs.
    logger.error('sync result not recorded: history store failed', {
      error: errorMessage(error),
      record: {
        ...syncRecord,
        resources: syncRecord.resources.map(({ diff: _diff, ...resource }) => resource),
      },
    });
    throw new HistoryWriteError(
      `history store failed while recording run ${syncRecord.runId} of app "${syncRecord.app}" (${syncRecord.outcome}): ${errorMessage(error)}`,
      { cause: error },
    );
  }
}

/**
 * The record in the CLI JSON contract (`outcome` is Synced | OutOfSync | Failed). A run that is
 * not finished (Running, Interrupted, Skipped) did not sync anything: reported as `Failed`, with
 * an error that names what happened.
 */
export function toResult(syncRecord: SyncRecord): SyncResult {
  const {
    runId: _runId,
    trigger: _trigger,
    cluster: _cluster,
    clusterId: _clusterId,
    counts: _counts,
    ...rest
  } = syncRecord;
  const outcome = syncRecord.outcome;
  if (outcome === 'Synced' || outcome === 'OutOfSync' || outcome === 'Failed') return { ...rest, outcome };
  return {
    ...rest,
    outcome: 'Failed',
    health: 'Unknown',
    error: rest.error ?? `run ${outcome.toLowerCase()}`,
  };
}

/** For the record's `cluster` field: the EKS name or the kubeconfig context. */
export function describeTarget(target: ClusterTarget): string {
  if (target.type === 'eks') return `${target.name} (${target.region})`;
  return target.context ?? contextName(target.kubeconfig) ?? 'current-context';
}

function joinErrors(...errors: (string | undefined)[]): string | undefined {
  const present = errors.filter((error): error is string => Boolean(error));
  return present.length ? present.join('; ') : undefined;
}

// The CLI renders counts with the same helper.
export { countActions };

/** Sorts by start time, then random: unique across processes. */
function newRunId(startedMs: number): string {
  return `${startedMs.toString(36).padStart(9, '0')}-${randomBytes(5).toString('hex')}`;
}
