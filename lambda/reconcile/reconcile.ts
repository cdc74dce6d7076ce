/**
 * One reconcile of one app: validate the desired set, then plan and apply it stage by stage,
 * prune what left Git, and record health. Composes the verbs of this folder (like Flux's ssa
 * `ResourceManager`): validate.ts, live.ts, sync-object.ts (plan.ts + apply.ts), crds.ts,
 * prune.ts, health.ts. Per-object failures never throw; a run that cannot proceed (invalid
 * manifests, API server unreachable) returns outcome `Failed` with `error`.
 */
import { createDiscovery, type ResourceInfo } from '../cluster/discovery.ts';
import type { KubeClient } from '../cluster/kube-client.ts';
import { supportsStrictFieldValidation } from '../cluster/server-version.ts';
import { withAppNamespace } from './create-namespace.ts';
import { type HealthTarget, waitForHealth, worstHealth } from './health.ts';
import { listMissing, listOwned } from './live.ts';
import { once } from './once.ts';
import { pruneOrphans, refuseEmptySet } from './prune.ts';
import { describeRef, refKey, toRef } from './refs.ts';
import type { SyncContext } from './sync-object.ts';
import { syncSet } from './sync-set.ts';
import type {
  Action,
  AppState,
  DesiredObject,
  InventoryEntry,
  ManifestOrigin,
  ObjectRef,
  Outcome,
  ReconcileOptions,
  ReconcileResult,
  ResourceResult,
} from './types.ts';
import { unlistedObjects } from './unlisted.ts';
import { validateDesired } from './validate.ts';

/** Structured logger (Powertools' Logger fits). Never given object contents or diffs. */
export interface ReconcileLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  debug?(msg: string, fields?: Record<string, unknown>): void;
}

export interface ReconcileInput {
  kube: KubeClient;
  /** Parsed manifests with their origin, for error messages. */
  desired: DesiredObject[];
  options: ReconcileOptions;
  /** What the previous run left: last synced revision and the inventory. */
  state: AppState;
  logger?: ReconcileLogger;
  /**
   * Called once before the first write with the inventory this run may create (the previous one
   * plus every desired object not in it). Storing it means a run killed half-way, or a write whose
   * answer was lost, leaves no labelled object untracked: prune still checks the label.
   */
  beforeWrite?: (intended: AppState) => Promise<void>;
  /** Aborted when the run must stop writing (its lease was lost): no apply or delete starts after. */
  signal?: AbortSignal;
}

