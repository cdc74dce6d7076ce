/**
 * `driftless status [--app NAME]`: one line per app of the history store, like `argocd app list`
 * or `flux get kustomizations`: app, cluster, last outcome, health, revision, age of the last run
 * and of the last `Synced` one, and whether it is suspended or pinned.
 */
import { Command } from 'commander';
import { type AppControls, controlsOf } from '../history/controls.ts';
import { openHistoryStore } from '../history/open-store.ts';
import type { HistoryStore, RunStatus, SyncRecord } from '../history/store.ts';
import type { Health } from '../reconcile/types.ts';
import { historySpec } from './locations.ts';
import { formatObjects, historyOption, type OutputFormat, outputOption } from './options.ts';
import { firstLine, shortRevision, table } from './render.ts';
import { writeStdout } from './stdout.ts';
import { historyMissing } from './stored-history.ts';

/** How many recent runs of all apps `status` reads to find the apps and their last runs. */
const RECENT_RUNS = 200;
/** How far back one app's runs are searched for its last `Synced` run. */
const APP_RUNS = 200;

/** One app on one cluster, as `status -o json` prints it (one object per line). */
export interface AppStatus {
  app: string;
  cluster?: string;
  /** Status of the last sync (plans are not counted: they change nothing). */
  outcome?: RunStatus;
  health?: Health;
  revision?: string;
  lastRunId?: string;
  lastRunAt?: string;
  lastSyncedAt?: string;
  error?: string;
  suspended?: AppControls['suspended'];
  pinned?: AppControls['pinned'];
}

export function statusCommand(): Command {
  return new Command('status')
    .description('one line per app: last outcome, health, revision, age, suspended or pinned')
    .option('--app <name>', 'only this app')
    .addOption(historyOption())
    .addOption(outputOption())
    .action(async (options: { app?: string; history?: string; output: OutputFormat }) => {
      const statuses = historyMissing(options.history) ? [] : await readStatuses(options);
      await writeStdout(
        options.output === 'text'
          ? renderStatus(statuses, Date.now())
          : formatObjects(statuses, options.output),
      );
    });
}

async function readStatuses(options: { app?: string; history?: string }): Promise<AppStatus[]> {
  const store = await openHistoryStore(historySpec(options.history));
  try {
    return await appStatuses(store, options.app);
  } finally {
    await store.close();
  }
}

/** The status of every app (or of `app`) from its recent runs and its controls. */
export async function appStatuses(store: HistoryStore, app?: string): Promise<AppStatus[]> {
  const runs = await store.listRuns({ app, limit: app ? APP_RUNS : RECENT_RUNS });
  const controls = await (controlsOf(store)?.listControls() ?? Promise.resolve([]));
  const byApp = new Map<string, AppStatus>();
  for (const run of runs) {
    if (run.dryRun) continue;
    const key = `${run.app}\n${run.cluster ?? ''}`;
    const status = byApp.get(key) ?? fromLastRun(run);
    byApp.set(key, status);
    if (!status.lastSyncedAt && run.outcome === 'Synced') status.lastSyncedAt = run.startedAt;
  }
  // The last Synced run of an app may be older than the window of all apps' runs.
  for (const status of byApp.values()) {
    if (status.lastSyncedAt || app) continue;
    const older = await store.listRuns({ app: status.app, limit: APP_RUNS });
    status.lastSyncedAt = older.find(
      (run) => !run.dryRun && run.outcome === 'Synced' && (run.cluster ?? '') === (status.cluster ?? ''),
    )?.startedAt;
  }
  const statuses = [...byApp.values()];
  for (const control of controls) {
    if (app && control.app !== app) continue;
    const matching = statuses.filter((status) => status.app === control.app);
    if (matching.length === 0) matching.push(pushed(statuses, { app: control.app }));
    for (const status of matching) {
      if (control.suspended) status.suspended = control.suspended;
      if (control.pinned) status.pinned = control.pinned;
    }
  }
  return statuses.sort(
    (a, b) => a.app.localeCompare(b.app) || (a.cluster ?? '').localeCompare(b.cluster ?? ''),
  );
}

function pushed(statuses: AppStatus[], status: AppStatus): AppStatus {
  statuses.push(status);
  return status;
}

function fromLastRun(run: SyncRecord): AppStatus {
  const status: AppStatus = {
    app: run.app,
    cluster: run.cluster,
    outcome: run.outcome,
    health: run.health,
    revision: run.revision || undefined,
    lastRunId: run.runId,
    lastRunAt: run.startedAt,
  };
  if (run.error) status.error = run.error;
  return status;
}

/** `3s`, `5m`, `2h`, `4d`: the age of an event at `now`. */
export function formatAge(at: string | undefined, now: number): string {
  if (!at) return '-';
  const seconds = Math.max(0, Math.floor((now - Date.parse(at)) / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

function controlsColumn(status: AppStatus): string {
  const parts: string[] = [];
  if (status.suspended) parts.push('suspended');
  if (status.pinned) parts.push(`pinned ${shortRevision(status.pinned.revision)}`);
  return parts.join(', ');
}

export function renderStatus(statuses: AppStatus[], now: number): string {
  if (statuses.length === 0) return 'no apps recorded\n';
  const rows = statuses.map((status) => [
    status.app,
    status.cluster ?? '-',
    status.outcome ?? '-',
    status.health ?? '-',
    status.revision ? shortRevision(status.revision) : '-',
    formatAge(status.lastRunAt, now),
    formatAge(status.lastSyncedAt, now),
    controlsColumn(status),
    status.outcome !== 'Synced' && status.error ? firstLine(status.error) : '',
  ]);
  return `${table(['APP', 'CLUSTER', 'OUTCOME', 'HEALTH', 'REVISION', 'LAST RUN', 'LAST SYNCED', 'CONTROLS', 'ERROR'], rows)}\n`;
}
