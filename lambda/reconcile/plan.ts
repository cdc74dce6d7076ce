/**
 * Plan one object: a server-side apply dry-run against the live object, compared with the live
 * object once noise is removed. The API server computes the result (defaults, admission,
 * ownership), so "unchanged" means applying would really change nothing.
 */
import type { KubeClient } from '../cluster/kube-client.ts';
import { applyObject } from './apply.ts';
import { renderDiff, sameObject } from './diff.ts';
import { MIGRATED_MANAGERS, migratedManagedFields } from './field-managers.ts';
import { differingAt, ignoredPointers, withoutFields, withValuesFrom } from './ignore.ts';
import { once } from './once.ts';
import { takenFields } from './ownership.ts';
import type { KubeObject } from './types.ts';
import type { PlannedObject } from './validate.ts';

export type Plan =
  | { change: 'none'; live: KubeObject; warnings: string[] }
  | {
      change: 'create' | 'configure';
      live?: KubeObject;
      /** What the object would be after applying (the dry-run result). */
      result: KubeObject;
      /** The diff, rendered on first call only: a create about to be applied never needs it. */
      diff: () => string | undefined;
      /** Fields forced apply would take from other managers, by manager. */
      taken: Record<string, string[]>;
      /** What else applying would do, e.g. delete and re-create the object (`driftless.dev/force`). */
      note?: string;
      /** The API server's `Warning` headers for the dry run. */
      warnings: string[];
    }
  | { change: 'failed'; message: string };

/**
 * Dry-runs the apply of `object` and compares the result with `live` (undefined: absent). Writes
 * nothing. With `migrateManagers` (a run that may write), an object whose fields client-side
 * kubectl apply still owns is a change even when the dry run shows none: its write moves those
 * fields to driftless first (field-managers.ts, done by `writeObject`), so fields Git dropped go.
 */
export async function planObject(
  kube: KubeClient,
  object: PlannedObject,
  live: KubeObject | undefined,
  options: { migrateManagers?: boolean; fieldValidation?: 'Strict' } = {},
): Promise<Plan> {
  const dryRun = await applyObject(kube, object.info, object.body, {
    dryRun: true,
    fieldValidation: options.fieldValidation,
  });
  if (!dryRun.ok) return { change: 'failed', message: dryRun.message };
  const warnings = dryRun.warnings;
  const migrating = live && options.migrateManagers ? migratingManagers(live) : undefined;
  if (live && sameObject(live, dryRun.object)) {
    if (!migrating) return { change: 'none', live, warnings };
    return {
      change: 'configure',
      live,
      result: dryRun.object,
      diff: () => undefined,
      taken: {},
      note: migrating,
      warnings,
    };
  }
  return {
    change: live ? 'configure' : 'create',
    live,
    result: dryRun.object,
    diff: once(() => renderDiff(object.ref, live, dryRun.object)),
    taken: takenFields(live, dryRun.object),
    ...(dryRun.note || migrating ? { note: [dryRun.note, migrating].filter(Boolean).join('; ') } : {}),
    warnings,
  };
}

/** What the write will do first when client-side kubectl apply still owns fields of `live`. */
function migratingManagers(live: KubeObject): string | undefined {
  if (!migratedManagedFields(live)) return undefined;
  return `fields owned by ${MIGRATED_MANAGERS.join(' / ')} move to driftless before the apply, so fields Git dropped are removed`;
}

/**
 * The diff of an object that cannot be dry-run yet because what it lands in is only created by
 * this (dry) run: its Namespace or its CRD. It would be created as written.
 */
export function pendingCreateDiff(object: PlannedObject): string | undefined {
  return renderDiff(object.ref, undefined, object.body);
}

/**
 * `planObject` for the body driftless would apply: without the fields `driftless.dev/ignore`
 * names once the object exists, except those driftless still owns alone, which keep their live
 * value (left out, server-side apply would remove them; ignore.ts). Returns that body too.
 */
export async function planIgnoring(
  kube: KubeClient,
  object: PlannedObject,
  live: KubeObject | undefined,
  options: { migrateManagers?: boolean; fieldValidation?: 'Strict' },
): Promise<{ plan: Plan; body: KubeObject }> {
  const ignored = live ? ignoredPointers(object.body) : [];
  let body = ignored.length > 0 ? withoutFields(object.body, ignored) : object.body;
  let plan = await planObject(kube, { ...object, body }, live, options);
  if (live && ignored.length > 0 && (plan.change === 'create' || plan.change === 'configure')) {
    const removed = differingAt(live, plan.result, ignored);
    if (removed.length > 0) {
      body = withValuesFrom(body, removed, live);
      plan = await planObject(kube, { ...object, body }, live, options);
    }
  }
  return { plan, body };
}
