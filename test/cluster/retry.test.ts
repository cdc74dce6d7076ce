import { afterEach, describe, expect, it, vi } from 'vitest';
import { apiError, immutableFields, isNotFound, isSuccess } from '../../lambda/cluster/api-errors.ts';
import { tokenBucket } from '../../lambda/cluster/rate-limit.ts';
import { DEFAULT_RETRY, isRetryableStatus, nextDelay, retryAfterMs } from '../../lambda/cluster/retry.ts';

describe('typed API errors', () => {
  it.each([
    [404, 'NotFound', undefined],
    [409, 'AlreadyExists', 'AlreadyExists'],
    [409, 'Conflict', 'Conflict'],
    [422, 'Invalid', 'Invalid'],
    [410, 'Gone', 'Expired'],
    [429, 'TooManyRequests', 'TooManyRequests'],
    [403, 'Forbidden', 'Forbidden'],
    [401, 'Unauthorized', 'Unauthorized'],
    [503, 'ServerError', 'ServiceUnavailable'],
  ])('reads HTTP %i as %s', (status, kind, reason) => {
    expect(apiError({ status, body: { kind: 'Status', reason, message: 'm' } })?.kind).toBe(kind);
  });

  it('has no error for a success and answers the questions from a response', () => {
    expect(apiError({ status: 201, body: {} })).toBeUndefined();
    expect(isSuccess({ status: 202 })).toBe(true);
    expect(isNotFound({ status: 404, body: 'not found' })).toBe(true);
    expect(isNotFound({ status: 200, body: {} })).toBe(false);
  });

  it('names the immutable fields of an Invalid rejection', () => {
    const body = {
      kind: 'Status',
      reason: 'Invalid',
      message: 'Deployment.apps "web" is invalid: spec.selector: Invalid value: ...: field is immutable',
      details: { causes: [{ field: 'spec.selector', message: 'Invalid value: ...: field is immutable' }] },
    };
    expect(immutableFields({ status: 422, body })).toEqual(['spec.selector']);
    expect(
      immutableFields({ status: 422, body: { reason: 'Invalid', message: 'metadata.name: bad' } }),
    ).toBeUndefined();
  });
});

describe('retry policy', () => {
  it('retries 429 and 5xx except 501', () => {
    expect([429, 500, 502, 503, 504, 501, 404, 409].map(isRetryableStatus)).toEqual([
      true,
      true,
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  it('reads Retry-After in seconds or as a date', () => {
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(retryAfterMs(undefined)).toBeUndefined();
  });

  it('backs off exponentially, honours Retry-After, and stops at the attempt and time bounds', () => {
    const half = () => 0.5;
    expect(nextDelay(DEFAULT_RETRY, 1, 0, undefined, half)).toBe(150);
    expect(nextDelay(DEFAULT_RETRY, 3, 0, undefined, half)).toBe(600);
    expect(nextDelay(DEFAULT_RETRY, 1, 0, 3000, half)).toBe(3000);
    expect(nextDelay(DEFAULT_RETRY, 1, 0, 60_000, half)).toBe(DEFAULT_RETRY.maxDelayMs);
    expect(nextDelay(DEFAULT_RETRY, DEFAULT_RETRY.maxAttempts, 0, undefined, half)).toBeUndefined();
    expect(nextDelay(DEFAULT_RETRY, 1, 29_990, 1000, half)).toBeUndefined();
  });
});

describe('request rate limit', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lets a burst through at once, then one request per 1/qps seconds', async () => {
    vi.useFakeTimers();
    let now = 0;
    const take = tokenBucket({ qps: 2, burst: 3 }, () => now);
    const taken: number[] = [];
    for (let i = 0; i < 5; i++) void take().then(() => taken.push(i));
    await vi.advanceTimersByTimeAsync(0);
    expect(taken).toEqual([0, 1, 2]);
    now = 500;
    await vi.advanceTimersByTimeAsync(500);
    expect(taken).toEqual([0, 1, 2, 3]);
    now = 1000;
    await vi.advanceTimersByTimeAsync(500);
    expect(taken).toEqual([0, 1, 2, 3, 4]);
  });

  it('lets a waiter whose signal is aborted go at once with its reason, taking no token', async () => {
    vi.useFakeTimers();
    let now = 0;
    const take = tokenBucket({ qps: 1, burst: 1 }, () => now);
    await take();
    const stop = new AbortController();
    const outcomes: string[] = [];
    void take(stop.signal).then(
      () => outcomes.push('aborted waiter ran'),
      (e: Error) => outcomes.push(`aborted waiter: ${e.message}`),
    );
    void take().then(() => outcomes.push('next waiter ran'));
    stop.abort(new Error('server stopped answering'));
    await vi.advanceTimersByTimeAsync(0);
    expect(outcomes).toEqual(['aborted waiter: server stopped answering']);
    // The next waiter needs only the one token the aborted one did not take.
    now = 1000;
    await vi.advanceTimersByTimeAsync(1000);
    expect(outcomes).toEqual(['aborted waiter: server stopped answering', 'next waiter ran']);
    await expect(take(stop.signal)).rejects.toThrow('server stopped answering');
  });
});
