/**
 * One reconcile of one app: validate the desired set, then plan and apply it stage by stage,
 * prune what left Git, and record health. Composes the verbs of this folder (like Flux's ssa
 * `ResourceManager`): validate.ts, live.ts, sync-object.ts (plan.ts + apply.ts), crds.ts,
 * prune.ts, health.ts. Per-object failures never throw; a run that cannot proceed (invalid
 * manifests, API server unreachable) returns outcome `Failed` with `error`.
 */
import pLimit from 'p-limit';
import { createDiscovery, type ResourceInfo } from '../cluster/discovery.ts';
import type { KubeClient } from '../cluster/kube-client.ts';
import { isCrd, kindsDefinedBy, waitEstablished } from './crds.ts';
import { type HealthTarget, waitForHealth, worstHealth } from './health.ts';
import { listMissing, listOwned } from './live.ts';
import { pruneOrphans } from './prune.ts';
import { describeRef, refKey, toRef } from './refs.ts';
import { DEFINITIONS_STAGE, isNamespace } from './stages.ts';
import { type SyncContext, syncObject } from './sync-object.ts';
import type {
  Action,
  AppState,
  DesiredObject,
  InventoryEntry,
  ObjectRef,
  Outcome,
  ReconcileOptions,
  ReconcileResult,
  ResourceResult,
} from './types.ts';
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

