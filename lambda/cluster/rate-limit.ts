/**
 * A token bucket per client, after client-go's QPS/burst: a run may send `burst` requests at once,
 * then `qps` a second, so one large app cannot flood an API server that other clients share.
 */

export interface RateLimit {
  /** Requests a second, sustained. */
  qps: number;
  /** Requests that may go at once after a quiet spell. */
  burst: number;
}

/**
 * Waits until the bucket holds a token, then takes it. Waiters are served in order. A waiter whose
 * `signal` is aborted (the server stopped answering, the run's deadline) rejects at once with its
 * reason and takes no token.
 */
export type TakeToken = (signal?: AbortSignal) => Promise<void>;

export function tokenBucket(limit: RateLimit, now: () => number = Date.now): TakeToken {
  if (!(limit.qps > 0) || !(limit.burst >= 1)) throw new Error('rate limit: qps must be > 0 and burst >= 1');
  let tokens = limit.burst;
  let last = now();
  /** When the last reserved token becomes available: waiters queue behind it. */
  let queue: Promise<void> = Promise.resolve();
  const refill = () => {
    const t = now();
    tokens = Math.min(limit.burst, tokens + ((t - last) / 1000) * limit.qps);
    last = t;
  };
  return (signal) => {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const turn = queue.then(async () => {
      if (signal?.aborted) return;
      refill();
      if (tokens < 1) {
        await new Promise((resolve) => setTimeout(resolve, ((1 - tokens) / limit.qps) * 1000));
        refill();
      }
      tokens -= 1;
    });
    queue = turn;
    if (!signal) return turn;
    // The queue goes on behind an aborted waiter; the waiter itself stops waiting now.
    return new Promise<void>((resolve, reject) => {
      const abort = () => reject(signal.reason);
      signal.addEventListener('abort', abort, { once: true });
      turn.then(() => {
        signal.removeEventListener('abort', abort);
        if (signal.aborted) reject(signal.reason);
        else resolve();
      }, reject);
    });
  };
}
