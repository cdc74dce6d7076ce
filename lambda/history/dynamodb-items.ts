/**
 * How runs and state become DynamoDB items, and how they fit the 400 KB item limit.
 *
 * Key layout (one table, no index):
 * - `APP#<app>` / `RUN#<startedAt ISO>#<runId>`: one run record; sorts newest last, so a
 *   descending query is "newest first" per app.
 * - `RUNS` / `<startedAt ISO>#<app>#<runId>`: a small pointer per run, so "newest first across
 *   apps" is one query on one partition (then a BatchGetItem of the records).
 * - `APP#<app>` / `RUNNING#<runId>`: present while a run is `Running`; lets `markInterrupted` find
 *   unfinished runs without reading the app's whole history.
 * - `APP#<app>` / `STATE#<cluster>` and `APP#<app>` / `LEASE#<cluster>`: state and lease per
 *   app and cluster (`cluster` from `clusterIdentity`; the `STATE` and `LEASE` items of older
 *   versions, keyed by app alone, are no longer read).
 *
 * A record's `resources` are stored gzip-compressed; when even that passes the budget, diffs are
 * trimmed (then dropped), then `unchanged` entries, then the tail of the list. `counts` always
 * keep the true totals.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { AppState, ResourceResult } from '../reconcile/types.ts';
import { sortableTime } from './run-order.ts';
import type { SyncRecord } from './store.ts';

/** Compressed `resources` bytes allowed in one run item: 400 KB minus room for the other attributes. */
export const RESOURCES_BUDGET_BYTES = 340 * 1024;
/** Compressed state bytes allowed in one state item. */
export const STATE_BUDGET_BYTES = 390 * 1024;
/** Longest `error` stored; run errors are messages, not logs. */
export const ERROR_MAX_CHARS = 8 * 1024;
/** Per-diff caps tried in turn until the record fits; 0 drops diffs. */
const DIFF_CAPS = [Number.POSITIVE_INFINITY, 16 * 1024, 4 * 1024, 1024, 256, 0];
/** Ends a trimmed diff, so a reader knows the history holds less than the run saw. */
export const DIFF_TRIMMED_MARKER = '\n... (diff trimmed to fit the history record)';

export const RUNS_INDEX_PK = 'RUNS';
export function stateSk(cluster: string): string {
  return `STATE#${cluster}`;
}

export function leaseSk(cluster: string): string {
  return `LEASE#${cluster}`;
}
export const RUN_SK_PREFIX = 'RUN#';
export const RUNNING_SK_PREFIX = 'RUNNING#';

export function appPk(app: string): string {
  return `APP#${app}`;
}

export function runSk(record: Pick<SyncRecord, 'startedAt' | 'runId'>): string {
  return `${RUN_SK_PREFIX}${sortableTime(record.startedAt)}#${record.runId}`;
}

export function runsIndexSk(record: Pick<SyncRecord, 'startedAt' | 'runId' | 'app'>): string {
  return `${sortableTime(record.startedAt)}#${record.app}#${record.runId}`;
}

/** The run record's attributes: the record itself (minus `resources`) plus compressed resources. */
export function toRunAttributes(record: SyncRecord): Record<string, unknown> {
  const { resources, error, ...rest } = record;
  return {
    ...rest,
    ...(error === undefined ? {} : { error: truncate(error, ERROR_MAX_CHARS) }),
    resources: fitResources(resources),
  };
}

export function fromRunAttributes(item: Record<string, unknown>): SyncRecord {
  const { pk: _pk, sk: _sk, expiresAt: _expiresAt, resources, ...rest } = item;
  return { ...(rest as Omit<SyncRecord, 'resources'>), resources: gunzipJson(resources) as ResourceResult[] };
}

export function encodeState(app: string, state: AppState): Uint8Array {
  const bytes = gzipJson(state);
  if (bytes.length > STATE_BUDGET_BYTES) {
    throw new Error(
      `state of app ${app} is ${bytes.length} bytes compressed (${state.inventory.length} objects), ` +
        `over the ${STATE_BUDGET_BYTES}-byte DynamoDB item budget`,
    );
  }
  return bytes;
}

export function decodeState(bytes: unknown): AppState {
  return gunzipJson(bytes) as AppState;
}

/** Gzipped JSON of the resources, reduced step by step until it fits `RESOURCES_BUDGET_BYTES`. */
export function fitResources(resources: ResourceResult[]): Uint8Array {
  for (const cap of DIFF_CAPS) {
    const bytes = gzipJson(
      cap === Number.POSITIVE_INFINITY ? resources : resources.map((r) => capDiff(r, cap)),
    );
    if (bytes.length <= RESOURCES_BUDGET_BYTES) return bytes;
  }
  const changed = resources.filter((r) => r.action !== 'unchanged').map((r) => capDiff(r, 0));
  // Binary search the longest prefix of changed entries that fits: a last resort for huge runs.
  let low = 0;
  let high = changed.length;
  let best = gzipJson([]);
  while (low <= high) {
    const middle = Math.floor((low + high) / 2);
    const bytes = gzipJson(changed.slice(0, middle));
    if (bytes.length <= RESOURCES_BUDGET_BYTES) {
      best = bytes;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return best;
}

function capDiff(resource: ResourceResult, cap: number): ResourceResult {
  if (resource.diff === undefined || resource.diff.length <= cap) return resource;
  if (cap === 0) {
    const { diff: _dropped, ...rest } = resource;
    return rest;
  }
  return { ...resource, diff: resource.diff.slice(0, cap) + DIFF_TRIMMED_MARKER };
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (truncated)`;
}

function gzipJson(value: unknown): Uint8Array {
  return gzipSync(JSON.stringify(value));
}

function gunzipJson(bytes: unknown): unknown {
  if (!(bytes instanceof Uint8Array)) throw new Error('history item holds no compressed payload');
  return JSON.parse(gunzipSync(bytes).toString('utf8'));
}
