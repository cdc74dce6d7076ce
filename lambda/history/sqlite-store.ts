/**
 * The history store of the CLI: one `node:sqlite` file (built into Node 24), by default
 * `.driftless/history.db`. WAL mode and a busy timeout let two CLI processes share it; every
 * write that can race is one conditional statement or an immediate transaction.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { AppState } from '../reconcile/types.ts';
import type { AppControls, ControlsStore, Pin, Suspension } from './controls.ts';
import { redactRecord } from './redaction.ts';
import { sortableTime } from './run-order.ts';
import { SqliteControls } from './sqlite-controls.ts';
import {
  type AppKey,
  type HistoryStore,
  StateConflictError,
  type StoredState,
  type SyncRecord,
} from './store.ts';

/** Where the CLI keeps its history unless `--history` says otherwise. */
export const DEFAULT_SQLITE_PATH = '.driftless/history.db';

export interface SqliteHistoryStoreOptions {
  /** Database file; its folder is created. `:memory:` keeps nothing. @default `.driftless/history.db` */
  path?: string;
  /** How long a write waits for another process's write to finish. @default 5000 */
  busyTimeoutMs?: number;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS runs (
    app TEXT NOT NULL,
    run_id TEXT NOT NULL,
    started_at TEXT NOT NULL, -- Date#toISOString, so text order is time order
    outcome TEXT NOT NULL,
    record TEXT NOT NULL,     -- the SyncRecord as JSON
    PRIMARY KEY (app, run_id)
  );
  CREATE INDEX IF NOT EXISTS runs_newest ON runs (started_at DESC, app DESC, run_id DESC);
  CREATE INDEX IF NOT EXISTS runs_newest_per_app ON runs (app, started_at DESC, run_id DESC);
  -- State and lease per app and cluster (the tables 'state' and 'lease' of older versions,
  -- keyed by app alone, are no longer read).
  CREATE TABLE IF NOT EXISTS app_state (
    app TEXT NOT NULL,
    cluster TEXT NOT NULL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (app, cluster)
  );
  CREATE TABLE IF NOT EXISTS app_lease (
    app TEXT NOT NULL,
    cluster TEXT NOT NULL,
    owner TEXT NOT NULL,
    lease_until INTEGER NOT NULL, -- epoch ms; expiry is checked on acquire, rows are never swept
    PRIMARY KEY (app, cluster)
  );
`;

/**
 * `HistoryStore` in one SQLite file. Records pass `redactRecord` and are kept whole (no item
 * limit here) and forever (the CLI's history grows by one row per run; delete the file to reset).
 */
export class SqliteHistoryStore implements HistoryStore, ControlsStore {
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #controls: SqliteControls;

  constructor(options: SqliteHistoryStoreOptions = {}) {
    this.path = options.path ?? DEFAULT_SQLITE_PATH;
    if (this.path !== ':memory:') mkdirSync(dirname(this.path), { recursive: true });
    this.#db = new DatabaseSync(this.path, { timeout: options.busyTimeoutMs ?? 5000 });
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
    this.#transaction(() => this.#db.exec(SCHEMA));
    this.#controls = new SqliteControls(this.#db);
  }

  async startRun(record: SyncRecord): Promise<void> {
    this.#writeRun(record);
  }

  async finishRun(record: SyncRecord): Promise<void> {
    this.#writeRun(record);
  }

  async listRuns(query: { app?: string; limit?: number } = {}): Promise<SyncRecord[]> {
    const limit = query.limit ?? 20;
    if (!Number.isInteger(limit) || limit < 1)
      throw new Error(`limit must be a positive integer, got ${limit}`);
    const rows =
      query.app === undefined
        ? this.#db
            .prepare('SELECT record FROM runs ORDER BY started_at DESC, app DESC, run_id DESC LIMIT ?')
            .all(limit)
        : this.#db
            .prepare('SELECT record FROM runs WHERE app = ? ORDER BY started_at DESC, run_id DESC LIMIT ?')
            .all(query.app, limit);
    return rows.map((row) => JSON.parse(String(row.record)) as SyncRecord);
  }

  async markInterrupted(
    { app, cluster }: AppKey,
    exceptRunId: string,
    finishedAt: string,
  ): Promise<SyncRecord[]> {
    return this.#transaction(() => {
      const rows = this.#db
        .prepare(
          `SELECT record FROM runs WHERE app = ? AND outcome = 'Running' AND run_id <> ?
             AND coalesce(json_extract(record, '$.clusterId'), ?) = ?
           ORDER BY started_at DESC, run_id DESC`,
        )
        .all(app, exceptRunId, cluster, cluster);
      return rows.map((row) => {
        const running = JSON.parse(String(row.record)) as SyncRecord;
        const durationMs = Math.max(0, Date.parse(finishedAt) - Date.parse(running.startedAt));
        const interrupted: SyncRecord = { ...running, outcome: 'Interrupted', finishedAt, durationMs };
        this.#db
          .prepare(`UPDATE runs SET outcome = ?, record = ? WHERE app = ? AND run_id = ?`)
          .run(interrupted.outcome, JSON.stringify(interrupted), app, running.runId);
        return interrupted;
      });
    });
  }

  async getState({ app, cluster }: AppKey): Promise<StoredState | undefined> {
    const row = this.#db
      .prepare('SELECT version, state FROM app_state WHERE app = ? AND cluster = ?')
      .get(app, cluster);
    if (!row) return undefined;
    return { state: JSON.parse(String(row.state)) as AppState, version: Number(row.version) };
  }

  async putState({ app, cluster }: AppKey, state: AppState, expectedVersion: number): Promise<number> {
    const json = JSON.stringify(state);
    const { changes } =
      expectedVersion === 0
        ? this.#db
            .prepare(
              'INSERT INTO app_state (app, cluster, version, state) VALUES (?, ?, 1, ?) ON CONFLICT (app, cluster) DO NOTHING',
            )
            .run(app, cluster, json)
        : this.#db
            .prepare(
              'UPDATE app_state SET version = version + 1, state = ? WHERE app = ? AND cluster = ? AND version = ?',
            )
            .run(json, app, cluster, expectedVersion);
    if (Number(changes) === 0) {
      throw new StateConflictError(
        `state of app ${app} changed since version ${expectedVersion} was read; another run wrote it`,
      );
    }
    return expectedVersion + 1;
  }

  async acquireLease({ app, cluster }: AppKey, owner: string, ttlMs: number, now: number): Promise<boolean> {
    // One statement: insert when free, take over when expired or already ours, else change nothing.
    const { changes } = this.#db
      .prepare(
        `INSERT INTO app_lease (app, cluster, owner, lease_until) VALUES (?, ?, ?, ?)
         ON CONFLICT (app, cluster) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
         WHERE app_lease.lease_until <= ? OR app_lease.owner = excluded.owner`,
      )
      .run(app, cluster, owner, now + ttlMs, now);
    return Number(changes) > 0;
  }

  async releaseLease({ app, cluster }: AppKey, owner: string): Promise<void> {
    this.#db
      .prepare('DELETE FROM app_lease WHERE app = ? AND cluster = ? AND owner = ?')
      .run(app, cluster, owner);
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }

  // Operator controls (suspend, pin): see controls.ts.
  getControls(app: string): Promise<AppControls | undefined> {
    return this.#controls.getControls(app);
  }
  listControls(): Promise<AppControls[]> {
    return this.#controls.listControls();
  }
  setSuspended(app: string, suspension: Suspension | undefined): Promise<void> {
    return this.#controls.setSuspended(app, suspension);
  }
  setPinned(app: string, pin: Pin | undefined): Promise<void> {
    return this.#controls.setPinned(app, pin);
  }

  #writeRun(record: SyncRecord): void {
    const safe = redactRecord(record);
    this.#db
      .prepare(
        `INSERT INTO runs (app, run_id, started_at, outcome, record) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (app, run_id) DO UPDATE SET
           started_at = excluded.started_at, outcome = excluded.outcome, record = excluded.record`,
      )
      .run(safe.app, safe.runId, sortableTime(safe.startedAt), safe.outcome, JSON.stringify(safe));
  }

  /** Runs `work` in an immediate transaction: it takes the write lock up front, so it waits, not fails. */
  #transaction<T>(work: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.#db.exec('COMMIT');
      return result;
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
  }
}
