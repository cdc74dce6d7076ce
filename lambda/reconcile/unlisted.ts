/**
 * Labelled objects the inventory does not list: found when the history store is new or lost, they
 * join the inventory and are reported, and pruned only by a run whose stored source confirms them.
 */

import type { LiveIndex } from './live.ts';
import { pruneDisabled } from './ownership.ts';
import { stageOf } from './stages.ts';
import { APP_LABEL, type InventoryEntry, type KubeObject, type ObjectRef } from './types.ts';

/**
 * Live objects labelled for the app that are neither desired nor in the inventory (a new or lost
 * history store), except those marked `driftless.dev/prune: disabled` (left on purpose).
 */
export function unlistedObjects(
  live: LiveIndex,
  desiredKeys: Set<string>,
  inventory: Map<string, InventoryEntry>,
): InventoryEntry[] {
  const found: InventoryEntry[] = [];
  for (const [key, object] of live.objects) {
    if (desiredKeys.has(key) || inventory.has(key) || pruneDisabled(object)) continue;
    if (object.metadata.labels?.[APP_LABEL] === undefined || derivedFromOwned(object)) continue;
    const ref: ObjectRef = { apiVersion: object.apiVersion, kind: object.kind, name: object.metadata.name };
    if (object.metadata.namespace) ref.namespace = object.metadata.namespace;
    found.push({ ...ref, stage: stageOf(ref.apiVersion, ref.kind), digest: '' });
  }
  return found;
}

/**
 * Made by a controller for one of the app's objects, carrying its labels: anything with an
 * ownerReference (ReplicaSets, EndpointSlices), and a Service's Endpoints (named as the Service).
 */
function derivedFromOwned(object: KubeObject): boolean {
  if ((object.metadata.ownerReferences as unknown[] | undefined)?.length) return true;
  return object.kind === 'Endpoints' && object.apiVersion === 'v1';
}
