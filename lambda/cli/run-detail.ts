/** `driftless history --run RUN_ID`: one run in full, every object with its action, message and diff. */
import type { HistoryStore, SyncRecord } from '../history/store.ts';
import { toResult } from '../sync.ts';
import { formatCounts, formatDuration, renderSyncResult } from './render.ts';

/** How far back `--run` looks when no `--app` narrows it. */
const SEARCH_LIMIT = 1000;

/** The run with `runId`, searched among the app's runs (or the newest runs of all apps). */
export async function findRun(store: HistoryStore, runId: string, app?: string): Promise<SyncRecord> {
  const runs = await store.listRuns({ app, limit: SEARCH_LIMIT });
  const run = runs.find((candidate) => candidate.runId === runId);
  if (run) return run;
  const where = app
    ? `among the runs of app "${app}"`
    : `among the newest ${SEARCH_LIMIT} runs; pass --app to search one app's runs`;
  throw new Error(`no run ${runId} ${where} (run ids are in the output of driftless history -o json)`);
}

/** The run's facts, then the same table and diffs `sync` prints (diffs of every object that has one). */
export function renderRun(run: SyncRecord): string {
  const facts: [string, string | undefined][] = [
    ['Run', run.runId],
    ['App', run.app],
    ['Cluster', run.cluster],
    ['Mode', run.dryRun ? 'plan' : 'sync'],
    ['Trigger', run.trigger],
    ['Status', run.outcome],
    ['Health', run.health],
    ['Revision', run.revision || undefined],
    ['Pinned', run.pinned],
    ['Started', run.startedAt],
    ['Finished', run.finishedAt || undefined],
    ['Duration', run.finishedAt ? formatDuration(run.durationMs) : undefined],
    ['Objects', formatCounts(run.counts, run.dryRun)],
    ['Error', run.error],
  ];
  const head = facts
    .filter((fact): fact is [string, string] => Boolean(fact[1]))
    .map(([name, value]) => `${`${name}:`.padEnd(10)}${value}`)
    .join('\n');
  // Every stored diff, also of applied objects: this is the audit view.
  const body = renderSyncResult(toResult(run), { allDiffs: true, summary: false });
  return body ? `${head}\n\n${body}` : `${head}\n`;
}
