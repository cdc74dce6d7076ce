/**
 * Prune: delete what left Git. Every orphan is judged by the prune decision table
 * (prune-decisions.ts) before anything is deleted: only objects in the app's inventory AND still
 * carrying the app's label, inside the app's scope, are candidates; annotations keep some
 * (`driftless.dev/prune: disabled`, `helm.sh/resource-policy: keep`); a Namespace or CRD is kept
 * while it holds what must stay (prune-guards.ts); more candidates than the deletion cap refuse
 * the whole prune. Namespaces and CRDs are judged last, knowing what else this run prunes.
 * Candidates are then deleted later stages first, Namespaces last, each with a uid precondition
 * so the object deleted is the one that was checked; none once the run must stop writing (its
 * lease), and then the prune fails with the reason.
 */
import pLimit from 'p-limit';
import { isConnectionBroken, isNotFound, isSuccess } from '../cluster/api-errors.ts';
import { objectPath, type ResourceInfo } from '../cluster/discovery.ts';
import type { KubeResponse } from '../cluster/kube-client.ts';
import { apiErrorMessage } from './apply.ts';
import { isCrd } from './crds.ts';
import {
  capRefusal,
  decidePrune,
  type PruneAction,
  type PruneFacts,
  type PruneRow,
} from './prune-decisions.ts';
import type { ContentsCheck } from './prune-guards.ts';
import { type JudgeContext, type Judged, judge, startingFacts } from './prune-judge.ts';
import { describeRef, refKey, toRef } from './refs.ts';
import { isNamespace, pruneGroups } from './stages.ts';
import { STOPPED, stopReason, unlessStopped } from './stop.ts';
import type { Action, InventoryEntry, ReconcileOptions, ResourceResult } from './types.ts';

/** Objects an app owned before a run above which the default deletion cap (half) applies. */
const CAP_FREE_OBJECTS = 5;

/** Where each object's decision is told (the reconcile logger fits). */
export interface PruneLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export interface PruneContext extends JudgeContext {
  /** `refKey`s of the desired set: a Namespace or CRD holding one of them is not deleted. */
  desiredKeys?: Set<string>;
  /** How many objects the app owned before this run (the stored inventory), for the deletion cap. */
  ownedBefore: number;
  logger?: PruneLogger;
  /** Aborted when the run must stop writing (lease lost or past its deadline): no DELETE starts after. */
  signal?: AbortSignal;
}

export interface PruneOutcome {
  results: ResourceResult[];
  /** Inventory keys to forget: deleted, already gone, kept by annotation, or no longer the app's. */
  forget: Set<string>;
  /** Set when the prune as a whole was refused (deletion cap, empty set): the run fails with this error. */
  refused?: string;
}

/**
 * The refusal of a prune whose desired set is empty (unless `allowEmpty`), or `undefined` when the
 * set is not empty: every orphan reported by the table's `empty-set` row, and the run's error.
 */
export function refuseEmptySet(
  orphans: InventoryEntry[],
  desiredCount: number,
  options: ReconcileOptions,
  logger?: PruneLogger,
): PruneOutcome | undefined {
  if (!options.prune || desiredCount > 0 || orphans.length === 0 || options.allowEmpty) return undefined;
  const facts: PruneFacts = { ...startingFacts(options), emptySet: true };
  const row = decidePrune(facts);
  const results = orphans.flatMap(
    (entry) => report({ entry, row, facts, message: { ref: toRef(entry), app: options.app } }, logger) ?? [],
  );
  return {
    results,
    forget: new Set(),
    refused: `refusing to prune all ${orphans.length} objects of app "${options.app}": the desired set is empty (set allowEmpty to allow it)`,
  };
}

/**
 * Judges and prunes `orphans` (inventory entries that left Git). `unlisted` are labelled live
 * objects the inventory did not list: reported, and pruned only with `options.pruneUnlisted`.
 */
