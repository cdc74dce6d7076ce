/**
 * The decision for one desired object: skip it (unchanged since the inventory), refuse it
 * (another app owns it, or it exists without this app's label and the app does not adopt),
 * report it (drifted, or what a dry run would do), leave it alone, or apply it. Which one is the
 * decision table's (decisions.ts); `decideObject` gathers its facts and carries out its rows.
 * Deciding never writes: every
 * object about to be written was dry-run first, so a run can refuse the whole set before its
 * first write (`decideObject`, then `writeObject`).
 * The inventory entry records the body's digest only once that body was applied or a dry-run
 * showed the live object already matches it, so a skip is never based on an unverified guess.
 */
import type { KubeClient } from '../cluster/kube-client.ts';
import { applyObject } from './apply.ts';
import { type DecisionRow, decide, type ObjectFacts } from './decisions.ts';
import { renderDiff } from './diff.ts';
import { digestFor, gitComparison } from './digest.ts';
import { MIGRATED_MANAGERS, migrateFieldManagers } from './field-managers.ts';
import { getObject, kindKey, type LiveIndex, scopeKey } from './live.ts';
import {
  describeTaken,
  ownerApp,
  ownershipRefusal,
  pruneDisabled,
  reconcileDisabled,
  takenFields,
} from './ownership.ts';
import { type Plan, pendingCreateDiff, planIgnoring } from './plan.ts';
import { describeRef, toRef } from './refs.ts';
import { STOPPED, stopReason, unlessStopped } from './stop.ts';
import {
  APP_LABEL,
  type InventoryEntry,
  type KubeObject,
  RECONCILE_ANNOTATION,
  type ReconcileOptions,
  type ResourceResult,
} from './types.ts';
import { untouchedSince, writersOf } from './untouched.ts';
import type { PlannedObject } from './validate.ts';

export interface SyncContext {
  kube: KubeClient;
  options: ReconcileOptions;
  /** The revision was already synced: a difference is drift, not a change from Git. */
  sameRevision: boolean;
  /** And rendered with the same inputs: a body that differs from the recorded one is the render's randomness. */
  sameRender?: boolean;
  live: LiveIndex;
  inventory: Map<string, InventoryEntry>;
  /** Dry run only: Namespaces this run would create, so objects in them cannot be dry-run yet. */
  pendingNamespaces: Set<string>;
  /** Dry run only: bindings (by key) whose role this run would create, so they cannot be dry-run yet. */
  pendingBindings?: Set<string>;
  /** Namespaces of the set deleted from the cluster that this run does not re-create. */
  goneNamespaces?: Set<string>;
  /** `Strict` when the server rejects unknown and duplicate fields on request (>= 1.25). */
  fieldValidation: () => Promise<'Strict' | undefined>;
  /** Told before each real write, so the object is tracked even if the answer is lost. */
  onWrite?: (object: PlannedObject) => void;
  /** Aborted when the run must stop writing (lease lost or past its deadline): objects not yet written are `skipped`. */
  signal?: AbortSignal;
}

export interface ObjectSync {
  result: ResourceResult;
  /** The new inventory entry; absent to keep the previous one (if any). */
  entry?: InventoryEntry;
  /** The live object after this run, for health. */
  live?: KubeObject;
  /** The decision row (decisions.ts) that settled it. */
  row?: string;
}

/** Settled without a write (`done`), or passed its dry run and is to be applied (`write`). */
export type ObjectDecision =
  | { write: false; done: ObjectSync }
  | {
      write: true;
      live?: KubeObject;
      /** The dry run's diff, rendered when asked for (a created object's comes from the real apply). */
      diff: () => string | undefined;
      /** Re-applying drift (same revision, self-heal), not a change from Git. */
      healing: boolean;
      /** What is applied: Git's body less the ignored fields (`driftless.dev/ignore`). */
      body: KubeObject;
      /** The decision row that chose to write. */
      row: string;
    };

