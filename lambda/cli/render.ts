/**
 * Text output of the CLI, for people: a table of objects and actions, the diffs a reader needs,
 * and one summary line. Machines use `--output json` instead, whose shape is the contract.
 */
import type { RunStatus, SyncRecord } from '../history/store.ts';
import type { Action, ResourceResult, SyncResult } from '../reconcile/types.ts';
import { countActions, toResult } from '../sync.ts';

/** One line of `history --output json`: the contract shape, plus what only the history knows. */
export interface HistoryEntry extends SyncResult {
  /** The stored status; differs from `outcome` for runs that did not finish a sync. */
  status: RunStatus;
  runId: string;
  trigger: string;
}

/** Why a run that did not finish a sync counts as `Failed`, when its record names no error. */
const UNFINISHED_ERRORS: Partial<Record<RunStatus, string>> = {
  Running: 'run not finished: still running, or stopped before it could record a result',
  Interrupted: 'run interrupted: it stopped (killed, timed out or crashed) before recording a result',
  Skipped: 'run skipped: another run of this app held the lease',
};

/**
 * A stored record in the `--output json` contract shape: `outcome` is only Synced, OutOfSync or
 * Failed (Running, Interrupted and Skipped become Failed with an error); `status` keeps the stored one.
 */
export function historyEntry(record: SyncRecord): HistoryEntry {
  const result = toResult({ ...record, error: record.error ?? UNFINISHED_ERRORS[record.outcome] });
  return { ...result, status: record.outcome, runId: record.runId, trigger: record.trigger };
}

/** Order of the counts in summaries: what changed first. */
const ACTION_ORDER: Action[] = [
  'created',
  'configured',
  'pruned',
  'drifted',
  'orphaned',
  'failed',
  'skipped',
  'unchanged',
];

/** A plain, left-aligned table; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** A plan speaks in the conditional: it changed nothing. */
const PLANNED: Partial<Record<Action, string>> = {
  created: 'would create',
  configured: 'would configure',
  pruned: 'would prune',
};

function actionWord(action: Action, dryRun: boolean): string {
  return dryRun ? (PLANNED[action] ?? action) : action;
}

export function formatCounts(counts: Partial<Record<Action, number>>, dryRun = false): string {
  const parts = ACTION_ORDER.filter((action) => counts[action]).map(
    (action) => `${counts[action]} ${actionWord(action, dryRun)}`,
  );
  return parts.length ? parts.join(', ') : 'no objects';
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function shortRevision(revision: string): string {
  return /^[0-9a-f]{40,64}$/.test(revision) ? revision.slice(0, 7) : revision || '-';
}

function objectId(resource: ResourceResult): string {
  return `${resource.kind} ${resource.namespace ? `${resource.namespace}/` : ''}${resource.name}`;
}

export interface RenderOptions {
  /** Hide `unchanged` rows (the summary still counts them). @default false */
  quiet?: boolean;
  /** Show every stored diff, not only what a plan would write or drift left unhealed. @default false */
  allDiffs?: boolean;
  /** End with the summary line. @default true */
  summary?: boolean;
  /** The stored status to lead the summary with (`Skipped`), when it says more than the outcome. */
  status?: RunStatus;
}

/** The result of `sync` or `plan`: table, diffs of what (would) change, then the summary line. */
export function renderSyncResult(result: SyncResult, options: RenderOptions = {}): string {
  const out: string[] = [];
  const rows = options.quiet
    ? result.resources.filter((resource) => resource.action !== 'unchanged')
    : result.resources;
  if (rows.length > 0) {
    out.push(
      table(
        ['ACTION', 'KIND', 'NAMESPACE', 'NAME', 'HEALTH', 'MESSAGE'],
        rows.map((resource) => [
          actionWord(resource.action, result.dryRun),
          resource.kind,
          resource.namespace ?? '',
          resource.name,
          resource.health ?? '',
          resource.message ?? '',
        ]),
      ),
    );
  }
  // A plan shows what it would write; a sync shows drift it reported but did not heal.
  const withDiff = result.resources.filter(
    (resource) => resource.diff && (options.allDiffs || result.dryRun || resource.action === 'drifted'),
  );
  for (const resource of withDiff) {
    out.push(
      '',
      `--- ${objectId(resource)} (${actionWord(resource.action, result.dryRun)})`,
      resource.diff!.trimEnd(),
    );
  }
  if (options.summary === false) return out.length ? `${out.join('\n')}\n` : '';
  if (out.length) out.push('');
  out.push(summaryLine(result, options.status));
  if (result.error) out.push(`error: ${result.error}`);
  return `${out.join('\n')}\n`;
}

export function summaryLine(result: SyncResult, status: RunStatus = result.outcome): string {
  const verb = result.dryRun ? 'plan' : 'sync';
  const counts = formatCounts(countActions(result.resources), result.dryRun);
  // A plan of objects that do not exist yet has no health to speak of.
  const measured = !result.dryRun || result.resources.some((resource) => resource.health);
  const health = result.health && measured ? `; health ${result.health}` : '';
  const pinned = (result as { pinned?: string }).pinned ? ' (pinned)' : '';
  return `${status}: ${verb} of ${result.app} at ${shortRevision(result.revision)}${pinned}: ${counts} in ${formatDuration(result.durationMs)}${health}`;
}

/** `driftless history` as a table, newest first, with each run's error under it. */
export function renderHistory(records: SyncRecord[]): string {
  if (records.length === 0) return 'no runs recorded\n';
  const rows = records.map((run) => [
    run.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    run.app,
    run.cluster ?? '',
    `${shortRevision(run.revision)}${run.pinned ? ' (pinned)' : ''}`,
    run.outcome,
    run.health ?? '',
    run.dryRun ? 'plan' : 'sync',
    run.trigger,
    formatCounts(run.counts, run.dryRun),
    run.finishedAt ? formatDuration(run.durationMs) : '-',
    run.error ? firstLine(run.error) : '',
  ]);
  return `${table(['STARTED', 'APP', 'CLUSTER', 'REVISION', 'OUTCOME', 'HEALTH', 'MODE', 'TRIGGER', 'OBJECTS', 'DURATION', 'ERROR'], rows)}\n`;
}

export function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 100 ? `${line.slice(0, 97)}...` : line;
}

/**
 * A failed renderer's whole error output, for the person running `driftless render` only: the
 * run record, logs and events keep its first lines with long encoded runs masked.
 */
export function renderFailureText(detail: string): string {
  return `--- renderer output (shown here only; runs, logs and events keep its first lines, masked) ---\n${detail.trimEnd()}\n---\n`;
}
