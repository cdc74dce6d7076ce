/**
 * The sync history, per-app state and lease: one interface, two stores (DynamoDB for the
 * Lambda, `node:sqlite` for the CLI) that pass the same contract test suite.
 */
import type { Action, AppState, SyncResult } from '../reconcile/types.ts';

/** A run's status in the history: a finished run's outcome, or what became of an unfinished one. */
export type RunStatus = SyncResult['outcome'] | 'Running' | 'Interrupted' | 'Skipped';

/** One run as stored and as printed by `driftless history --output json` (one per line). */
export interface SyncRecord extends Omit<SyncResult, 'outcome'> {
  /** Unique per run; orders runs that start in the same millisecond. */
  runId: string;
  outcome: RunStatus;
  /** What started the run: `schedule`, `cli`, `manual`, ... */
  trigger: string;
  /** Target cluster, for the log (EKS name or kubeconfig context). */
  cluster?: string;
  /** The commit the app was pinned to (`driftless pin`) when this run started. */
  pinned?: string;
  /** The cluster's identity (see `identity.ts`); runs of one app on two clusters are apart. */
  clusterId?: string;
  /** Objects per action. */
  counts: Partial<Record<Action, number>>;
}

/** One app on one cluster: state, inventory and lease are kept per key. */
export interface AppKey {
  app: string;
  /** The cluster's identity, from `clusterIdentity`. */
  cluster: string;
}

export interface StoredState {
  state: AppState;
  /** Increases by one on every write; 0 means "no state stored yet". */
  version: number;
}

/** `putState` lost an optimistic-concurrency race: someone else wrote the state first. */
export class StateConflictError extends Error {
  override name = 'StateConflictError';
}

export interface HistoryStore {
  /** Records a run as `Running` before any work, so a killed run leaves a trace. */
  startRun(record: SyncRecord): Promise<void>;
  /** Replaces the run's record (same app + runId) with its final form. */
  finishRun(record: SyncRecord): Promise<void>;
  /** Runs newest first, of one app or of all apps. @default limit 20 */
  listRuns(query?: { app?: string; limit?: number }): Promise<SyncRecord[]>;
  /**
   * Marks the app's runs on `key.cluster` still `Running` (and those that name no cluster), other
   * than `exceptRunId`, as `Interrupted` and returns them. Call only while holding the key's
   * lease: then no other run of the app on that cluster can still be alive.
   */
  markInterrupted(key: AppKey, exceptRunId: string, finishedAt: string): Promise<SyncRecord[]>;
  getState(key: AppKey): Promise<StoredState | undefined>;
  /**
   * Writes the state if the stored version still equals `expectedVersion` (0: none stored);
   * returns the new version, else throws `StateConflictError`.
   */
  putState(key: AppKey, state: AppState, expectedVersion: number): Promise<number>;
  /**
   * Takes the lease of the app on the cluster for `owner` until `now + ttlMs` when it is free,
   * expired, or already `owner`'s. Conditional writes with an expiry attribute, never TTL
   * deletion (which is lazy).
   */
  acquireLease(key: AppKey, owner: string, ttlMs: number, now: number): Promise<boolean>;
  /** Gives the lease back if `owner` still holds it. */
  releaseLease(key: AppKey, owner: string): Promise<void>;
  close(): Promise<void>;
}
