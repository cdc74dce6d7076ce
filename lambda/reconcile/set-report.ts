/**
 * How a set's run is told when it did not write everything: the refusal (objects failed before
 * the first write), the stop (a stage failed, later stages unwritten), and the `skipped` result of
 * each object left unwritten. Every object of the set gets a result, also one that never got to
 * its dry run because what it needed failed first.
 */
import { describeRef, toRef } from './refs.ts';
import { stageName } from './stages.ts';
import type { ObjectDecision, ObjectSync } from './sync-object.ts';
import type { ResourceResult } from './types.ts';
import type { PlannedObject } from './validate.ts';

/** Why the writes stopped: the stage whose objects failed to apply. */
export interface StageStop {
  stage: number;
  failed: PlannedObject[];
}

export const NOT_APPLIED_REFUSED =
  'not applied: other objects of this set failed before the first write (a bad set writes nothing)';

/** `Deployment a/b, Service a/c and 2 more` */
function listRefs(objects: PlannedObject[], max = 3): string {
  const names = objects.slice(0, max).map((o) => describeRef(o.ref));
  return objects.length > max ? `${names.join(', ')} and ${objects.length - max} more` : names.join(', ');
}

/** The result of an object settled so far, written or decided without a write. */
export function resultOf(
  object: PlannedObject,
  decisions: Map<string, ObjectDecision>,
  synced: Map<string, ObjectSync>,
): ResourceResult | undefined {
  const decision = decisions.get(object.key);
  return synced.get(object.key)?.result ?? (decision && !decision.write ? decision.done.result : undefined);
}

/**
 * The run's refusal when any object failed so far, naming each failing object, its reason and its
 * file, and what was written first because the rest could not be dry-run without it.
 */
export function refusal(
  objects: PlannedObject[],
  decisions: Map<string, ObjectDecision>,
  synced: Map<string, ObjectSync>,
): string | undefined {
  const failed = objects.flatMap((o) => {
    const result = resultOf(o, decisions, synced);
    if (result?.action !== 'failed') return [];
    // Most messages name their object already: say it once.
    const message = result.message ?? 'failed';
    const name = describeRef(o.ref);
    // The file names the template to fix (`helm template chart: web/crds/a.yaml`).
    return [`${message.startsWith(name) ? message : `${name}: ${message}`} (${o.origin.file})`];
  });
  if (failed.length === 0) return undefined;
  const first = objects.filter((o) =>
    ['created', 'configured'].includes(synced.get(o.key)?.result.action ?? ''),
  );
  const before =
    first.length > 0
      ? `\nexcept what the rest could not be dry-run without, written first: ${listRefs(first, 10)}`
      : '';
  return `nothing was applied: ${failed.length} object(s) failed before the first write:\n  ${failed.join('\n  ')}${before}`;
}

/** The run's error when a failed stage left later objects unwritten. */
export function stopMessage(stop: StageStop, skipped: number): string {
  return `stage "${stageName(stop.stage)}" failed (${listRefs(stop.failed)}): ${skipped} object(s) of later stages were not applied`;
}

/**
 * The `skipped` result of an object the run did not write. `needs`: the objects of the set it
 * could not be dry-run without (its Namespace, CRD, or the role it binds).
 */
export function skippedResult(
  object: PlannedObject,
  decision: ObjectDecision | undefined,
  stop: StageStop | undefined,
  failedNeed: PlannedObject | undefined,
): ResourceResult {
  const base = { ...toRef(object.ref), action: 'skipped' as const };
  if (!decision) {
    const message = failedNeed
      ? `not dry-run or applied: it needs ${describeRef(failedNeed.ref)}, which failed`
      : 'not dry-run or applied: other objects of this set failed first (a bad set writes nothing)';
    return { ...base, message };
  }
  const diff = decision.write ? decision.diff() : undefined;
  const message = stop
    ? `not applied: stage "${stageName(stop.stage)}" failed (${listRefs(stop.failed)}), so no later stage was written`
    : NOT_APPLIED_REFUSED;
  return { ...base, message, ...(diff ? { diff } : {}) };
}

/** In a plan, an object the refused set would have created or changed: `skipped`, as a sync reports it. */
export function notAppliedInPlan(result: ResourceResult): ResourceResult {
  const message = [NOT_APPLIED_REFUSED, result.message].filter(Boolean).join('; ');
  return { ...result, action: 'skipped', message };
}
