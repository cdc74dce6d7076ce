/**
 * The decision for one desired object: skip it (unchanged since the inventory), refuse it
 * (another app owns it), report it (drifted, or what a dry run would do), or apply it.
 * The inventory entry records the body's digest only once that body was applied or a dry-run
 * showed the live object already matches it, so a skip is never based on an unverified guess.
 */
import type { KubeClient } from '../cluster/kube-client.ts';
import { applyObject } from './apply.ts';
import { renderDiff } from './diff.ts';
import { digestOf } from './digest.ts';
import { getObject, type LiveIndex, scopeKey } from './live.ts';
import { describeTaken, ownerApp, takenFields } from './ownership.ts';
import { pendingCreateDiff, planObject } from './plan.ts';
import { describeRef, toRef } from './refs.ts';
import {
  APP_LABEL,
  type InventoryEntry,
  type KubeObject,
  type ObjectRef,
  type ReconcileOptions,
  type ResourceResult,
} from './types.ts';
import type { PlannedObject } from './validate.ts';

export interface SyncContext {
  kube: KubeClient;
  options: ReconcileOptions;
  /** The revision was already synced: a difference is drift, not a change from Git. */
  sameRevision: boolean;
  live: LiveIndex;
  inventory: Map<string, InventoryEntry>;
  /** Dry run only: Namespaces this run would create, so objects in them cannot be dry-run yet. */
  pendingNamespaces: Set<string>;
  /** Told before each real write, so the object is tracked even if the answer is lost. */
  onWrite?: (object: PlannedObject) => void;
}

export interface ObjectSync {
  result: ResourceResult;
  /** The new inventory entry; absent to keep the previous one (if any). */
  entry?: InventoryEntry;
  /** The live object after this run, for health. */
  live?: KubeObject;
}

export async function syncObject(ctx: SyncContext, object: PlannedObject): Promise<ObjectSync> {
  const { options } = ctx;
  const base = toRef(object.ref);
  const previous = ctx.inventory.get(object.key);
  // No digest of a Secret is stored: an unsalted hash of its data could be brute-forced from the
  // state. Secrets are dry-run on every new revision instead.
  const digest = object.ref.kind === 'Secret' ? undefined : digestOf(object.body);
  /** The entry for `live` as it is now; `verified`: it is what applying this body gives. */
  const entryFor = (live: KubeObject, verified = true): InventoryEntry => ({
    ...base,
    resourceVersion: live.metadata.resourceVersion as string | undefined,
    ...(verified ? { digest } : {}),
    stage: object.stage,
  });

  if (options.dryRun && (object.awaitsCrd || ctx.pendingNamespaces.has(object.ref.namespace ?? ''))) {
    return { result: { ...base, action: 'created', diff: pendingCreateDiff(object) } };
  }

  let live = ctx.live.objects.get(object.key);
  if (live && previous?.resourceVersion && previous.resourceVersion === live.metadata.resourceVersion) {
    // Nobody wrote the object since driftless applied or verified it.
    if (digest !== undefined && previous.digest === digest) {
      // Applying the same body again would change nothing, whatever the revision: no dry-run.
      return { result: { ...base, action: 'unchanged' }, entry: entryFor(live), live };
    }
    if (ctx.sameRevision && previous.digest === undefined) {
      // The same revision stands in for the same body, as before digests existed (old state).
      // No digest is recorded until a dry-run or an apply has verified this body.
      return { result: { ...base, action: 'unchanged' }, entry: entryFor(live, false), live };
    }
  }
  // The per-kind LIST reads one API version; an object declared in another one (an
  // autoscaling/v1 HPA beside an autoscaling/v2beta2 one) is read again in its own version, or
  // the dry-run result and the live object never compare equal.
  const otherVersion = live !== undefined && live.apiVersion !== object.ref.apiVersion;
  if (otherVersion || (!live && !ctx.live.complete.has(scopeKey(object.info, object.ref.namespace)))) {
    const got = await getObject(ctx.kube, object.info, object.ref);
    if (!got.ok) return { result: { ...base, action: 'failed', message: got.message } };
    live = got.object;
  }

  const owner = ownerApp(live);
  if (owner !== undefined && owner !== options.app) {
    return {
      result: {
        ...base,
        action: 'failed',
        message: `${describeRef(object.ref)} is owned by app "${owner}" (label ${APP_LABEL}=${owner}); driftless does not modify another app's objects`,
      },
    };
  }

  // On an already synced revision, a difference is drift (healed only with self-heal) when Git
  // did not change the object since driftless applied it: judged per object by digest, so a
  // changed path or default namespace at the same commit, or an object never applied, is a
  // change from Git. A new revision applies every difference.
  const gitUnchanged =
    ctx.sameRevision &&
    previous !== undefined &&
    (previous.digest === undefined || previous.digest === digest);
  const applies = !(gitUnchanged && !options.selfHeal);
  if (!live && applies && !options.dryRun) {
    // Nothing to compare with: a dry-run would only cost a request before the create.
    return write(ctx, object, base, undefined, undefined, entryFor, gitUnchanged);
  }
  const plan = await planObject(ctx.kube, object, live, { migrateManagers: applies && !options.dryRun });
  if (plan.change === 'failed') return { result: { ...base, action: 'failed', message: plan.message } };
  if (plan.change === 'none')
    return { result: { ...base, action: 'unchanged' }, entry: entryFor(plan.live), live };
  if (!applies) {
    const message = live
      ? `${describeRef(object.ref)} drifted from Git; self-heal is off, not re-applied`
      : `${describeRef(object.ref)} was deleted from the cluster; self-heal is off, not re-created`;
    return { result: { ...base, action: 'drifted', message, diff: plan.diff }, live };
  }
  if (options.dryRun) {
    const action = plan.change === 'create' ? 'created' : 'configured';
    const message = [plan.note, describeTaken(plan.taken)].filter(Boolean).join('; ') || undefined;
    return { result: { ...base, action, message, diff: plan.diff }, live };
  }
  return write(ctx, object, base, live, plan.diff, entryFor, gitUnchanged);
}

/** Applies for real; `diff` is the plan's, or computed from the answer when there was no plan. */
async function write(
  ctx: SyncContext,
  object: PlannedObject,
  base: ObjectRef,
  live: KubeObject | undefined,
  plannedDiff: string | undefined,
  entryFor: (live: KubeObject) => InventoryEntry,
  healing: boolean,
): Promise<ObjectSync> {
  ctx.onWrite?.(object);
  const applied = await applyObject(ctx.kube, object.info, object.body, { dryRun: false });
  if (!applied.ok)
    return { result: { ...base, action: 'failed', message: applied.message, diff: plannedDiff } };
  const notes = [
    healing ? (live ? 'drift healed: re-applied' : 'drift healed: re-created') : undefined,
    applied.note,
    describeTaken(takenFields(live, applied.object)),
  ].filter(Boolean);
  return {
    result: {
      ...base,
      action: live ? 'configured' : 'created',
      message: notes.length > 0 ? notes.join('; ') : undefined,
      diff: live ? plannedDiff : renderDiff(object.ref, undefined, applied.object),
    },
    entry: entryFor(applied.object),
    live: applied.object,
  };
}