export async function pruneOrphans(
  ctx: PruneContext,
  orphans: InventoryEntry[],
  unlisted: InventoryEntry[] = [],
): Promise<PruneOutcome> {
  const outcome: PruneOutcome = { results: [], forget: new Set() };
  const limit = pLimit(ctx.options.concurrency ?? 8);
  const unlistedKeys = new Set(unlisted.map(refKey));
  const all = [...orphans, ...unlisted];
  const judged = new Map<string, Judged>();
  const judgeAll = (entries: InventoryEntry[]) =>
    Promise.all(
      entries.map((entry) =>
        limit(async () =>
          judged.set(refKey(entry), await judge(ctx, entry, !unlistedKeys.has(refKey(entry)))),
        ),
      ),
    );
  // Namespaces and CRDs last: whether they may go depends on what else this run prunes.
  const container = (e: InventoryEntry) => isNamespace(e) || isCrd(e);
  await judgeAll(all.filter((e) => !container(e)));
  const prunedKeys = new Set([...judged].filter(([, j]) => j.row.action === 'pruned').map(([k]) => k));
  const check: ContentsCheck = {
    kube: ctx.kube,
    discovery: ctx.discovery,
    app: ctx.options.app,
    inGit: (ref, uid) =>
      (ctx.desiredKeys?.has(refKey(ref)) ?? false) ||
      (uid !== undefined && (ctx.desiredUids?.has(uid) ?? false)),
    pruned: (ref) => prunedKeys.has(refKey(ref)),
  };
  await Promise.all(
    all
      .filter(container)
      .map((entry) =>
        limit(async () =>
          judged.set(refKey(entry), await judge(ctx, entry, !unlistedKeys.has(refKey(entry)), check)),
        ),
      ),
  );

  const candidates = all.filter((entry) => judged.get(refKey(entry))?.row.action === 'pruned');
  const cap =
    ctx.options.pruneLimit ??
    (ctx.ownedBefore > CAP_FREE_OBJECTS ? Math.floor(ctx.ownedBefore / 2) : undefined);
  if (cap !== undefined && candidates.length > cap) {
    outcome.refused = capRefusal({
      app: ctx.options.app,
      candidates: candidates.length,
      ownedBefore: ctx.ownedBefore,
      cap,
      fromSetting: ctx.options.pruneLimit !== undefined,
    });
    for (const entry of candidates) {
      const j = judged.get(refKey(entry)) as Judged;
      j.facts = { ...j.facts, overCap: true };
      j.row = decidePrune(j.facts);
      j.message.capRefusal = outcome.refused;
    }
  }
  for (const [key, j] of judged) if (j.row.forget && j.row.action !== 'pruned') outcome.forget.add(key);

  for (const group of pruneGroups(all)) {
    const settled = await Promise.allSettled(
      group.map((entry) =>
        limit(async () => {
          const j = judged.get(refKey(entry)) as Judged;
          if (j.row.action !== 'pruned') return report(j, ctx.logger);
          const result = await deleteOne(ctx, entry, j);
          if (result.action === 'pruned') outcome.forget.add(refKey(entry));
          log(ctx.logger, j.row, result);
          return result;
        }),
      ),
    );
    for (const s of settled) {
      if (s.status === 'rejected') throw s.reason;
      // Report in inventory order within a group, whatever order the deletes finished in.
      if (s.value) outcome.results.push(s.value);
    }
  }
  if (ctx.signal?.aborted && outcome.results.some((r) => r.action === 'skipped'))
    outcome.refused = `prune stopped: ${stopReason(ctx.signal)}`;
  return outcome;
}

/** The action a settled row reports (`drop` reports nothing). */
const REPORTED: Partial<Record<PruneAction, Action>> = {
  pruned: 'pruned',
  orphaned: 'orphaned',
  failed: 'failed',
  keep: 'unchanged',
};

/** The result a settled row reports (none for `drop`), logged with the row's name. */
function report(j: Judged, logger: PruneLogger | undefined): ResourceResult | undefined {
  const { row } = j;
  if (row.action === 'drop') return undefined;
  const action = REPORTED[row.action];
  if (!action) throw new RangeError(`prune row ${row.name} settles nothing (${row.action})`);
  const result: ResourceResult = { ...toRef(j.entry), action };
  const message = row.message?.(j.message);
  if (message) result.message = message;
  log(logger, row, result);
  return result;
}

function log(logger: PruneLogger | undefined, row: PruneRow, result: ResourceResult): void {
  const fields = {
    object: describeRef(result),
    action: result.action,
    decision: row.name,
    detail: result.message,
  };
  if (result.action === 'failed') logger?.warn('prune failed', fields);
  else logger?.info('prune decided', fields);
}

async function deleteOne(ctx: PruneContext, entry: InventoryEntry, j: Judged): Promise<ResourceResult> {
  const ref = toRef(entry);
  if (ctx.options.dryRun) return { ...ref, action: 'pruned' };
  const info = j.info as ResourceInfo;
  let res: KubeResponse | typeof STOPPED;
  try {
    // Not sent once the run must stop writing (its lease): the orphan stays, reported skipped.
    res = await unlessStopped(ctx.signal, () =>
      ctx.kube.request({
        method: 'DELETE',
        path: objectPath(info, ref.name, ref.namespace),
        body: {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          propagationPolicy: 'Background',
          preconditions: { uid: j.live?.metadata.uid },
        },
      }),
    );
  } catch (error) {
    // This delete's connection kept breaking while the server answers others: this object failed.
    if (!isConnectionBroken(error)) throw error;
    return { ...ref, action: 'failed', message: `${describeRef(ref)}: ${(error as Error).message}` };
  }
  if (res === STOPPED) return { ...ref, action: 'skipped', message: `not pruned: ${stopReason(ctx.signal)}` };
  if (isSuccess(res) || isNotFound(res)) return { ...ref, action: 'pruned' };
  return { ...ref, action: 'failed', message: apiErrorMessage(ref, res.status, res.body) };
}
