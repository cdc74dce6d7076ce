/**
 * The logging surface of a sync. The Lambda passes a Powertools `Logger` (JSON lines), the CLI a
 * plain stderr writer; the engine only sees this interface. Stable keys, one event per line.
 */
import type { SyncRun } from './sync.ts';

/** What the engine logs through: a subset of the Powertools `Logger`. */
export interface SyncLogger {
  debug(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

export const silentLogger: SyncLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Logs a finished run: one line per object that changed or needs attention (`action`, `kind`,
 * `namespace`, `name`, never a diff), then one `sync finished` line with the counts.
 */
export function logSyncRun(logger: SyncLogger, run: SyncRun): void {
  const { record } = run;
  for (const resource of record.resources) {
    if (resource.action === 'unchanged') continue;
    const line = {
      app: record.app,
      action: resource.action,
      apiVersion: resource.apiVersion,
      kind: resource.kind,
      namespace: resource.namespace,
      name: resource.name,
      detail: resource.message,
    };
    if (resource.action === 'failed') logger.warn('object failed', line);
    else logger.info(`object ${resource.action}`, line);
  }
  const summary = {
    app: record.app,
    cluster: record.cluster,
    revision: record.revision,
    previousRevision: run.previousRevision,
    outcome: record.outcome,
    dryRun: record.dryRun,
    trigger: record.trigger,
    runId: record.runId,
    counts: record.counts,
    health: record.health,
    durationMs: record.durationMs,
    error: record.error,
    interrupted: run.interrupted.map((dead) => dead.runId),
  };
  if (record.outcome === 'Failed') logger.error('sync finished', summary);
  else logger.info('sync finished', summary);
}
