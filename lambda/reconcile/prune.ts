/**
 * Prune: delete what left Git. Every orphan is judged first and nothing is deleted until all are:
 * only objects in the app's inventory AND still carrying the app's label are candidates, and the
 * guards may keep any of them (`driftless.dev/prune: disabled`; a CRD whose custom resources are
 * not all this app's; a Namespace holding anything that is not this app's) or refuse the whole
 * prune (more than the deletion cap). Candidates are then deleted later stages first, Namespaces
 * last, each with a uid precondition so the object deleted is the one that was checked.
 */
import pLimit from 'p-limit';
import { isConnectionBroken, isNotFound, isSuccess } from '../cluster/api-errors.ts';
import { type Discovery, objectPath, type ResourceInfo, splitApiVersion } from '../cluster/discovery.ts';
import type { KubeClient, KubeResponse } from '../cluster/kube-client.ts';
import { apiErrorMessage } from './apply.ts';
import { isCrd } from './crds.ts';
import { getObject, type LiveIndex } from './live.ts';
import { ownerApp, pruneDisabled } from './ownership.ts';
import { foreignCustomResources, foreignObjectIn } from './prune-guards.ts';
import { describeRef, refKey, toRef } from './refs.ts';
import { isNamespace, pruneGroups } from './stages.ts';
import {
  APP_LABEL,
  type InventoryEntry,
  type KubeObject,
  PRUNE_ANNOTATION,
  type ReconcileOptions,
  type ResourceResult,
} from './types.ts';

/** Objects an app owned before a run above which the default deletion cap (half) applies. */
const CAP_FREE_OBJECTS = 5;

export interface PruneContext {
  kube: KubeClient;
  discovery: Discovery;
  options: ReconcileOptions;
  live: LiveIndex;
  /** Why nothing may be deleted this run (e.g. an apply failed); orphans are reported instead. */
  blockedReason?: string;
  /**
   * uids of the objects the desired set resolved to. An inventory entry read through another API
   * group (an Ingress moved from `extensions` to `networking.k8s.io`) is the same object: keep it.
   */
  desiredUids?: Set<string>;
  /** How many objects the app owned before this run (the stored inventory), for the deletion cap. */
  ownedBefore: number;
}

export interface PruneOutcome {
  results: ResourceResult[];
  /** Inventory keys to forget: deleted, already gone, kept by annotation, or no longer the app's. */
  forget: Set<string>;
  /** Set when the prune as a whole was refused (deletion cap): the run fails with this error. */
  refused?: string;
}

/** What judging one orphan found: a result to report, and whether to delete it. */
interface Verdict {
  result?: ResourceResult;
  forget?: boolean;
  delete?: { info: ResourceInfo; live: KubeObject };
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
  const verdicts = new Map<string, Verdict>();
  await Promise.all(
    all.map((entry) =>
      limit(async () =>
        verdicts.set(refKey(entry), await judge(ctx, entry, unlistedKeys.has(refKey(entry)))),
      ),
    ),
  );
  for (const [key, verdict] of verdicts) if (verdict.forget) outcome.forget.add(key);

  const candidates = all.filter((entry) => verdicts.get(refKey(entry))?.delete);
  const cap =
    ctx.options.pruneLimit ??
    (ctx.ownedBefore > CAP_FREE_OBJECTS ? Math.floor(ctx.ownedBefore / 2) : undefined);
  if (cap !== undefined && candidates.length > cap) {
    outcome.refused = `refusing to prune ${candidates.length} of the ${ctx.ownedBefore} objects app "${ctx.options.app}" owned: more than the limit of ${cap} per run (${ctx.options.pruneLimit === undefined ? 'half of them' : 'pruneLimit'}); set pruneLimit in the deploy config or pass --prune-limit ${candidates.length} to allow it`;
    for (const entry of candidates) {
      verdicts.set(refKey(entry), {
        result: { ...toRef(entry), action: 'orphaned', message: `not pruned: ${outcome.refused}` },
      });
    }
  }