export async function decideObject(ctx: SyncContext, object: PlannedObject): Promise<ObjectDecision> {
  const { options } = ctx;
  const base = toRef(object.ref);
  const previous = ctx.inventory.get(object.key);
  const done = (row: DecisionRow, sync: ObjectSync): ObjectDecision => ({
    write: false,
    done: { ...sync, row: row.name },
  });

  let live = ctx.live.objects.get(object.key);
  let owner: ObjectFacts['owner'] = 'unread';
  let refusal: string | undefined;
  let plan: Plan | undefined;
  let body = object.body;
  const facts = (): ObjectFacts => ({
    disabled: reconcileDisabled(object.body),
    pending:
      (options.dryRun ?? false) &&
      (object.awaitsCrd ||
        ctx.pendingNamespaces.has(object.ref.namespace ?? '') ||
        (ctx.pendingBindings?.has(object.key) ?? false)),
    untouched: untouchedSince(previous, live),
    git: gitComparison(previous, digestFor(object, live), ctx.sameRender ?? false),
    sameRevision: ctx.sameRevision,
    selfHeal: options.selfHeal ?? false,
    dryRun: options.dryRun ?? false,
    namespaceGone: ctx.goneNamespaces?.has(object.ref.namespace ?? '') ?? false,
    // Known gone: its kind's LIST did not find it, or its GET answered 404 (owner read).
    finishedJobGone:
      finishedJobGone(object, previous, live) &&
      (ctx.live.listed.has(kindKey(object.info)) || owner !== 'unread'),
    owner,
    plan:
      plan === undefined
        ? 'not-run'
        : plan.change === 'create' || plan.change === 'configure'
          ? 'change'
          : plan.change,
  });

  for (;;) {
    const row = decide(facts());
    switch (row.verdict) {
      case 'leave-alone':
        return done(row, {
          result: { ...base, action: 'unchanged', message: LEFT_ALONE },
          // Still the app's, but never pruned while Git says to leave it alone.
          ...(previous ? { entry: { ...previous, pruneDisabled: true } } : {}),
        });
      case 'report-pending-create':
        return done(row, { result: { ...base, action: 'created', diff: pendingCreateDiff(object) } });
      case 'skip':
        return done(row, { result: { ...base, action: 'unchanged' }, entry: entryFor(object, live), live });
      case 'keep-applied':
        return done(row, { result: { ...base, action: 'unchanged' }, live });
      case 'skip-unverified':
        return done(row, {
          result: { ...base, action: 'unchanged' },
          entry: entryFor(object, live, false),
          live,
        });
      case 'read': {
        // The per-kind LIST reads one API version; an object declared in another one (an
        // autoscaling/v1 HPA beside an autoscaling/v2beta2 one) is read again in its own version,
        // or the dry-run result and the live object never compare equal.
        const otherVersion = live !== undefined && live.apiVersion !== object.ref.apiVersion;
        if (otherVersion || (!live && !ctx.live.complete.has(scopeKey(object.info, object.ref.namespace)))) {
          const got = await getObject(ctx.kube, object.info, object.ref);
          if (!got.ok) return done(row, { result: { ...base, action: 'failed', message: got.message } });
          live = got.object;
        }
        refusal = ownershipRefusal(object, live, previous, options);
        owner = refusal ? 'refused' : 'ours';
        continue;
      }
      case 'dry-run': {
        // When a change would be written, fields client-side kubectl apply still owns make the
        // object a change: its write moves them to driftless first (nothing is written here).
        const writes = ['heal', 'apply'].includes(decide({ ...facts(), plan: 'change' }).verdict);
        const dryRun = await planIgnoring(ctx.kube, object, live, {
          migrateManagers: writes,
          fieldValidation: await ctx.fieldValidation(),
        });
        plan = dryRun.plan;
        body = dryRun.body;
        continue;
      }
      case 'refuse':
        return done(row, {
          result: { ...base, action: 'failed', message: refusalMessage(row, object, refusal, plan) },
        });
      case 'in-sync':
        return done(row, {
          result: { ...base, action: 'unchanged', message: describeWarnings(warningsOf(plan)) },
          entry: entryFor(object, plan?.change === 'none' ? plan.live : live),
          live,
        });
      case 'report-drift': {
        const message = ctx.goneNamespaces?.has(object.ref.namespace ?? '')
          ? `${describeRef(object.ref)} was deleted with its Namespace ${object.ref.namespace}; self-heal is off, not re-created`
          : live
            ? `${describeRef(object.ref)} drifted from Git; self-heal is off, not re-applied`
            : `${describeRef(object.ref)} was deleted from the cluster; self-heal is off, not re-created`;
        // Nothing can be dry-run in a deleted Namespace: the diff is the object as Git has it.
        const diff = plan ? diffOf(plan) : pendingCreateDiff(object);
        return done(row, { result: { ...base, action: 'drifted', message, diff }, live });
      }
      case 'report-would-apply': {
        const changed = plan?.change === 'create' || plan?.change === 'configure' ? plan : undefined;
        const action = changed?.change === 'create' ? 'created' : 'configured';
        const message = joinNotes([
          changed?.note,
          describeTaken(changed?.taken ?? {}),
          describeWarnings(warningsOf(plan)),
        ]);
        return done(row, { result: { ...base, action, message, diff: diffOf(plan) }, live });
      }
      case 'heal':
      case 'apply':
        return {
          write: true,
          live,
          diff: () => diffOf(plan),
          healing: row.verdict === 'heal',
          body,
          row: row.name,
        };
    }
  }
}

/** `driftless.dev/reconcile: disabled`, in the object's result message. */
const LEFT_ALONE = `left alone: ${RECONCILE_ANNOTATION}: disabled in Git (not applied, healed or pruned)`;

