/**
 * The decision for one desired object: skip it (unchanged since the inventory), refuse it
 * (another app owns it, or it exists without this app's label and the app does not adopt),
 * report it (drifted, or what a dry run would do), or apply it. Deciding never writes: every
 * object about to be written was dry-run first, so a run can refuse the whole set before its
 * first write (`decideObject`, then `writeObject`).
 * The inventory entry records the body's digest only once that body was applied or a dry-run
 * showed the live object already matches it, so a skip is never based on an unverified guess.
 */
import type { KubeClient } from '../cluster/kube-client.ts';
import { applyObject } from './apply.ts';
import { renderDiff } from './diff.ts';
import { digestOf } from './digest.ts';
import { getObject, type LiveIndex, scopeKey } from './live.ts';
import { describeTaken, ownerApp, pruneDisabled, takenFields } from './ownership.ts';
import { pendingCreateDiff, planObject } from './plan.ts';
import { describeRef, toRef } from './refs.ts';
import {
  APP_LABEL,
  type InventoryEntry,
  type KubeObject,
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
  /** `Strict` when the server rejects unknown and duplicate fields on request (>= 1.25). */
  fieldValidation: () => Promise<'Strict' | undefined>;
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

/** Settled without a write (`done`), or passed its dry run and is to be applied (`write`). */
export type ObjectDecision =
  | { write: false; done: ObjectSync }
  | {
      write: true;
      live?: KubeObject;
      /** The dry run's diff. */
      diff?: string;
      /** Re-applying drift (same revision, self-heal), not a change from Git. */
      healing: boolean;
    };

export async function decideObject(ctx: SyncContext, object: PlannedObject): Promise<ObjectDecision> {
  const { options } = ctx;
  const base = toRef(object.ref);
  const previous = ctx.inventory.get(object.key);
  const done = (sync: ObjectSync): ObjectDecision => ({ write: false, done: sync });
  const digest = digestFor(object);
  const entryFor = entryMaker(object);

  if (options.dryRun && (object.awaitsCrd || ctx.pendingNamespaces.has(object.ref.namespace ?? ''))) {
    return done({ result: { ...base, action: 'created', diff: pendingCreateDiff(object) } });
  }

  let live = ctx.live.objects.get(object.key);
  if (live && previous?.resourceVersion && previous.resourceVersion === live.metadata.resourceVersion) {
    // Nobody wrote the object since driftless applied or verified it.
    if (digest !== undefined && previous.digest === digest) {
      // Applying the same body again would change nothing, whatever the revision: no dry-run.
      return done({ result: { ...base, action: 'unchanged' }, entry: entryFor(live), live });
    }
    if (ctx.sameRevision && previous.digest === undefined) {
      // The same revision stands in for the same body, as before digests existed (old state).
      // No digest is recorded until a dry-run or an apply has verified this body.
      return done({ result: { ...base, action: 'unchanged' }, entry: entryFor(live, false), live });
    }
  }
  // The per-kind LIST reads one API version; an object declared in another one (an
  // autoscaling/v1 HPA beside an autoscaling/v2beta2 one) is read again in its own version, or
  // the dry-run result and the live object never compare equal.
  const otherVersion = live !== undefined && live.apiVersion !== object.ref.apiVersion;
  if (otherVersion || (!live && !ctx.live.complete.has(scopeKey(object.info, object.ref.namespace)))) {
    const got = await getObject(ctx.kube, object.info, object.ref);
    if (!got.ok) return done({ result: { ...base, action: 'failed', message: got.message } });
    live = got.object;
  }

  const refusal = ownershipRefusal(object, live, previous, options);
  if (refusal) return done({ result: { ...base, action: 'failed', message: refusal } });

  // On an already synced revision, a difference is drift (healed only with self-heal) when Git
  // did not change the object since driftless applied it: judged per object by digest, so a
  // changed path or default namespace at the same commit, or an object never applied, is a
  // change from Git. A new revision applies every difference.
  const gitUnchanged =
    ctx.sameRevision &&
    previous !== undefined &&
    (previous.digest === undefined || previous.digest === digest);
  const applies = !(gitUnchanged && !options.selfHeal);
  // Every object about to be written is dry-run first, creates included: a bad set writes nothing.
  // Fields of kubectl's client-side apply move to driftless first, so the dry run sees their removal.
  const plan = await planObject(ctx.kube, object, live, {
    migrateManagers: applies && !options.dryRun,
    fieldValidation: await ctx.fieldValidation(),
  });
  if (plan.change === 'failed') return done({ result: { ...base, action: 'failed', message: plan.message } });
  const warned = describeWarnings(plan.warnings);
  if (plan.change === 'none')
    return done({
      result: { ...base, action: 'unchanged', message: warned },
      entry: entryFor(plan.live),
      live,
    });
  if (!applies) {
    const message = live
      ? `${describeRef(object.ref)} drifted from Git; self-heal is off, not re-applied`
      : `${describeRef(object.ref)} was deleted from the cluster; self-heal is off, not re-created`;
    return done({ result: { ...base, action: 'drifted', message, diff: plan.diff }, live });
  }
  if (options.dryRun) {
    const action = plan.change === 'create' ? 'created' : 'configured';
    const message = joinNotes([plan.note, describeTaken(plan.taken), warned]);
    return done({ result: { ...base, action, message, diff: plan.diff }, live });
  }
  return { write: true, live, diff: plan.diff, healing: gitUnchanged };
}

/**
 * Why driftless must not write `object` over `live`: another app's label, or (unless the app
 * adopts) an existing object without this app's label that driftless never verified as its own.
 */
function ownershipRefusal(
  object: PlannedObject,
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

/** Applies for real an object whose dry run passed. */
export async function writeObject(
  ctx: SyncContext,
  object: PlannedObject,
  decision: Extract<ObjectDecision, { write: true }>,
): Promise<ObjectSync> {
  const base = toRef(object.ref);
  const { live, diff: plannedDiff, healing } = decision;
  ctx.onWrite?.(object);
  const applied = await applyObject(ctx.kube, object.info, object.body, {
    dryRun: false,
    fieldValidation: await ctx.fieldValidation(),
  });
  if (!applied.ok)
    return { result: { ...base, action: 'failed', message: applied.message, diff: plannedDiff } };
  const notes = joinNotes([
    healing ? (live ? 'drift healed: re-applied' : 'drift healed: re-created') : undefined,
    applied.note,
    live && ownerApp(live) === undefined ? `adopted: labelled ${APP_LABEL}=${ctx.options.app}` : undefined,
    describeTaken(takenFields(live, applied.object)),
    describeWarnings(applied.warnings),
  ]);
  return {
    result: {
      ...base,
      action: live ? 'configured' : 'created',
      message: notes,
      diff: live ? plannedDiff : renderDiff(object.ref, undefined, applied.object),
    },
    entry: entryMaker(object)(applied.object),
    live: applied.object,
  };
}

/**
 * No digest of a Secret is stored: an unsalted hash of its data could be brute-forced from the
 * state. Secrets are dry-run on every new revision instead.
 */
function digestFor(object: PlannedObject): string | undefined {
  return object.ref.kind === 'Secret' ? undefined : digestOf(object.body);
}

/** The entry for `live` as it is now; `verified`: it is what applying this body gives. */
function entryMaker(object: PlannedObject) {
  const digest = digestFor(object);
  return (live: KubeObject, verified = true): InventoryEntry => ({
    ...toRef(object.ref),
    resourceVersion: live.metadata.resourceVersion as string | undefined,
    ...(verified ? { digest } : {}),
    stage: object.stage,
    ...(pruneDisabled(object.body) ? { pruneDisabled: true } : {}),
  });
}

/** The API server's `Warning` headers, for the object's message. */
function describeWarnings(warnings: string[]): string | undefined {
  return warnings.length > 0 ? warnings.map((w) => `warning: ${w}`).join('; ') : undefined;
}

function joinNotes(notes: (string | undefined)[]): string | undefined {
  const present = notes.filter(Boolean);
  return present.length > 0 ? present.join('; ') : undefined;
}
