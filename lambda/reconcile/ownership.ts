/**
 * Who owns an object: the app label driftless puts on everything it applies, and the field
 * managers server-side apply records in `managedFields`.
 */
import { describeRef } from './refs.ts';
import {
  APP_LABEL,
  FIELD_MANAGER,
  type InventoryEntry,
  type KubeObject,
  type ObjectRef,
  PRUNE_ANNOTATION,
  RECONCILE_ANNOTATION,
  type ReconcileOptions,
} from './types.ts';

/** A copy of `object` labelled as owned by `app`. */
export function withAppLabel(object: KubeObject, app: string): KubeObject {
  const copy = structuredClone(object);
  copy.metadata.labels = { ...copy.metadata.labels, [APP_LABEL]: app };
  return copy;
}

/** The app named by the object's ownership label, if any. */
export function ownerApp(object: KubeObject | undefined): string | undefined {
  return object?.metadata.labels?.[APP_LABEL];
}

/** The object carries `driftless.dev/prune: disabled`: prune never deletes it. */
export function pruneDisabled(object: { metadata: { annotations?: Record<string, string> } }): boolean {
  return object.metadata.annotations?.[PRUNE_ANNOTATION] === 'disabled';
}

/** The object carries `driftless.dev/reconcile: disabled`: driftless leaves it alone entirely. */
export function reconcileDisabled(object: { metadata: { annotations?: Record<string, string> } }): boolean {
  return object.metadata.annotations?.[RECONCILE_ANNOTATION] === 'disabled';
}

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  fieldsV1?: Record<string, unknown>;
}

/** Leaf field paths of a `fieldsV1` set, e.g. `spec.replicas`, `spec.ports[port=80,protocol=TCP]`. */
export function fieldPaths(fields: Record<string, unknown> | undefined, prefix = ''): string[] {
  const paths: string[] = [];
  for (const [key, value] of Object.entries(fields ?? {})) {
    if (key === '.') continue;
    const path = prefix + segment(key, prefix === '');
    const children = value as Record<string, unknown>;
    const nested = Object.keys(children ?? {}).filter((k) => k !== '.');
    if (nested.length === 0) paths.push(path);
    else paths.push(...fieldPaths(children, path));
  }
  return paths;
}

function segment(key: string, first: boolean): string {
  const body = key.slice(2);
  if (key.startsWith('f:')) return first ? body : `.${body}`;
  if (key.startsWith('k:')) {
    try {
      const parts = Object.entries(JSON.parse(body) as Record<string, unknown>).map(([k, v]) => `${k}=${v}`);
      return `[${parts.join(',')}]`;
    } catch {
      return `[${body}]`;
    }
  }
  return `[${body}]`;
}

function fieldsByManager(object: KubeObject | undefined): Map<string, Set<string>> {
  const byManager = new Map<string, Set<string>>();
  for (const entry of (object?.metadata.managedFields as ManagedFieldsEntry[] | undefined) ?? []) {
    const name = entry.manager ?? '(unknown)';
    const set = byManager.get(name) ?? new Set<string>();
    for (const path of fieldPaths(entry.fieldsV1)) set.add(path);
    byManager.set(name, set);
  }
  return byManager;
}

/**
 * Fields driftless took over from other managers between `before` (live) and `after` (the apply
 * or dry-run result), as `{ manager: [paths] }`. Forced apply moves conflicting fields to driftless.
 */
export function takenFields(
  before: KubeObject | undefined,
  after: KubeObject | undefined,
): Record<string, string[]> {
  const was = fieldsByManager(before);
  const now = fieldsByManager(after);
  const ours = now.get(FIELD_MANAGER) ?? new Set<string>();
  const taken: Record<string, string[]> = {};
  for (const [manager, paths] of was) {
    if (manager === FIELD_MANAGER) continue;
    const still = now.get(manager) ?? new Set<string>();
    const lost = [...paths].filter((p) => !still.has(p) && ours.has(p));
    if (lost.length > 0) taken[manager] = lost;
  }
  return taken;
}

/** `took spec.replicas from "kubectl-edit"`, or `undefined` when nothing was taken. */
export function describeTaken(taken: Record<string, string[]>): string | undefined {
  const parts = Object.entries(taken).map(([manager, paths]) => `took ${paths.join(', ')} from "${manager}"`);
  return parts.length > 0 ? parts.join('; ') : undefined;
}

/**
 * Why driftless must not write `object` over `live`: another app's label, or (unless the app
 * adopts) an existing object without this app's label that driftless never verified as its own.
 */
export function ownershipRefusal(
  object: { ref: ObjectRef },
  live: KubeObject | undefined,
  previous: InventoryEntry | undefined,
  options: ReconcileOptions,
): string | undefined {
  if (!live) return undefined;
  const owner = ownerApp(live);
  if (owner !== undefined && owner !== options.app) {
    return `${describeRef(object.ref)} is owned by app "${owner}" (label ${APP_LABEL}=${owner}); driftless does not modify another app's objects`;
  }
  // In the inventory with a verified resourceVersion: driftless wrote it, someone removed the label.
  if (owner === undefined && !options.adopt && !previous?.resourceVersion) {
    return `${describeRef(object.ref)} already exists without the label ${APP_LABEL}=${options.app}; driftless does not take over objects it did not create (to take it over, set adopt: true for the app in the deploy config, or pass --adopt)`;
  }
  return undefined;
}
