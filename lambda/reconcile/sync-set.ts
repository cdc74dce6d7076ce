/**
 * The desired set, all or nothing: every object is decided (and dry-run when it would be
 * written) before the first write, and when any object fails, nothing is written. The exceptions,
 * as in Flux: what other objects of the set cannot be dry-run (truthfully) without goes first, and
 * only once it passed its own dry run: Namespaces and CRDs of the first stage, then the Roles and
 * ClusterRoles that bindings of the set refer to (a binding's escalation check reads its role;
 * role-refs.ts). A role grants nothing until bound, so the promise holds. Writes then go stage by
 * stage and stop at the first stage with a failed object; custom resources wait for their CRD to
 * be Established. Every object of the set comes back with a result (set-report.ts).
 */
import pLimit from 'p-limit';
import type { Discovery } from '../cluster/discovery.ts';
import { isCrd, kindsDefinedBy, waitEstablished } from './crds.ts';
import { listMissing } from './live.ts';
import { rolesBoundInSet } from './role-refs.ts';
import {
  notAppliedInPlan,
  refusal,
  resultOf,
  type StageStop,
  skippedResult,
  stopMessage,
} from './set-report.ts';
import { DEFINITIONS_STAGE, isNamespace } from './stages.ts';
import {
  decideObject,
  type ObjectDecision,
  type ObjectSync,
  type SyncContext,
  writeObject,
} from './sync-object.ts';
import type { ResourceResult } from './types.ts';
import type { PlannedObject } from './validate.ts';

/** How long a CRD applied in this run may take to become Established. */
const CRD_ESTABLISH_TIMEOUT_MS = 30_000;

export interface SetSync {
  /** What became of each object of the set, by key (every object has a result). */
  synced: Map<string, ObjectSync>;
  /** Set when objects failed before the first write: nothing (beyond what the rest needed first) was written. */
  refused?: string;
  /** Set when a stage failed and the objects of later stages were not written (`skipped`). */
  stopped?: string;
}

export interface SetHooks {
  discovery: Discovery;
  /** Called once, right before the first write of the run (write-ahead of the inventory). */
  beforeFirstWrite: () => Promise<void>;
}

type WriteDecision = Extract<ObjectDecision, { write: true }>;

