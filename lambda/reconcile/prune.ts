/**
 * Prune: delete what left Git. Only objects that are in the app's inventory AND still carry the
 * app's label in the cluster are deleted, later stages first and Namespaces last; a uid
 * precondition makes sure the object deleted is the one that was checked.
 */
import pLimit from 'p-limit';
import { type Discovery, objectPath } from '../cluster/discovery.ts';
import type { KubeClient } from '../cluster/kube-client.ts';
import { apiErrorMessage } from './apply.ts';
import { getObject, type LiveIndex } from './live.ts';
import { ownerApp } from './ownership.ts';
import { describeRef, refKey, toRef } from './refs.ts';
import { pruneGroups } from './stages.ts';
import { APP_LABEL, type InventoryEntry, type ReconcileOptions, type ResourceResult } from './types.ts';

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
}

export interface PruneOutcome {
  results: ResourceResult[];
  /** Inventory keys to forget: deleted, already gone, or no longer the app's. */
  forget: Set<string>;
}

export async function pruneOrphans(ctx: PruneContext, orphans: InventoryEntry[]): Promise<PruneOutcome> {
  const outcome: PruneOutcome = { results: [], forget: new Set() };
  const limit = pLimit(ctx.options.concurrency ?? 8);
  for (const group of pruneGroups(orphans)) {
    const settled = await Promise.allSettled(
      group.map((entry) => limit(() => pruneOne(ctx, entry, { results: [], forget: outcome.forget }))),
    );
    for (const s of settled) {
      if (s.status === 'rejected') throw s.reason;
      // Report in inventory order within a group, whatever order the deletes finished in.
      outcome.results.push(...s.value.results);
    }
  }
  return outcome;
}

async function pruneOne(
  ctx: PruneContext,
  entry: InventoryEntry,
  outcome: PruneOutcome,
): Promise<PruneOutcome> {
  const { options } = ctx;
  const key = refKey(entry);
  const ref = toRef(entry);
  const info = await ctx.discovery.resolve(entry.apiVersion, entry.kind);
  if (!info) {
    // The kind is no longer served (its CRD is gone), so neither is the object.
    outcome.forget.add(key);
    return outcome;
  }
  let live = ctx.live.objects.get(key);
  // Not in the labelled LIST: gone, or its label was removed (then it is reported, not deleted).
  if (!live) {
    const got = await getObject(ctx.kube, info, ref);
    if (!got.ok) {
      outcome.results.push({ ...ref, action: 'failed', message: got.message });
      return outcome;
    }
    live = got.object;
  }
  if (!live) {
    outcome.forget.add(key);
    return outcome;
  }
  if (ctx.desiredUids?.has(live.metadata.uid as string)) {
    outcome.forget.add(key);
    return outcome;
  }
  const owner = ownerApp(live);
  if (owner !== options.app) {
    outcome.forget.add(key);
    outcome.results.push({
      ...ref,
      action: 'orphaned',
      message: `${describeRef(ref)} no longer carries ${APP_LABEL}=${options.app}${owner ? ` (owned by app "${owner}")` : ''}; left in place and dropped from the inventory`,
    });
    return outcome;
  }
  if (!options.prune) {
    outcome.results.push({ ...ref, action: 'orphaned', message: 'removed from Git; prune is off' });
    return outcome;
  }
  if (ctx.blockedReason) {
    outcome.results.push({ ...ref, action: 'orphaned', message: ctx.blockedReason });
    return outcome;
  }
  if (options.dryRun) {
    outcome.results.push({ ...ref, action: 'pruned' });
    return outcome;
  }
  const res = await ctx.kube.request({
    method: 'DELETE',
    path: objectPath(info, ref.name, ref.namespace),
    body: {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      propagationPolicy: 'Background',
      preconditions: { uid: live.metadata.uid },
    },
  });
  if (res.status === 200 || res.status === 202 || res.status === 404) {
    outcome.forget.add(key);
    outcome.results.push({ ...ref, action: 'pruned' });
    return outcome;
  }
  outcome.results.push({ ...ref, action: 'failed', message: apiErrorMessage(ref, res.status, res.body) });
  return outcome;
}