/** How long a CRD applied in this run may take to become Established. */
const CRD_ESTABLISH_TIMEOUT_MS = 30_000;

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
    return { revision, inventory: [...entries.entries()].filter(([k]) => !forget.has(k)).map(([, e]) => e) };
  };
  const failRun = (error: string): ReconcileResult => {
    logger?.warn('reconcile failed', { app: options.app, revision: options.revision, error });
    return {
      outcome: 'Failed',
      resources,
      health: 'Unknown',
      state: stateNow(nextRevision('Failed', resources, state.revision, options.revision)),
      error,
    };
  };

  try {
    const discovery = createDiscovery(kube);
    const validation = await validateDesired(desired, discovery, options);
    if (!validation.ok) {
      return failRun(`invalid manifests, nothing was applied:\n  ${validation.errors.join('\n  ')}`);
    }
    const objects = validation.objects;
    const desiredKeys = new Set(objects.map((o) => o.key));
    const orphans = state.inventory.filter((e) => !desiredKeys.has(refKey(e)));
    if (options.prune && objects.length === 0 && orphans.length > 0 && !options.allowEmpty) {
      for (const o of orphans)
        resources.push({ ...toRef(o), action: 'orphaned', message: 'not pruned: the desired set is empty' });
      return failRun(
        `refusing to prune all ${orphans.length} objects of app "${options.app}": the desired set is empty (set allowEmpty to allow it)`,
      );
    }

    const kinds: ResourceInfo[] = objects.filter((o) => !o.awaitsCrd).map((o) => o.info);
    for (const orphan of orphans) {
      const info = await discovery.resolve(orphan.apiVersion, orphan.kind);
      if (info) kinds.push(info);
    }
    const live = await listOwned(kube, kinds, options.app);
    await listMissing(
      kube,
      live,
      objects.filter((o) => !o.awaitsCrd),
    );
    const sameRevision = state.revision !== undefined && state.revision === options.revision;
    const fresh = objects.filter((o) => !inventory.has(o.key));
    if (!options.dryRun && fresh.length > 0 && input.beforeWrite) {
      await input.beforeWrite({
        revision: state.revision,
        inventory: [...state.inventory, ...fresh.map((o) => unverifiedEntry(o))],
      });
    }
    const ctx: SyncContext = {
      kube,
      options,
      sameRevision,
      live,
      inventory,
      pendingNamespaces: new Set(),
      onWrite: (object) => {
        input.signal?.throwIfAborted();
        attempted.set(object.key, unverifiedEntry(object));
      },
    };
    const limit = pLimit(options.concurrency ?? 8);
    const healthTargets: { result: ResourceResult; target: HealthTarget }[] = [];
    const desiredUids = new Set<string>();

    for (const stage of [...new Set(objects.map((o) => o.stage))].sort((a, b) => a - b)) {
      const batch = objects.filter((o) => o.stage === stage);
      const settled = await Promise.allSettled(batch.map((o) => limit(() => syncObject(ctx, o))));
      const crash = settled.find((s) => s.status === 'rejected');
      settled.forEach((s, i) => {
        const object = batch[i];
        if (s.status !== 'fulfilled' || !object) return;
        const { result, entry, live: after } = s.value;
        if (object.note) result.message = [object.note, result.message].filter(Boolean).join('; ');
        resources.push(result);
        if (entry) inventory.set(object.key, entry);
        if (after?.metadata.uid) desiredUids.add(after.metadata.uid as string);
        if (after && result.action !== 'failed')
          healthTargets.push({ result, target: { key: object.key, info: object.info, object: after } });
        if (result.action === 'failed')
          logger?.warn('object failed', { object: describeRef(result), detail: result.message });
        else logger?.debug?.('object reconciled', { object: describeRef(result), action: result.action });
      });
      if (crash) throw crash.reason;
      if (stage !== DEFINITIONS_STAGE) continue;
      if (options.dryRun) {
        for (const r of resources)
          if (isNamespace(r) && r.action === 'created') ctx.pendingNamespaces.add(r.name);
        continue;
      }
      // Custom resources of CRDs applied just now need the CRD Established and fresh discovery.
      // All are waited for at once: N stuck CRDs cost one timeout, not N.
      await Promise.all(
        batch.map(async (object) => {
          const result = resources.find((r) => refKey(r) === object.key);
          if (!isCrd(object.ref) || !result || !['created', 'configured'].includes(result.action)) return;
          if (!(await waitEstablished(kube, object.ref.name, { timeoutMs: CRD_ESTABLISH_TIMEOUT_MS }))) {
            result.message = [result.message, `not Established within ${CRD_ESTABLISH_TIMEOUT_MS / 1000} s`]
              .filter(Boolean)
              .join('; ');
          }
          for (const kind of kindsDefinedBy(object.body)) discovery.invalidate(kind.apiVersion);
        }),
      );
    }

    input.signal?.throwIfAborted();
    const failed = resources.filter((r) => r.action === 'failed').length;
    const pruned = await pruneOrphans(
      {
        kube,
        discovery,
        options,
        live,
        desiredUids,
        blockedReason: failed > 0 ? `not pruned: ${failed} object(s) failed to apply in this run` : undefined,
      },
      orphans,
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

    const outcome = outcomeOf(resources, options.dryRun ?? false);
    const result: ReconcileResult = {
      outcome,
      resources,
      health: worstHealth(healths),
      state: stateNow(nextRevision(outcome, resources, state.revision, options.revision), pruned.forget),
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
): string | undefined {
  if (outcome !== 'Failed') return current;
  const wrote = resources.some(
    (r) => r.action === 'created' || r.action === 'configured' || r.action === 'pruned',
  );
  return wrote ? undefined : previous;
}

function outcomeOf(resources: ResourceResult[], dryRun: boolean): Outcome {
  if (resources.some((r) => r.action === 'failed')) return 'Failed';
  const pending = dryRun
    ? ['created', 'configured', 'pruned', 'drifted', 'orphaned']
    : ['drifted', 'orphaned'];
  return resources.some((r) => pending.includes(r.action)) ? 'OutOfSync' : 'Synced';
}

/**
 * An inventory entry for an object driftless may have written but has not verified: the empty
 * digest never matches, so the next run plans it instead of trusting it.
 */
function unverifiedEntry(object: { ref: ObjectRef; stage: number }): InventoryEntry {
  return { ...toRef(object.ref), stage: object.stage, digest: '' };
}

/** Objects per action, e.g. `{ created: 2, unchanged: 5 }`. */
export function countActions(resources: readonly { action: Action }[]): Partial<Record<Action, number>> {
  const counts: Partial<Record<Action, number>> = {};
  for (const { action } of resources) counts[action] = (counts[action] ?? 0) + 1;
  return counts;
}