export async function syncSet(ctx: SyncContext, objects: PlannedObject[], hooks: SetHooks): Promise<SetSync> {
  const limit = pLimit(ctx.options.concurrency ?? 8);
  const decisions = new Map<string, ObjectDecision>();
  const synced = new Map<string, ObjectSync>();
  let wrote = false;
  const firstWrite = async () => {
    if (!wrote) await hooks.beforeFirstWrite();
    wrote = true;
  };
  const decide = async (batch: PlannedObject[]) => {
    const decided = await allSettled(batch.map((o) => limit(() => decideObject(ctx, o))));
    for (const [i, o] of batch.entries()) decisions.set(o.key, decided[i] as ObjectDecision);
  };
  /** Writes `batch`; CRDs it created or changed are awaited unless `awaitLater` (the caller does). */
  const write = async (batch: PlannedObject[], awaitLater = false) => {
    const pending = batch.filter((o) => decisions.get(o.key)?.write && !synced.has(o.key));
    if (pending.length === 0) return;
    await firstWrite();
    const written = await allSettled(
      pending.map((o) => limit(() => writeObject(ctx, o, decisions.get(o.key) as WriteDecision))),
    );
    for (const [i, o] of pending.entries()) synced.set(o.key, written[i] as ObjectSync);
    if (!awaitLater)
      await awaitCrds(ctx, hooks.discovery, changedBy(pending), (o) => synced.get(o.key)?.result);
  };
  const changedBy = (batch: PlannedObject[]) =>
    batch.filter((o) => {
      const result = synced.get(o.key)?.result;
      return result !== undefined && ['created', 'configured'].includes(result.action);
    });

  const first = objects.filter((o) => o.stage === DEFINITIONS_STAGE);
  // Bindings whose role is in the set: dry-run once that role is written (or known unchanged).
  const boundRoles = rolesBoundInSet(objects);
  const waitsForRole = (o: PlannedObject) => boundRoles.has(o.key);
  /** The objects of the set `object` cannot be dry-run without: its Namespace, CRD, bound role. */
  const needsOf = (object: PlannedObject): PlannedObject[] => [
    ...first.filter(
      (n) =>
        (isNamespace(n.ref) && n.ref.name === object.ref.namespace) ||
        (isCrd(n.ref) &&
          kindsDefinedBy(n.body).some((k) => k.group === object.info.group && k.kind === object.info.kind)),
    ),
    ...[boundRoles.get(object.key)].filter((r): r is PlannedObject => r !== undefined),
  ];
  await decide(first);
  // What the first stage creates or changes: objects in new Namespaces and custom resources of
  // new or changed CRDs cannot be dry-run (truthfully) before those are applied.
  const newNamespaces = new Set(
    first.filter((o) => isNamespace(o.ref) && createsObject(decisions.get(o.key))).map((o) => o.ref.name),
  );
  const changedKinds = new Set(
    first
      .filter((o) => isCrd(o.ref) && changesObject(decisions.get(o.key)))
      .flatMap((o) => kindsDefinedBy(o.body).map((k) => `${k.group}/${k.kind}`)),
  );
  const rest = objects.filter((o) => o.stage !== DEFINITIONS_STAGE);
  const needsFirst = (o: PlannedObject) =>
    o.awaitsCrd ||
    newNamespaces.has(o.ref.namespace ?? '') ||
    changedKinds.has(`${o.info.group}/${o.info.kind}`);
  // Namespaces deleted by hand and not re-created (self-heal off): what was in them is drift.
  ctx.goneNamespaces = new Set(
    first
      .filter((o) => {
        const d = decisions.get(o.key);
        return isNamespace(o.ref) && d && !d.write && d.done.result.action === 'drifted' && !d.done.live;
      })
      .map((o) => o.ref.name),
  );
  // A dry run applies nothing: it reports what lands in pending Namespaces and CRDs as created.
  if (ctx.options.dryRun) for (const name of newNamespaces) ctx.pendingNamespaces.add(name);
  const deferred = ctx.options.dryRun ? [] : rest.filter(needsFirst);
  await decide(rest.filter((o) => !deferred.includes(o) && !waitsForRole(o)));

  let refused = refusal(objects, decisions, synced);
  if (!refused && deferred.length > 0) {
    const needed = first.filter((n) => deferred.some((d) => needsOf(d).includes(n)));
    await write(needed, true);
    refused = refusal(objects, decisions, synced);
    if (!refused) {
      // Objects that only needed their Namespace are dry-run while the CRDs become Established;
      // custom resources wait for theirs. A CRD the run did not write may still be on its way to
      // Established too (created by hand a moment ago, or held back by a name conflict).
      const written = changedBy(needed);
      const unwritten = needed.filter((o) => isCrd(o.ref) && !synced.has(o.key));
      const needsCrd = (o: PlannedObject) =>
        o.awaitsCrd || changedKinds.has(`${o.info.group}/${o.info.kind}`);
      await allSettled([
        decide(deferred.filter((o) => !needsCrd(o) && !waitsForRole(o))),
        (async () => {
          await Promise.all([
            awaitCrds(ctx, hooks.discovery, written, (o) => synced.get(o.key)?.result),
            awaitCrds(ctx, hooks.discovery, unwritten, (o) => decisionResult(decisions, o)),
          ]);
          // Custom resources of a CRD that was not served before: one LIST per collection finds
          // any that exist, instead of a GET each.
          const custom = deferred.filter(needsCrd);
          await listMissing(
            ctx.kube,
            ctx.live,
            custom.filter((o) => o.awaitsCrd),
          );
          await decide(custom);
        })(),
      ]);
      refused = refusal(objects, decisions, synced);
    }
  }

  // The roles bindings of the set refer to, as a stage of their own, then those bindings.
  const bindings = rest.filter(waitsForRole);
  if (!refused && bindings.length > 0) {
    const roleOf = (binding: PlannedObject) => boundRoles.get(binding.key) as PlannedObject;
    if (ctx.options.dryRun) {
      // Nothing is written: a binding whose role this run would create is reported as written.
      ctx.pendingBindings = new Set(
        bindings.filter((b) => createsObject(decisions.get(roleOf(b).key))).map((b) => b.key),
      );
    } else {
      await write([...new Set(bindings.map(roleOf))]);
      refused = refusal(objects, decisions, synced);
    }
    if (!refused) {
      await decide(bindings);
      refused = refusal(objects, decisions, synced);
    }
  }

  let stop: StageStop | undefined;
  if (!refused) {
    for (const stage of [...new Set(objects.map((o) => o.stage))].sort((a, b) => a - b)) {
      const batch = objects.filter((o) => o.stage === stage);
      await write(batch);
      // A failed stage ends the run's writes: what comes later relies on it (a webhook on its Service).
      const failed = batch.filter((o) => synced.get(o.key)?.result.action === 'failed');
      if (failed.length > 0) {
        stop = { stage, failed };
        break;
      }
    }
  }

  let skipped = 0;
  for (const object of objects) {
    if (synced.has(object.key)) continue;
    const decision = decisions.get(object.key);
    if (decision && !decision.write) {
      // A plan writes nothing either way: what a refused set would have written is not applied.
      const wouldWrite = ['created', 'configured'].includes(decision.done.result.action);
      synced.set(
        object.key,
        refused && ctx.options.dryRun && wouldWrite
          ? { result: notAppliedInPlan(decision.done.result) }
          : decision.done,
      );
      continue;
    }
    const failedNeed = needsOf(object).find((n) => resultOf(n, decisions, synced)?.action === 'failed');
    synced.set(object.key, { result: skippedResult(object, decision, stop, failedNeed) });
    skipped++;
  }
  return { synced, refused, ...(stop && skipped > 0 ? { stopped: stopMessage(stop, skipped) } : {}) };
}

