/**
 * The lease: one run of an app on a cluster writes at a time, and a run that may have lost its
 * lease stops writing before another can take it.
 *
 * - **take**: a conditional write in the history store (`acquireLease`), good until the time the
 *   request was sent plus the TTL (the store computes the expiry from that time, not from when it
 *   answered). Taken or refused before the run writes anything.
 * - **renew**: the same call by the same owner, three times per deadline window, so two renewals
 *   may fail before the deadline. A renewal that finds another owner aborts the run at once.
 * - **deadline**: the last successful take or renewal (as sent) + TTL − margin (a third of the TTL,
 *   at most 10 s). The run enforces it itself, whatever the store does: a renewal that hangs does
 *   not extend it. From the deadline on, `signal` is aborted and `guardWrites` sends no write,
 *   apply or delete (a dry run still passes), so no write of this run can land after the lease
 *   expired and passed to another run.
 * - **release**: stop renewing, wait for renewals in flight (never past the lease's expiry: a hung
 *   one is abandoned), and give the lease back if this run still holds it; a release that fails
 *   leaves the lease to expire on its own.
 */
import type { KubeClient, KubeRequest, KubeResponse } from '../cluster/kube-client.ts';
import { errorMessage, type SyncLogger } from '../log.ts';
import type { AppKey, HistoryStore } from './store.ts';

/** The longest margin kept between the deadline and the lease's expiry. */
const MAX_MARGIN_MS = 10_000;

export interface LeaseOptions {
  /** How long the lease lives without renewal. */
  ttlMs: number;
  /** Milliseconds since the epoch. @default Date.now */
  now?: () => number;
  logger: SyncLogger;
}

/** A lease this run holds. */
export interface RunLease {
  /** Aborted once the run must stop writing (lost to another run, or deadline passed); `reason` says which. */
  readonly signal: AbortSignal;
  /** Milliseconds since the epoch after which no write starts. */
  deadline(): number;
  /** Whether a write may start now, by the clock (in case the deadline's timer is late); aborts `signal` when not. */
  mayWrite(): boolean;
  /** Stops renewing and gives the lease back. Never throws. */
  release(): Promise<void>;
}

/** How long before the lease's expiry the run stops writing. */
export function leaseMargin(ttlMs: number): number {
  return Math.min(MAX_MARGIN_MS, ttlMs / 3);
}

/**
 * Takes the app's lease on the cluster for `owner`, and keeps it while the run works; undefined
 * when another run holds it. Throws the store's error when it cannot be reached (nothing was synced).
 */
export async function takeLease(
  store: HistoryStore,
  key: AppKey,
  owner: string,
  options: LeaseOptions,
): Promise<RunLease | undefined> {
  const now = options.now ?? Date.now;
  const { ttlMs, logger } = options;
  const app = key.app;
  const margin = leaseMargin(ttlMs);
  const sent = now();
  if (!(await store.acquireLease(key, owner, ttlMs, sent))) return undefined;

  const controller = new AbortController();
  let heldSince = sent;
  const deadline = () => heldSince + ttlMs - margin;
  const stop = (message: string) => {
    if (!controller.signal.aborted) controller.abort(new Error(message));
  };
  const deadlineMessage = () =>
    `the lease of app "${app}" reached its deadline: no renewal succeeded since ${new Date(heldSince).toISOString()} (lease ${seconds(ttlMs)} s, less ${seconds(margin)} s of margin): stopped before further writes`;

  // The timer aborts at the deadline; `mayWrite` answers by the clock in case the timer is late.
  let deadlineTimer: NodeJS.Timeout | undefined;
  const armDeadline = () => {
    clearTimeout(deadlineTimer);
    deadlineTimer = setTimeout(() => stop(deadlineMessage()), Math.max(0, deadline() - now()));
    deadlineTimer.unref();
  };
  const mayWrite = () => {
    if (now() >= deadline()) stop(deadlineMessage());
    return !controller.signal.aborted;
  };
  armDeadline();

  const inFlight = new Set<Promise<void>>();
  const renew = () => {
    if (controller.signal.aborted) return;
    const at = now();
    const renewal = store.acquireLease(key, owner, ttlMs, at).then(
      (held) => {
        if (controller.signal.aborted) return;
        if (held) {
          heldSince = Math.max(heldSince, at);
          armDeadline();
          return;
        }
        logger.warn('lease lost to another run', { app, runId: owner });
        stop(`the lease of app "${app}" was taken by another run: stopped before further writes`);
      },
      (error: unknown) => {
        logger.warn('lease renewal failed', { app, error: errorMessage(error) });
      },
    );
    inFlight.add(renewal);
    void renewal.finally(() => inFlight.delete(renewal));
  };
  const renewTimer = setInterval(renew, (ttlMs - margin) / 3);
  renewTimer.unref();

  return {
    signal: controller.signal,
    deadline,
    mayWrite,
    release: async () => {
      clearInterval(renewTimer);
      clearTimeout(deadlineTimer);
      // A renewal still in flight must land before the release, or it would take the lease
      // again; one that hangs past the lease's expiry is abandoned (it blocks the app for a TTL at most).
      const expiry = heldSince + ttlMs - now();
      const landed = await settlesWithin([...inFlight], expiry);
      if (!landed)
        logger.warn('lease renewal still pending at release; the lease expires on its own', { app });
      await store.releaseLease(key, owner).catch((error: unknown) => {
        logger.warn('could not release lease; it expires on its own', { app, error: errorMessage(error) });
      });
    },
  };
}

/**
 * The run's Kubernetes client with the lease's deadline enforced where every request passes: a
 * write, apply or delete (not a dry run, not a read) is not sent once the run must stop writing;
 * it throws the signal's reason instead. The engine checks `signal` itself first, to report the
 * objects it did not write as `skipped`; this is the last line, for a timer that fired late.
 */
export function guardWrites(kube: KubeClient, lease: RunLease): KubeClient {
  return {
    server: kube.server,
    get requestCount() {
      return kube.requestCount;
    },
    request<T>(req: KubeRequest): Promise<KubeResponse<T>> {
      if (writes(req) && !lease.mayWrite()) {
        return Promise.reject(lease.signal.reason);
      }
      return kube.request<T>(req);
    },
  };
}

function writes(req: KubeRequest): boolean {
  return req.method !== 'GET' && req.query?.dryRun !== 'All';
}

/** Whether all `pending` settled within `ms` (at least 0). */
async function settlesWithin(pending: Promise<void>[], ms: number): Promise<boolean> {
  if (pending.length === 0) return true;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  try {
    return await Promise.race([Promise.all(pending).then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}
