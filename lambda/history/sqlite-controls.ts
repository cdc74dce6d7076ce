/**
 * `ControlsStore` in the CLI's SQLite file: one row per app in a `controls` table of its own
 * (created on first use, so a history file written before controls existed keeps working).
 * Each setter is one upsert of one column.
 */
import type { DatabaseSync } from 'node:sqlite';
import type { AppControls, ControlsStore, Pin, Suspension } from './controls.ts';

const SCHEMA = `CREATE TABLE IF NOT EXISTS controls (
  app TEXT PRIMARY KEY,
  suspended TEXT, -- Suspension as JSON, NULL when not suspended
  pinned TEXT     -- Pin as JSON, NULL when not pinned
)`;

export class SqliteControls implements ControlsStore {
  readonly #db: DatabaseSync;
  #ready = false;

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  async getControls(app: string): Promise<AppControls | undefined> {
    this.#ensureTable();
    const row = this.#db.prepare('SELECT app, suspended, pinned FROM controls WHERE app = ?').get(app);
    return row ? toControls(row) : undefined;
  }

  async listControls(): Promise<AppControls[]> {
    this.#ensureTable();
    return this.#db.prepare('SELECT app, suspended, pinned FROM controls ORDER BY app').all().map(toControls);
  }

  async setSuspended(app: string, suspension: Suspension | undefined): Promise<void> {
    this.#set(app, 'suspended', suspension);
  }

  async setPinned(app: string, pin: Pin | undefined): Promise<void> {
    this.#set(app, 'pinned', pin);
  }

  #set(app: string, column: 'suspended' | 'pinned', value: object | undefined): void {
    this.#ensureTable();
    const json = value === undefined ? null : JSON.stringify(value);
    this.#db
      .prepare(
        `INSERT INTO controls (app, ${column}) VALUES (?, ?)
         ON CONFLICT (app) DO UPDATE SET ${column} = excluded.${column}`,
      )
      .run(app, json);
    this.#db.prepare('DELETE FROM controls WHERE app = ? AND suspended IS NULL AND pinned IS NULL').run(app);
  }

  #ensureTable(): void {
    if (this.#ready) return;
    this.#db.exec(SCHEMA);
    this.#ready = true;
  }
}

function toControls(row: Record<string, unknown>): AppControls {
  const controls: AppControls = { app: String(row.app) };
  if (row.suspended) controls.suspended = JSON.parse(String(row.suspended)) as Suspension;
  if (row.pinned) controls.pinned = JSON.parse(String(row.pinned)) as Pin;
  return controls;
}