/**
 * The tasks' values, once every task has ended; the first failure is thrown only then, so nothing
 * of this run goes on behind it.
 */
async function allSettled<T>(tasks: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(tasks);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

function createsObject(decision: ObjectDecision | undefined): boolean {
  if (!decision) return false;
  return decision.write ? !decision.live : decision.done.result.action === 'created';
}

function changesObject(decision: ObjectDecision | undefined): boolean {
  if (!decision) return false;
  return decision.write || ['created', 'configured'].includes(decision.done.result.action);
}

/** The result of an object settled without a write. */
function decisionResult(decisions: Map<string, ObjectDecision>, object: PlannedObject) {
  const decision = decisions.get(object.key);
  return decision && !decision.write ? decision.done.result : undefined;
}

/**
 * Custom resources need their CRD Established and fresh discovery. All `crds` are waited for at
 * once: N stuck CRDs cost one timeout, not N. A CRD still not Established says so in its result.
 */
async function awaitCrds(
  ctx: SyncContext,
  discovery: Discovery,
  crds: PlannedObject[],
  resultOf: (object: PlannedObject) => ResourceResult | undefined,
): Promise<void> {
  await Promise.all(
    crds.map(async (object) => {
      if (!isCrd(object.ref)) return;
      if (!(await waitEstablished(ctx.kube, object.ref.name, { timeoutMs: CRD_ESTABLISH_TIMEOUT_MS }))) {
        const result = resultOf(object);
        if (result)
          result.message = [result.message, `not Established within ${CRD_ESTABLISH_TIMEOUT_MS / 1000} s`]
            .filter(Boolean)
            .join('; ');
      }
      for (const kind of kindsDefinedBy(object.body)) discovery.invalidate(kind.apiVersion);
    }),
  );
}
