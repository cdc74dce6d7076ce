/**
 * What an invocation of the Lambda handler reports about its run: the summary it returns and the
 * EMF metrics the alarms are built on (one document per run, dimension `app`).
 */
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { AppConfig } from './config.ts';
import type { RunStatus } from './history/store.ts';
import type { Action, Health } from './reconcile/types.ts';
import type { SyncRun } from './sync.ts';

/** What an invocation returns: the run without its per-object detail (that is in the history). */
export interface SyncSummary {
  app: string;
  runId?: string;
  cluster: string;
  revision: string;
  previousRevision?: string;
  /** The run's status; `Suspended` when the app is suspended in the config and nothing ran. */
  outcome: RunStatus | 'Suspended';
  dryRun: boolean;
  counts: Partial<Record<Action, number>>;
  /** The app's health at the end of the run (worst of its objects). */
  health?: Health;
  startedAt?: string;
  finishedAt?: string;
  durationMs: number;
  error?: string;
  /** Earlier runs this one found dead and marked `Interrupted`. */
  interrupted: string[];
}

/** One EMF document per run, dimension `app`. Drift healed on the same revision counts as drift. */
export function recordMetrics(metrics: Metrics, run: SyncRun): void {
  const { record } = run;
  // A run that found the lease taken did nothing; its log line says so, the metrics stay clean.
  if (record.outcome === 'Skipped') return;
  const counts = record.counts;
  const applied = (counts.created ?? 0) + (counts.configured ?? 0);
  const sameRevision = record.revision !== '' && record.revision === run.previousRevision;
  metrics.addDimension('app', record.app);
  metrics.addMetric('SyncRuns', MetricUnit.Count, 1);
  metrics.addMetric('SyncFailures', MetricUnit.Count, record.outcome === 'Failed' ? 1 : 0);
  // The heartbeat: an alarm fires when no run of the app ended Synced for a while (infra/alarms.ts).
  metrics.addMetric('SyncedRuns', MetricUnit.Count, record.outcome === 'Synced' ? 1 : 0);
  metrics.addMetric('DriftDetected', MetricUnit.Count, (counts.drifted ?? 0) + (sameRevision ? applied : 0));
  metrics.addMetric('ObjectsApplied', MetricUnit.Count, applied);
  metrics.addMetric('ObjectsPruned', MetricUnit.Count, counts.pruned ?? 0);
  metrics.addMetric('SyncDuration', MetricUnit.Milliseconds, record.durationMs);
}

export function summarize(run: SyncRun): SyncSummary {
  const { record } = run;
  return {
    app: record.app,
    runId: record.runId,
    cluster: record.cluster ?? '',
    revision: record.revision,
    previousRevision: run.previousRevision,
    outcome: record.outcome,
    dryRun: record.dryRun,
    counts: record.counts,
    health: record.health,
    startedAt: record.startedAt,
    finishedAt: record.finishedAt,
    durationMs: record.durationMs,
    error: record.error,
    interrupted: run.interrupted.map((dead) => dead.runId),
  };
}

export function suspendedSummary(app: AppConfig): SyncSummary {
  return {
    app: app.name,
    cluster: `${app.cluster.name} (${app.cluster.region})`,
    revision: '',
    outcome: 'Suspended',
    dryRun: false,
    counts: {},
    durationMs: 0,
    interrupted: [],
  };
}