/** Makes the cluster match `desired` (see DESIGN.md "Semantics") and returns the change set and new state. */
export async function reconcile(input: ReconcileInput): Promise<ReconcileResult> {
  const { kube, desired, options, state, logger } = input;
  const inventory = new Map<string, InventoryEntry>(state.inventory.map((e) => [refKey(e), e]));
  /** Objects a write was sent for: tracked even when the answer never came. */
  const attempted = new Map<string, InventoryEntry>();
  const resources: ResourceResult[] = [];
  const stateNow = (revision: string | undefined, forget: Set<string> = new Set()): AppState => {
    if (options.dryRun) return state;
    // Inventory order stays stable (prune reports in it); unverified writes come last.
    const entries = new Map(inventory);
    for (const [key, entry] of attempted) if (!entries.has(key)) entries.set(key, entry);
    // The render inputs go with the revision they were synced at.
    const renderInputs = revision === options.revision ? options.renderInputs : state.renderInputs;
    return {
      revision,
      ...(renderInputs !== undefined && revision !== undefined ? { renderInputs } : {}),
      inventory: [...entries.entries()].filter(([k]) => !forget.has(k)).map(([, e]) => e),
    };
  };
  /** The validated set, once known: every object of it appears in the record, reached or not. */
  let planned: { key: string; ref: ObjectRef }[] = [];
  const failRun = (error: string): ReconcileResult => {
    logger?.warn('reconcile failed', { app: options.app, revision: options.revision, error });
    resources.push(...unreached(planned, resources, attempted));
    return {
      outcome: 'Failed',
      resources,
      health: 'Unknown',
      state: stateNow(
        nextRevision('Failed', resources, state.revision, options.revision, attempted.size > 0),
      ),
      error,
    };
  };

  try {
    const discovery = createDiscovery(kube);
    const validation = await validateDesired(
      await withAppNamespace(kube, discovery, desired, options),
      discovery,
      options,
    );
    if (!validation.ok) {
      return failRun(`invalid manifests, nothing was applied:\n  ${validation.errors.join('\n  ')}`);
    }
    const objects = validation.objects;
    planned = objects;
    const desiredKeys = new Set(objects.map((o) => o.key));
    const orphans = state.inventory.filter((e) => !desiredKeys.has(refKey(e)));
    // The namespace of createNamespace is not what Git holds: an empty render is still empty.
    const emptySet = refuseEmptySet(orphans, desired.length, options, logger);
    if (emptySet?.refused) {
      resources.push(...emptySet.results);
      return failRun(emptySet.refused);
    }

    const kinds: ResourceInfo[] = objects.filter((o) => !o.awaitsCrd).map((o) => o.info);
    for (const orphan of orphans) {
      const info = await discovery.resolve(orphan.apiVersion, orphan.kind);
      if (info) kinds.push(info);
    }
    // Nothing known about the app on this cluster (a new or lost history store): look for its
    // labelled objects in every kind, so none is silently ignored.
    if (state.revision === undefined && state.inventory.length === 0) {
      const unavailable = (apiVersion: string, error: Error) =>
        logger?.warn('not searched for labelled objects: API unavailable', {
          apiVersion,
          error: error.message,
        });
      kinds.push(...(await discovery.listable(unavailable)));
    }
    const live = await listOwned(kube, kinds, options.app);
    await listMissing(
      kube,
      live,
      objects.filter((o) => !o.awaitsCrd),
    );
    const unlisted = unlistedObjects(live, desiredKeys, inventory);
    const sameRevision = state.revision !== undefined && state.revision === options.revision;
    const ctx: SyncContext = {
      kube,
      options,
      sameRevision,
      sameRender:
        sameRevision && options.renderInputs !== undefined && state.renderInputs === options.renderInputs,
      live,
      inventory,
      pendingNamespaces: new Set(),
      fieldValidation: once(async () => ((await supportsStrictFieldValidation(kube)) ? 'Strict' : undefined)),
      onWrite: (object) => {
        input.signal?.throwIfAborted();
        attempted.set(object.key, unverifiedEntry(object));
      },
      signal: input.signal,
    };
    const healthTargets: { result: ResourceResult; target: HealthTarget }[] = [];
    const desiredUids = new Set<string>();

    const set = await syncSet(ctx, objects, {
      discovery,
      // Write-ahead: the objects this run may create are tracked before the first write.
      beforeFirstWrite: async () => {
        const fresh = objects.filter((o) => !inventory.has(o.key));
        if (options.dryRun || fresh.length === 0 || !input.beforeWrite) return;
        await input.beforeWrite({
          ...state,
          inventory: [...state.inventory, ...fresh.map((o) => unverifiedEntry(o))],
        });
      },
    });
    // Reported in apply order, as the stages ran.
    for (const object of [...objects].sort((a, b) => a.stage - b.stage)) {
      const synced = set.synced.get(object.key);
      if (!synced) continue;
      const { result, entry, live: after, row } = synced;
      if (object.note) result.message = [object.note, result.message].filter(Boolean).join('; ');
      resources.push(result);
      if (entry) inventory.set(object.key, entry);
      if (after?.metadata.uid) desiredUids.add(after.metadata.uid as string);
      if (after && result.action !== 'failed')
        healthTargets.push({ result, target: { key: object.key, info: object.info, object: after } });
      if (result.action === 'failed')
        logger?.warn('object failed', { object: describeRef(result), decision: row, detail: result.message });
      else
        logger?.debug?.('object reconciled', {
          object: describeRef(result),
          action: result.action,
          decision: row,
        });
    }

    input.signal?.throwIfAborted();
    const failed = resources.filter((r) => r.action === 'failed').length;
    // Labelled objects the inventory did not list join it: reported now, pruned by a run whose
    // stored source confirms they are this app's.
    for (const entry of unlisted) inventory.set(refKey(entry), entry);
    const pruned = await pruneOrphans(
      {
        kube,
        discovery,
        options,
        live,
        desiredUids,
        desiredKeys,
        logger,
        ownedBefore: state.inventory.length,
        signal: input.signal,
        blockedReason:
          set.refused !== undefined
            ? 'not pruned: the run applied nothing (objects failed before the first write)'
            : failed > 0
              ? `not pruned: ${failed} object(s) failed to apply in this run`
              : undefined,
      },
      orphans,
      unlisted,
    );
    resources.push(...pruned.results);

    const healths = await waitForHealth(
      kube,
      healthTargets.map((h) => h.target),
      { app: options.app, timeoutMs: options.dryRun ? 0 : (options.healthTimeoutMs ?? 0) },
    );
    healthTargets.forEach((h, i) => {
      h.result.health = healths[i];
    });

    const error = joinErrors(set.refused, set.stopped, pruned.refused);
    const outcome = error ? 'Failed' : outcomeOf(resources, options.dryRun ?? false);
    const result: ReconcileResult = {
      outcome,
      resources,
      // A failed run's objects are not what Git asks for: their health says nothing of the app's.
      health: outcome === 'Failed' ? 'Unknown' : worstHealth(healths),
      state: stateNow(
        nextRevision(outcome, resources, state.revision, options.revision, attempted.size > 0),
        pruned.forget,
      ),
      ...(error ? { error } : {}),
    };
    logger?.info('reconcile finished', {
      app: options.app,
      revision: options.revision,
      outcome,
      health: result.health,
      counts: countActions(resources),
    });
    return result;
  } catch (error) {
    if (error instanceof TypeError || error instanceof ReferenceError || error instanceof RangeError)
      throw error;
    return failRun(error instanceof Error ? error.message : String(error));
  }
}

