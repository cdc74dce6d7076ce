/**
 * Prune: delete what left Git. Only objects that are in the app's inventory AND still carry the
 * app's label in the cluster are deleted, later stages first and Namespaces last; a uid
 * precondition makes sure the object deleted is the one that was checked. Deleting a Namespace
 * deletes everything in it, so a Namespace that holds another app's object is left in place (and
 * in the inventory) until that object is gone.
 */
import pLimit from 'p-limit';
import { isNotFound, isSuccess } from '../cluster/api-errors.ts';
import {
  collectionPath,
  type Discovery,
  objectPath,
  type ResourceInfo,
  splitApiVersion,
} from '../cluster/discovery.ts';
import type { KubeClient } from '../cluster/kube-client.ts';
import { apiErrorMessage } from './apply.ts';
import { getObject, type LiveIndex } from './live.ts';
import { ownerApp } from './ownership.ts';
import { describeRef, refKey, toRef } from './refs.ts';
import { isNamespace, pruneGroups } from './stages.ts';
import {
  APP_LABEL,
  type InventoryEntry,
  type KubeObject,
  type ReconcileOptions,
  type ResourceResult,
} from './types.ts';

/** LISTs in flight at once while looking for other apps' objects in a Namespace about to be pruned. */
const NAMESPACE_CHECK_CONCURRENCY = 8;

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
  const info = await resolveServed(ctx.discovery, entry.apiVersion, entry.kind);
  if (!info) {
    // No version of the kind is served (its CRD is gone), so neither is the object.
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
  if (isNamespace(ref)) {
    // Kept in the inventory (not forgotten), so a later run prunes it once it is clear.
    const blocker = await otherAppsObjectIn(ctx, ref.name, options.app);
    if (blocker) {
      outcome.results.push({
        ...ref,
        action: 'orphaned',
        message: `${describeRef(ref)} not pruned: ${blocker}`,
      });
      return outcome;
    }
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
  if (isSuccess(res) || isNotFound(res)) {
    outcome.forget.add(key);
    outcome.results.push({ ...ref, action: 'pruned' });
    return outcome;
  }
  outcome.results.push({ ...ref, action: 'failed', message: apiErrorMessage(ref, res.status, res.body) });
  return outcome;
}

/**
 * Why the Namespace `namespace` must not be deleted, or `undefined` when it holds no object
 * labelled for another app. One `limit=1` labelled LIST per namespaced listable resource; a
 * resource that cannot be checked (discovery or LIST failed) blocks too, since deleting the
 * Namespace would delete whatever it holds.
 */
async function otherAppsObjectIn(
  ctx: PruneContext,
  namespace: string,
  app: string,
): Promise<string | undefined> {
  let resources: ResourceInfo[];
  try {
    resources = await ctx.discovery.namespacedListable();
  } catch (error) {
    return `cannot check it for other apps' objects (${error instanceof Error ? error.message : String(error)})`;
  }
  const limit = pLimit(NAMESPACE_CHECK_CONCURRENCY);
  /** Another app's object: the reason given, and no further LIST is sent once one is seen. */
  let found: string | undefined;
  let unchecked: string | undefined;
  await Promise.all(
    resources.map((info) =>
      limit(async () => {
        if (found) return;
        const res = await ctx.kube.request<{ items?: KubeObject[] }>({
          method: 'GET',
          path: collectionPath(info, namespace),
          query: { labelSelector: `${APP_LABEL},${APP_LABEL}!=${app}`, limit: 1 },
        });
        // The kind went away during the run (its CRD was deleted): nothing of it is left.
        if (isNotFound(res)) return;
        if (!isSuccess(res)) {
          const reason = (res.body as { message?: string } | undefined)?.message ?? '';
          unchecked ??= `cannot list its ${qualified(info)} to check for other apps' objects (HTTP ${res.status}${reason ? `: ${reason}` : ''})`;
          return;
        }
        const item = res.body.items?.[0];
        if (!item) return;
        const other = describeRef({
          apiVersion: info.apiVersion,
          kind: info.kind,
          namespace,
          name: item.metadata.name,
        });
        found ??= `it holds ${other} of app "${ownerApp(item)}"; left in place until that object is gone`;
      }),
    ),
  );
  return found ?? unchecked;
}

/** `deployments.apps`, `configmaps` (core), as kubectl names resources. */
function qualified(info: ResourceInfo): string {
  return info.group ? `${info.resource}.${info.group}` : info.resource;
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
