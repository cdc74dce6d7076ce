/**
 * Whether a live object is as driftless last applied or verified it, so a run may skip its dry run.
 *
 * The resourceVersion answers exactly, but on a cluster where controllers run it moves all the
 * time without anyone touching what driftless applied: the Deployment controller writes a
 * rollout's status, the Job controller a Job's progress, the kubelet a Pod's. Taking every such
 * move as a possible edit costs a dry run per workload on every run. So a moved resourceVersion
 * still counts as untouched when only status writers wrote: same uid, same generation, and every
 * managedFields entry but those of the `status` subresource as recorded (the API server updates
 * an entry's time whenever its manager changes a value it owns, and adds one for a new manager;
 * a `scale` subresource write bumps the generation).
 */
import { createHash } from 'node:crypto';
import type { InventoryEntry, KubeObject } from './types.ts';

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  apiVersion?: string;
  time?: string;
  subresource?: string;
  fieldsV1?: unknown;
}

/** A digest of who wrote what outside `status`; undefined when the object carries no managedFields. */
export function writersOf(live: KubeObject | undefined): string | undefined {
  const entries = (live?.metadata.managedFields as ManagedFieldsEntry[] | undefined) ?? [];
  if (!live || entries.length === 0) return undefined;
  const writers = entries
    .filter((entry) => entry.subresource !== 'status')
    .map((entry) =>
      JSON.stringify([
        entry.manager,
        entry.operation,
        entry.subresource ?? '',
        entry.apiVersion,
        entry.time,
        entry.fieldsV1,
      ]),
    )
    .sort();
  const hash = createHash('sha256').update(
    JSON.stringify([live.metadata.uid, live.metadata.generation, writers]),
  );
  return `sha256:${hash.digest('hex')}`;
}

/** The live object is the one recorded: its resourceVersion, or its writers outside `status`. */
export function untouchedSince(previous: InventoryEntry | undefined, live: KubeObject | undefined): boolean {
  if (!live || !previous) return false;
  if (previous.resourceVersion !== undefined && previous.resourceVersion === live.metadata.resourceVersion)
    return true;
  return previous.writers !== undefined && previous.writers === writersOf(live);
}
