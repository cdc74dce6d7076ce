/**
 * The run event: what every finished run tells EventBridge (`source` `driftless`, `detail-type`
 * `Sync Run Finished`). Its `detail` is a public contract (README "Run events"): other AWS
 * services and the notification rule match on it. It carries no diff and no Secret value: object
 * messages are the ones the engine already logs, which never hold one.
 */
import type { RunStatus, SyncRecord } from '../history/store.ts';
import type { Action, Health } from '../reconcile/types.ts';

export const RUN_EVENT_SOURCE = 'driftless';
export const RUN_EVENT_DETAIL_TYPE = 'Sync Run Finished';

/** EventBridge refuses an entry over 256 KB; the detail stays well below, source and type included. */
export const MAX_DETAIL_BYTES = 240 * 1024;
const MAX_MESSAGE_CHARS = 1000;
const MAX_ERROR_CHARS = 4000;
/** Objects a notification names before "and N more". */
const SUMMARY_OBJECTS = 3;

/** The actions worth telling about: what changed on its own, broke, or was removed. */
const REPORTED_ACTIONS: ReadonlySet<Action> = new Set(['drifted', 'failed', 'pruned', 'orphaned']);

export interface RunEventObject {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  action: Action;
  message?: string;
}

/** The `detail` of a `Sync Run Finished` event. */
export interface RunEventDetail {
  app: string;
  cluster: string;
  runId: string;
  trigger: string;
  dryRun: boolean;
  outcome: RunStatus;
  /** Worst health of the applied objects; absent when the run never got that far. */
  health?: Health;
  revision: string;
  previousRevision?: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  counts: Partial<Record<Action, number>>;
  /** Drifted, failed, pruned and orphaned objects, at most as many as fit the event. */
  objects: RunEventObject[];
  /** Reported objects left out to keep the event under EventBridge's size limit. */
  objectsOmitted: number;
  error?: string;
  /** True when outcome or health differs from the app's previous finished run (or there was none). */
  changed: boolean;
  /** Outcome and health of that previous run. */
  previousOutcome?: RunStatus;
  previousHealth?: Health;
  /** One line for people: app, outcome (and what it was), revision, first objects, error. */
  summary: string;
}

/** The stored run this one is compared with: the latest finished, non-plan run of the app. */
export function previousFinishedRun(runs: readonly SyncRecord[], runId: string): SyncRecord | undefined {
  return runs.find(
    (run) =>
      run.runId !== runId &&
      !run.dryRun &&
      (run.outcome === 'Synced' || run.outcome === 'OutOfSync' || run.outcome === 'Failed'),
  );
}

/** Whether a run is worth a notification: its outcome or health differs from the previous one. */
export function hasChanged(run: SyncRecord, previous: SyncRecord | undefined): boolean {
  // A run that did not reconcile (lease held) says nothing about the app.
  if (run.outcome === 'Skipped') return false;
  if (!previous) return true;
  return run.outcome !== previous.outcome || run.health !== previous.health;
}

/** Builds the event detail of a finished run, capped to fit one EventBridge entry. */
export function runEventDetail(
  run: SyncRecord,
  previous: SyncRecord | undefined,
  previousRevision?: string,
): RunEventDetail {
  const reported = run.resources
    .filter((resource) => REPORTED_ACTIONS.has(resource.action))
    .map(
      ({ apiVersion, kind, namespace, name, action, message }): RunEventObject => ({
        apiVersion,
        kind,
        ...(namespace ? { namespace } : {}),
        name,
        action,
        ...(message ? { message: truncate(message, MAX_MESSAGE_CHARS) } : {}),
      }),
    );
  const error = run.error === undefined ? undefined : truncate(run.error, MAX_ERROR_CHARS);
  const changed = hasChanged(run, previous);
  const detail: RunEventDetail = {
    app: run.app,
    cluster: run.cluster ?? '',
    runId: run.runId,
    trigger: run.trigger,
    dryRun: run.dryRun,
    outcome: run.outcome,
    ...(run.health ? { health: run.health } : {}),
    revision: run.revision,
    ...(previousRevision ? { previousRevision } : {}),
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    durationMs: run.durationMs,
    counts: run.counts,
    objects: reported,
    objectsOmitted: 0,
    ...(error === undefined ? {} : { error }),
    changed,
    ...(previous ? { previousOutcome: previous.outcome } : {}),
    ...(previous?.health ? { previousHealth: previous.health } : {}),
    summary: summaryLine(run, previous, reported, error),
  };
  // Halve the object list until the whole detail fits; the summary was made from the full list.
  let keep = reported.length;
  while (keep > 0 && detailBytes(detail) > MAX_DETAIL_BYTES) {
    keep = Math.floor(keep / 2);
    detail.objects = reported.slice(0, keep);
    detail.objectsOmitted = reported.length - keep;
  }
  return detail;
}

export function detailBytes(detail: RunEventDetail): number {
  return Buffer.byteLength(JSON.stringify(detail));
}

/**
 * "guestbook: Failed (was Synced), health -, revision 1a2b3c4: Deployment web/api failed: ...".
 * Quotes, angle brackets and line breaks are replaced: the line is pasted into an EventBridge
 * input template, where `<` starts a variable and a quote would end a JSON string.
 */
function summaryLine(
  run: SyncRecord,
  previous: SyncRecord | undefined,
  objects: readonly RunEventObject[],
  error: string | undefined,
): string {
  const was = previous ? ` (was ${previous.outcome}${previous.health ? `/${previous.health}` : ''})` : '';
  const health = run.health ? `, health ${run.health}` : '';
  const revision = run.revision ? `, revision ${run.revision.slice(0, 12)}` : '';
  const parts = objects.slice(0, SUMMARY_OBJECTS).map((object) => {
    const id = `${object.kind} ${object.namespace ? `${object.namespace}/` : ''}${object.name}`;
    return `${id} ${object.action}${object.message ? `: ${truncate(object.message, 200)}` : ''}`;
  });
  if (objects.length > SUMMARY_OBJECTS) parts.push(`and ${objects.length - SUMMARY_OBJECTS} more`);
  if (error) parts.push(`error: ${truncate(error, 500)}`);
  const line = `${run.app}: ${run.outcome}${was}${health}${revision}${parts.length ? `. ${parts.join('; ')}` : ''}`;
  return line.replace(/["\\<>]/g, "'").replace(/\s+/g, ' ');
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