/**
 * The revision the cluster is synced to after this run. A failed run that wrote nothing leaves
 * the previous one; a failed run that wrote something leaves none, so the next run plans every
 * object again instead of trusting resourceVersions recorded for a half-applied revision.
 */
function nextRevision(
  outcome: Outcome,
  resources: ResourceResult[],
  previous: string | undefined,
  current: string,
  /** A write was sent (its answer may be lost: a run that crashed mid-way reports no results). */
  sentWrites: boolean,
): string | undefined {
  if (outcome !== 'Failed') return current;
  const wrote =
    sentWrites ||
    resources.some((r) => r.action === 'created' || r.action === 'configured' || r.action === 'pruned');
  return wrote ? undefined : previous;
}

function outcomeOf(resources: ResourceResult[], dryRun: boolean): Outcome {
  if (resources.some((r) => r.action === 'failed')) return 'Failed';
  const pending = dryRun
    ? ['created', 'configured', 'pruned', 'drifted', 'orphaned']
    : ['drifted', 'orphaned'];
  return resources.some((r) => pending.includes(r.action)) ? 'OutOfSync' : 'Synced';
}

function joinErrors(...errors: (string | undefined)[]): string | undefined {
  const present = errors.filter((e): e is string => Boolean(e));
  return present.length > 0 ? present.join('\n') : undefined;
}

/**
 * An inventory entry for an object driftless may have written but has not verified: the empty
 * digest never matches, so the next run plans it instead of trusting it.
 */
function unverifiedEntry(object: { ref: ObjectRef; stage: number; origin: ManifestOrigin }): InventoryEntry {
  return {
    ...toRef(object.ref),
    stage: object.stage,
    digest: '',
    ...(object.origin.helmCrd ? { helmCrd: true } : {}),
  };
}

/** Objects per action, e.g. `{ created: 2, unchanged: 5 }`. */
export function countActions(resources: readonly { action: Action }[]): Partial<Record<Action, number>> {
  const counts: Partial<Record<Action, number>> = {};
  for (const { action } of resources) counts[action] = (counts[action] ?? 0) + 1;
  return counts;
}

/**
 * The objects of the set a failed run has no result for (it stopped on a dead server, at its
 * deadline, or on an error nothing caught): `skipped` when no write was sent for them, `failed`
 * when one was and its answer never came (it may have been written). The cause is said once, in
 * the run's error, not once per object.
 */
function unreached(
  planned: { key: string; ref: ObjectRef }[],
  resources: ResourceResult[],
  attempted: Map<string, InventoryEntry>,
): ResourceResult[] {
  const reported = new Set(resources.map((r) => refKey(r)));
  return planned
    .filter((o) => !reported.has(o.key))
    .map((o) =>
      attempted.has(o.key)
        ? {
            ...toRef(o.ref),
            action: 'failed' as const,
            message: 'sent, but the run stopped before the answer (it may be written); see the run error',
          }
        : {
            ...toRef(o.ref),
            action: 'skipped' as const,
            message: 'not reached: the run stopped before it; see the run error',
          },
    );
}
