/**
 * When to send a Kubernetes request again, after client-go's `WithRetry` and the AWS SDK's
 * standard mode: a 429 or a 5xx (the server's `Retry-After` is honoured), or a connection that
 * broke or never opened. Bounded in attempts and in time, with jittered exponential backoff.
 */

export interface RetryPolicy {
  /** Attempts in all, the first included. @default 5 */
  maxAttempts: number;
  /** Retries stop once this much time has passed since the first attempt. @default 30_000 */
  maxElapsedMs: number;
  /** First backoff; it doubles per retry, half of it jittered. @default 200 */
  baseDelayMs: number;
  /** Longest single wait, `Retry-After` included. @default 10_000 */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 5,
  maxElapsedMs: 30_000,
  baseDelayMs: 200,
  maxDelayMs: 10_000,
};

/** A status worth asking again: throttled, or a server-side failure that may pass (not 501). */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status !== 501);
}

/** Seconds (or an HTTP date) from `Retry-After`, as milliseconds; undefined when absent or unreadable. */
export function retryAfterMs(
  header: string | string[] | undefined,
  now: number = Date.now(),
): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * How long to wait before attempt `attempt + 1` (1-based `attempt` just failed), or undefined when
 * no attempt is left within the policy's bounds.
 */
export function nextDelay(
  policy: RetryPolicy,
  attempt: number,
  elapsedMs: number,
  retryAfter: number | undefined,
  random: () => number = Math.random,
): number | undefined {
  if (attempt >= policy.maxAttempts) return undefined;
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const backoff = cap / 2 + (random() * cap) / 2;
  const delay = Math.min(policy.maxDelayMs, retryAfter ?? backoff);
  return elapsedMs + delay > policy.maxElapsedMs ? undefined : delay;
}
