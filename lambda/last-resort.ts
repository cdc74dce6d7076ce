/**
 * The last resort of the two shells (Lambda handler, CLI): a failure nothing awaits (a promise
 * rejected and never awaited, an exception thrown in a timer or event handler) would otherwise
 * kill the process and leave its run `Running` in the history for good. Here it ends as a run
 * recorded `Failed`, naming the error (its message only: no stack trace, no payload, credentials
 * in URLs masked), one log line, and an exit the caller sees:
 * - CLI: exit code 2 (failed), as any failed run.
 * - Lambda: the error (masked) is handed to the listeners that were there before, the runtime's,
 *   which fail the invocation and restart the environment, so retries and alarms see it.
 *
 * A shell wraps each run in `guardRun`, which learns the run's record from `runSync` through its
 * `onRunStarted` hook; `installLastResort` adds the process listeners once.
 */
import type { HistoryStore, SyncRecord } from './history/store.ts';
import { errorMessage, type SyncLogger } from './log.ts';
import { redactCredentialsIn } from './source/errors.ts';

export interface LastResortOptions {
  /** Where the one line about the failure goes. */
  logger: SyncLogger;
  /** Called after the line is logged, before the process ends (e.g. Powertools' `flushBuffer`). */
  flush?: () => void | Promise<void>;
  /** The exit code when the process ends here. */
  exitCode: number;
  /**
   * Hand the masked error to the listeners installed before this one (the Lambda runtime's)
   * instead of exiting; exits with `exitCode` when there were none. @default false
   */
  passToPrevious?: boolean;
  /** Longest wait for the history store before the process ends anyway. @default 5000 */
  recordTimeoutMs?: number;
}

/** Called with the run's record (as recorded) once the process is going to end. */
export type FatalReport = (record: SyncRecord) => Promise<void> | void;

interface Watched {
  record: SyncRecord;
  store: HistoryStore;
  report?: FatalReport;
}

/** Runs in flight in this process: one per CLI, one per Lambda invocation. */
const inFlight = new Set<Watched>();
let installed = false;
let ending = false;

/**
 * Runs `sync` (a `runSync` call given `onRunStarted`) with its run watched: should the process
 * meet a fatal error before it settles, the run is finished `Failed` in `store`, and `report` is
 * told (e.g. to print the CLI's one JSON object).
 */
export async function guardRun<T>(
  store: HistoryStore,
  sync: (onRunStarted: (record: SyncRecord) => void) => Promise<T>,
  report?: FatalReport,
): Promise<T> {
  let watched: Watched | undefined;
  try {
    return await sync((record) => {
      watched = { record, store, report };
      inFlight.add(watched);
    });
  } finally {
    if (watched) inFlight.delete(watched);
  }
}

/** Adds the `unhandledRejection` and `uncaughtException` listeners, once per process. */
export function installLastResort(options: LastResortOptions): void {
  if (installed) return;
  installed = true;
  for (const event of ['unhandledRejection', 'uncaughtException'] as const) {
    const previous: ((...args: unknown[]) => void)[] = options.passToPrevious
      ? (process.listeners(event as 'unhandledRejection') as never[])
      : [];
    for (const earlier of previous) process.removeListener(event, earlier);
    const listener = (reason: unknown, extra: unknown) => {
      void onFatal(options, reason, (masked) => {
        if (!previous.length) process.exit(options.exitCode);
        for (const earlier of previous) earlier(masked, extra);
      });
    };
    process.on(event as 'unhandledRejection', listener);
  }
}

async function onFatal(
  options: LastResortOptions,
  reason: unknown,
  end: (masked: Error) => void,
): Promise<void> {
  // A second failure while the first is being recorded changes nothing: the process is ending.
  if (ending) return;
  ending = true;
  // Should anything below hang and the event loop empty, the process still ends as failed.
  process.exitCode = options.exitCode;
  const message = describeFailure(reason);
  const runs = [...inFlight];
  const recorded = await withTimeout(
    Promise.allSettled(runs.map((run) => recordFailed(run, message))),
    options.recordTimeoutMs ?? 5000,
  );
  const run = runs[0]?.record;
  options.logger.error(`unexpected failure: ${message}`, {
    ...(run ? { app: run.app, runId: run.runId } : {}),
    recorded: !runs.length
      ? 'no run in flight'
      : recorded?.every((result) => result.status === 'fulfilled')
        ? 'Failed'
        : 'not recorded (history store failed)',
  });
  await options.flush?.();
  const masked = new Error(message);
  masked.name = 'DriftlessUnexpectedFailure';
  masked.stack = `${masked.name}: ${message}`;
  end(masked);
}

async function recordFailed(run: Watched, message: string): Promise<void> {
  const finishedAt = Date.now();
  const failed: SyncRecord = {
    ...run.record,
    outcome: 'Failed',
    error: `unexpected failure, the run was stopped: ${message}`,
    finishedAt: new Date(finishedAt).toISOString(),
    durationMs: Math.max(0, finishedAt - Date.parse(run.record.startedAt)),
  };
  await run.store.finishRun(failed);
  await run.report?.(failed);
}

/** The error's message on one line, credentials in URLs masked; a thrown non-Error shows only its type. */
export function describeFailure(reason: unknown): string {
  const text =
    reason instanceof Error || typeof reason === 'string'
      ? errorMessage(reason)
      : `a value of type ${reason === null ? 'null' : typeof reason} was thrown`;
  const line = redactCredentialsIn(text).replace(/\s+/g, ' ').trim();
  return line.length > MAX_MESSAGE ? `${line.slice(0, MAX_MESSAGE)}…` : line || 'an empty error';
}

const MAX_MESSAGE = 500;

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