  for (const group of pruneGroups(all)) {
    const settled = await Promise.allSettled(
      group.map((entry) =>
        limit(async () => {
          const verdict = verdicts.get(refKey(entry));
          if (!verdict?.delete) return verdict?.result;
          const result = await deleteOne(ctx, entry, verdict.delete);
          if (result.action === 'pruned') outcome.forget.add(refKey(entry));
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
  return outcome;
}

/** Decides one orphan without writing anything. */
async function judge(ctx: PruneContext, entry: InventoryEntry, unlisted: boolean): Promise<Verdict> {
  const { options } = ctx;
  const ref = toRef(entry);
  const orphaned = (message: string): Verdict => ({ result: { ...ref, action: 'orphaned', message } });
  const info = await resolveServed(ctx.discovery, entry.apiVersion, entry.kind);
  // No version of the kind is served (its CRD is gone), so neither is the object.
  if (!info) return { forget: true };
  let live = ctx.live.objects.get(refKey(entry));
  // Not in the labelled LIST: gone, or its label was removed (then it is reported, not deleted).
  if (!live) {
    const got = await getObject(ctx.kube, info, ref);
    if (!got.ok) return { result: { ...ref, action: 'failed', message: got.message } };
    live = got.object;
  }
  if (!live || ctx.desiredUids?.has(live.metadata.uid as string)) return { forget: true };
  const owner = ownerApp(live);
  if (owner !== options.app) {
    return {
      forget: true,
      ...orphaned(
        `${describeRef(ref)} no longer carries ${APP_LABEL}=${options.app}${owner ? ` (owned by app "${owner}")` : ''}; left in place and dropped from the inventory`,
      ),
    };
  }
  if (entry.pruneDisabled || pruneDisabled(live)) {
    return {
      forget: true,
      result: {
        ...ref,
        action: 'unchanged',
        message: `removed from Git; kept in place (${PRUNE_ANNOTATION}: disabled) and dropped from the inventory`,
      },
    };
  }
  const notListed = unlisted
    ? `labelled ${APP_LABEL}=${options.app} but not in the stored inventory (a new or lost history store?)`
    : undefined;
  if (!options.prune)
    return orphaned(notListed ? `${notListed}; prune is off` : 'removed from Git; prune is off');
  if (notListed && !options.pruneUnlisted) {
    return orphaned(
      `${notListed}; not pruned: no stored source of the app confirms it is this app's (the next run from the same source prunes it)`,
    );
  }
  if (ctx.blockedReason) return orphaned(ctx.blockedReason);
  // Kept in the inventory (not forgotten), so a later run prunes it once it is clear.
  const blocker = isNamespace(ref)
    ? await foreignObjectIn(ctx, ref.name, options.app)
    : isCrd(ref)
      ? await foreignCustomResources(ctx.kube, live, options.app)
      : undefined;
  if (blocker) return orphaned(`${describeRef(ref)} not pruned: ${blocker}`);
  return { delete: { info, live } };
}

async function deleteOne(
  ctx: PruneContext,
  entry: InventoryEntry,
  { info, live }: { info: ResourceInfo; live: KubeObject },
): Promise<ResourceResult> {
  const ref = toRef(entry);
  if (ctx.options.dryRun) return { ...ref, action: 'pruned' };
  let res: KubeResponse;
  try {
    res = await ctx.kube.request({
      method: 'DELETE',
      path: objectPath(info, ref.name, ref.namespace),
      body: {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        propagationPolicy: 'Background',
        preconditions: { uid: live.metadata.uid },
      },
    });
  } catch (error) {
    // This delete's connection kept breaking while the server answers others: this object failed.
    if (!isConnectionBroken(error)) throw error;
    return { ...ref, action: 'failed', message: `${describeRef(ref)}: ${(error as Error).message}` };
  }
  if (isSuccess(res) || isNotFound(res)) return { ...ref, action: 'pruned' };
  return { ...ref, action: 'failed', message: apiErrorMessage(ref, res.status, res.body) };
}

/**
 * The kind through the version it was applied with, or through any version its group still
 * serves: an object outlives a version that stops being served (a CRD's `served: false`, a
 * removed built-in version) and must still be found and pruned.
 */
async function resolveServed(
  discovery: Discovery,
  apiVersion: string,
  kind: string,
): Promise<ResourceInfo | undefined> {
  const exact = await discovery.resolve(apiVersion, kind);
  if (exact) return exact;
  const { group } = splitApiVersion(apiVersion);
  for (const version of await discovery.servedVersions(group)) {
    const info = await discovery.resolve(group ? `${group}/${version}` : version, kind);
    if (info) return info;
  }
  return undefined;
}
