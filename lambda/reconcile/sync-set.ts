/**
 * The desired set, all or nothing: every object is decided (and dry-run when it would be
 * written) before the first write, and when any object fails, nothing is written. The one
 * exception, as in Flux: Namespaces and CRDs of the first stage that other objects need before
 * those can be dry-run are applied first, and only once they passed their own dry run. Writes
 * then go stage by stage; custom resources wait for their CRD to be Established.
 */
import pLimit from 'p-limit';
import type { Discovery } from '../cluster/discovery.ts';
import { isCrd, kindsDefinedBy, waitEstablished } from './crds.ts';
import { listMissing } from './live.ts';
import { describeRef } from './refs.ts';
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
  /** What became of each object, by key. */
  synced: Map<string, ObjectSync>;
  /** Set when objects failed before the first write: nothing (beyond first-stage needs) was written. */
  refused?: string;
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
  await decide(rest.filter((o) => !deferred.includes(o)));

  let refused = refusal(objects, decisions, synced);
  if (!refused && deferred.length > 0) {
    const needed = first.filter(
      (o) =>
        (isNamespace(o.ref) && deferred.some((d) => d.ref.namespace === o.ref.name)) ||
        (isCrd(o.ref) &&
          kindsDefinedBy(o.body).some((k) =>
            deferred.some((d) => d.info.group === k.group && d.info.kind === k.kind),
          )),
    );
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
        decide(deferred.filter((o) => !needsCrd(o))),
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
      if (refused) refused += ' (only the Namespaces and CRDs they need were applied first)';
    }
  }
  if (!refused) {
    for (const stage of [...new Set(objects.map((o) => o.stage))].sort((a, b) => a - b)) {
      await write(objects.filter((o) => o.stage === stage));
    }
  }

  for (const object of objects) {
    if (synced.has(object.key)) continue;
    const decision = decisions.get(object.key);
    if (!decision) continue;
    if (!decision.write) {
      synced.set(object.key, decision.done);
      continue;
    }
    synced.set(object.key, {
      result: {
        ...object.ref,
        action: 'unchanged',
        message:
          'not applied: other objects of this set failed before the first write (a bad set writes nothing)',
        diff: decision.diff(),
      },
    });
  }
  return { synced, refused };
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

/** The run's refusal when any object failed so far, naming each failing object and its reason. */
function refusal(
  objects: PlannedObject[],
  decisions: Map<string, ObjectDecision>,
  synced: Map<string, ObjectSync>,
): string | undefined {
  const failed = objects.flatMap((o) => {
    const sync = synced.get(o.key);
    const decision = decisions.get(o.key);
    const result = sync?.result ?? (decision && !decision.write ? decision.done.result : undefined);
    if (result?.action !== 'failed') return [];
    // Most messages name their object already: say it once.
    const message = result.message ?? 'failed';
    const name = describeRef(o.ref);
    return [message.startsWith(name) ? message : `${name}: ${message}`];
  });
  if (failed.length === 0) return undefined;
  return `nothing was applied: ${failed.length} object(s) failed before the first write:\n  ${failed.join('\n  ')}`;
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
