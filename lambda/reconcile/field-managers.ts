/**
 * Field-manager migration, after kubectl's csaupgrade and Flux's `FieldManagers` clean-up. An
 * object first made with client-side `kubectl apply` has its fields owned by
 * `kubectl-client-side-apply` (or `before-first-apply`, for objects older than managed fields).
 * Server-side apply only removes a field when no manager owns it, so a field Git later drops
 * would stay forever. Moving those managers' fields to a driftless Apply entry before driftless
 * first applies makes driftless the owner of what it took over, so dropping a field from Git drops
 * it from the cluster.
 */
import { isSuccess } from '../cluster/api-errors.ts';
import { objectPath, type ResourceInfo } from '../cluster/discovery.ts';
import type { KubeClient } from '../cluster/kube-client.ts';
import { FIELD_MANAGER, type KubeObject } from './types.ts';

/** Managers whose fields become driftless's. */
export const MIGRATED_MANAGERS = ['kubectl-client-side-apply', 'before-first-apply'];

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  apiVersion?: string;
  fieldsType?: string;
  fieldsV1?: Record<string, unknown>;
  subresource?: string;
  time?: string;
}

/**
 * `live`'s managed fields with the migrated managers' sets merged into one driftless Apply entry,
 * or undefined when there is nothing to migrate. Only an object driftless has never applied is
 * migrated (csaupgrade's moment: the first server-side apply of a new owner): once driftless
 * manages it, a person's later `kubectl apply` keeps its own extra fields, and the fields it took
 * from driftless are drift, taken back by self-heal or the next revision.
 */
export function migratedManagedFields(live: KubeObject): ManagedFieldsEntry[] | undefined {
  const entries = (live.metadata.managedFields as ManagedFieldsEntry[] | undefined) ?? [];
  if (entries.some((e) => e.manager === FIELD_MANAGER && e.operation === 'Apply')) return undefined;
  const migrated = (e: ManagedFieldsEntry) => MIGRATED_MANAGERS.includes(e.manager ?? '') && !e.subresource;
  const moving = entries.filter(migrated);
  if (moving.length === 0) return undefined;
  const merged: ManagedFieldsEntry = {
    manager: FIELD_MANAGER,
    operation: 'Apply',
    apiVersion: moving[0]?.apiVersion,
    fieldsType: 'FieldsV1',
    fieldsV1: moving.reduce<Record<string, unknown>>(
      (set, entry) => unionFields(set, entry.fieldsV1 ?? {}),
      {},
    ),
    ...(moving[0]?.time ? { time: moving[0].time } : {}),
  };
  return [...entries.filter((e) => !migrated(e)), merged];
}

/** The union of two `fieldsV1` sets: the same path keys (`f:`, `k:`, `v:`, `i:`, `.`) merged. */
function unionFields(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [key, value] of Object.entries(b)) {
    const mine = out[key];
    out[key] =
      mine && typeof mine === 'object' && value && typeof value === 'object'
        ? unionFields(mine as Record<string, unknown>, value as Record<string, unknown>)
        : (mine ?? value);
  }
  return out;
}

/**
 * Rewrites `live`'s managed fields when a migrated manager owns some. The patch is guarded by the
 * live resourceVersion, so a concurrent write is never overwritten; on any failure the object is
 * left as it was (the apply then behaves as before). Returns the object after the rewrite.
 */
export async function migrateFieldManagers(
  kube: KubeClient,
  info: ResourceInfo,
  live: KubeObject,
): Promise<KubeObject | undefined> {
  const managedFields = migratedManagedFields(live);
  if (!managedFields) return undefined;
  const res = await kube.request<KubeObject>({
    method: 'PATCH',
    path: objectPath(info, live.metadata.name, live.metadata.namespace),
    contentType: 'application/json-patch+json',
    body: [
      { op: 'test', path: '/metadata/resourceVersion', value: live.metadata.resourceVersion },
      { op: 'replace', path: '/metadata/managedFields', value: managedFields },
    ],
  });
  return isSuccess(res) ? { ...res.body, apiVersion: live.apiVersion, kind: live.kind } : undefined;
}