function warningsOf(plan: Plan | undefined): string[] {
  return plan && plan.change !== 'failed' ? plan.warnings : [];
}

function diffOf(plan: Plan | undefined): string | undefined {
  return plan?.change === 'create' || plan?.change === 'configure' ? plan.diff() : undefined;
}

/** Why a `refuse` row refused the object, per row. */
function refusalMessage(
  row: DecisionRow,
  object: PlannedObject,
  ownership: string | undefined,
  plan: Plan | undefined,
): string {
  if (row.name === 'dry-run-failed' && plan?.change === 'failed') return plan.message;
  if (row.name === 'owned-elsewhere' && ownership) return ownership;
  if (row.name === 'namespace-gone-changed')
    return `${describeRef(object.ref)}: Git changed it, but its Namespace ${object.ref.namespace} was deleted from the cluster and self-heal is off, so it is not re-created; sync with self-heal (or a new revision) to re-create both`;
  return `${describeRef(object.ref)}: ${row.why}`;
}

/** Applies for real an object whose dry run passed. */
export async function writeObject(
  ctx: SyncContext,
  object: PlannedObject,
  decision: Extract<ObjectDecision, { write: true }>,
): Promise<ObjectSync> {
  const base = toRef(object.ref);
  const { live, healing, body } = decision;
  const sent = await unlessStopped(ctx.signal, async () => {
    ctx.onWrite?.(object);
    // Fields client-side kubectl apply owns become driftless's first (its dry run said so).
    const migrated = live ? await migrateFieldManagers(ctx.kube, object.info, live) : undefined;
    const fieldValidation = await ctx.fieldValidation();
    const applied = await applyObject(ctx.kube, object.info, body, {
      dryRun: false,
      fieldValidation,
      signal: ctx.signal,
    });
    return { migrated, applied };
  });
  if (sent === STOPPED) {
    const message = `not applied: ${stopReason(ctx.signal)}`;
    return { result: { ...base, action: 'skipped', message, diff: decision.diff() } };
  }
  const { migrated, applied } = sent;
  if (!applied.ok)
    return { result: { ...base, action: 'failed', message: applied.message, diff: decision.diff() } };
  const notes = joinNotes([
    healing ? (live ? 'drift healed: re-applied' : 'drift healed: re-created') : undefined,
    applied.note,
    migrated ? `field managers ${MIGRATED_MANAGERS.join(' / ')} moved to driftless` : undefined,
    live && ownerApp(live) === undefined ? `adopted: labelled ${APP_LABEL}=${ctx.options.app}` : undefined,
    describeTaken(takenFields(live, applied.object)),
    describeWarnings(applied.warnings),
  ]);
  return {
    result: {
      ...base,
      action: live ? 'configured' : 'created',
      message: notes,
      // The dry run could not see the migration's removals: a migrated object's diff is the write's.
      diff: !live
        ? renderDiff(object.ref, undefined, applied.object)
        : migrated
          ? renderDiff(object.ref, live, applied.object)
          : decision.diff(),
    },
    entry: entryFor(object, applied.object),
    live: applied.object,
    row: decision.row,
  };
}

/** The inventory entry for `live` as it is now; `verified`: it is what applying this body gives. */
function entryFor(object: PlannedObject, live: KubeObject | undefined, verified = true): InventoryEntry {
  const digest = digestFor(object, live);
  const writers = writersOf(live);
  return {
    ...toRef(object.ref),
    resourceVersion: live?.metadata.resourceVersion as string | undefined,
    ...(verified && digest !== undefined ? { digest } : {}),
    ...(verified && writers !== undefined ? { writers } : {}),
    stage: object.stage,
    ...(pruneDisabled(object.body) ? { pruneDisabled: true } : {}),
    ...(object.origin.helmCrd ? { helmCrd: true } : {}),
  };
}

/** The API server's `Warning` headers, for the object's message. */
function describeWarnings(warnings: string[]): string | undefined {
  return warnings.length > 0 ? warnings.map((w) => `warning: ${w}`).join('; ') : undefined;
}

function joinNotes(notes: (string | undefined)[]): string | undefined {
  const present = notes.filter(Boolean);
  return present.length > 0 ? present.join('; ') : undefined;
}

/** Whether `object` is a TTL'd Job driftless applied that is not live (see `ObjectFacts.finishedJobGone`). */
function finishedJobGone(
  object: PlannedObject,
  previous: InventoryEntry | undefined,
  live: KubeObject | undefined,
): boolean {
  const ttl = (object.body.spec as { ttlSecondsAfterFinished?: unknown } | undefined)
    ?.ttlSecondsAfterFinished;
  return (
    object.info.group === 'batch' &&
    object.info.kind === 'Job' &&
    typeof ttl === 'number' &&
    previous?.digest !== undefined &&
    live === undefined
  );
}
