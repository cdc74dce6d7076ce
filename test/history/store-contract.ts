/**
 * The behaviour every HistoryStore shares, run against each store by its own test file.
 * Each test gets a fresh, empty store from `open`.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIFF_TRIMMED_MARKER } from '../../lambda/history/dynamodb-items.ts';
import { SECRET_DIFF_OMITTED } from '../../lambda/history/redaction.ts';
import {
  type AppKey,
  type HistoryStore,
  StateConflictError,
  type SyncRecord,
} from '../../lambda/history/store.ts';
import type { AppState, ResourceResult } from '../../lambda/reconcile/types.ts';

export interface ContractTarget {
  /** A fresh, empty store. */
  open(): Promise<HistoryStore>;
  /** Removes what `open` created, after the store is closed. */
  dispose?(): Promise<void>;
}

/** A run record with sensible defaults; `minute` sets `startedAt` within one fixed hour. */
export function runRecord(
  app: string,
  runId: string,
  minute: number,
  overrides: Partial<SyncRecord> = {},
): SyncRecord {
  const startedAt = new Date(Date.UTC(2030, 0, 1, 12, minute)).toISOString();
  return {
    app,
    runId,
    revision: 'a'.repeat(40),
    outcome: 'Running',
    dryRun: false,
    startedAt,
    finishedAt: startedAt,
    durationMs: 0,
    resources: [],
    trigger: 'schedule',
    counts: {},
    ...overrides,
  };
}

function finished(record: SyncRecord, overrides: Partial<SyncRecord> = {}): SyncRecord {
  const finishedAt = new Date(Date.parse(record.startedAt) + 1500).toISOString();
  return { ...record, outcome: 'Synced', finishedAt, durationMs: 1500, ...overrides };
}

/**
 * 1,000 objects, a third with a 2 KB diff of random base64: about 750 KB of JSON that gzip cannot
 * shrink below 400 KB, so a DynamoDB item has to trim it.
 */
export function thousandResources(): ResourceResult[] {
  return Array.from({ length: 1000 }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    namespace: `team-${i % 7}`,
    name: `settings-${i}`,
    action: i % 3 === 0 ? 'configured' : 'unchanged',
    ...(i % 3 === 0
      ? { diff: `@@ -1 +1 @@\n-data: old\n+data: ${randomBytes(1536).toString('base64')}\n` }
      : {}),
    ...(i % 10 === 0 ? { message: `took .data from manager kubectl-${i}` } : {}),
  }));
}

/** An app on the contract's cluster (or another one). */
function key(app: string, cluster = 'uid:cluster-a'): AppKey {
  return { app, cluster };
}

function thousandInventory(): AppState {
  return {
    revision: 'b'.repeat(40),
    inventory: Array.from({ length: 1000 }, (_, i) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace: `team-${i % 7}`,
      name: `service-${i}-${randomBytes(6).toString('hex')}`,
      resourceVersion: String(100_000 + i * 37),
      stage: 3,
    })),
  };
}

export function describeHistoryStoreContract(name: string, target: ContractTarget): void {
  describe(`${name}: the HistoryStore contract`, () => {
    let store: HistoryStore;

    beforeEach(async () => {
      store = await target.open();
    });
    afterEach(async () => {
      await store.close();
      await target.dispose?.();
    });

    describe('runs', () => {
      it('records a run as Running when it starts and replaces it with its final form', async () => {
        const start = runRecord('shop', 'run-1', 0, { cluster: 'prod-eks' });
        await store.startRun(start);
        expect(await store.listRuns({ app: 'shop' })).toEqual([start]);

        const end = finished(start, {
          outcome: 'OutOfSync',
          resources: [
            {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              namespace: 'shop',
              name: 'a',
              action: 'drifted',
              diff: '-x\n+y\n',
            },
          ],
          counts: { drifted: 1 },
          health: 'Healthy',
        });
        await store.finishRun(end);
        expect(await store.listRuns({ app: 'shop' })).toEqual([end]);
      });

      it('records a failed run with its error and an empty revision', async () => {
        const failed = runRecord('shop', 'run-f', 0, {
          outcome: 'Failed',
          revision: '',
          error: 'git fetch failed: 401 Unauthorized',
        });
        await store.finishRun(failed);
        expect(await store.listRuns()).toEqual([failed]);
      });

      it("lists one app's runs newest first, up to the limit", async () => {
        for (const [runId, minute] of [
          ['r1', 1],
          ['r3', 3],
          ['r2', 2],
          ['r4', 4],
        ] as const) {
          await store.finishRun(finished(runRecord('shop', runId, minute)));
        }
        await store.finishRun(finished(runRecord('blog', 'other', 5)));

        expect((await store.listRuns({ app: 'shop' })).map((r) => r.runId)).toEqual(['r4', 'r3', 'r2', 'r1']);
        expect((await store.listRuns({ app: 'shop', limit: 2 })).map((r) => r.runId)).toEqual(['r4', 'r3']);
        expect(await store.listRuns({ app: 'nobody' })).toEqual([]);
      });

      it('orders runs that start in the same millisecond by runId, newest last', async () => {
        await store.finishRun(finished(runRecord('shop', 'run-a', 1)));
        await store.finishRun(finished(runRecord('shop', 'run-b', 1)));
        expect((await store.listRuns({ app: 'shop' })).map((r) => r.runId)).toEqual(['run-b', 'run-a']);
      });

      it('lists the runs of all apps newest first, up to the limit', async () => {
        await store.startRun(runRecord('shop', 's1', 1));
        await store.finishRun(finished(runRecord('blog', 'b1', 2)));
        await store.finishRun(finished(runRecord('shop', 's2', 3)));
        await store.startRun(runRecord('docs', 'd1', 4));

        const all = await store.listRuns();
        expect(all.map((r) => `${r.app}/${r.runId}`)).toEqual(['docs/d1', 'shop/s2', 'blog/b1', 'shop/s1']);
        expect((await store.listRuns({ limit: 3 })).map((r) => r.runId)).toEqual(['d1', 's2', 'b1']);
        expect((await store.listRuns({ limit: 1 })).map((r) => r.runId)).toEqual(['d1']);
      });

      it('accepts startedAt in any ISO form and still orders by time', async () => {
        await store.finishRun(
          finished(runRecord('shop', 'late', 0, { startedAt: '2030-01-01T13:00:00+01:00' })),
        );
        await store.finishRun(
          finished(runRecord('shop', 'early', 0, { startedAt: '2030-01-01T11:59:00.000Z' })),
        );
        await store.finishRun(
          finished(runRecord('shop', 'latest', 0, { startedAt: '2030-01-01T12:30:00Z' })),
        );
        expect((await store.listRuns({ app: 'shop' })).map((r) => r.runId)).toEqual([
          'latest',
          'late',
          'early',
        ]);
      });

      it('rejects a limit that is not a positive integer', async () => {
        await expect(store.listRuns({ limit: 0 })).rejects.toThrow(/limit/);
      });
    });

    describe('interrupted runs', () => {
      it('marks the app runs left Running as Interrupted, except the current one, and returns them', async () => {
        const killed = runRecord('shop', 'killed', 1);
        const done = finished(runRecord('shop', 'done', 2));
        const current = runRecord('shop', 'current', 3);
        const otherApp = runRecord('blog', 'busy', 1);
        await store.startRun(killed);
        await store.startRun(runRecord('shop', 'done', 2));
        await store.finishRun(done);
        await store.startRun(otherApp);
        await store.startRun(current);

        const finishedAt = '2030-01-01T12:03:00.500Z';
        const marked = await store.markInterrupted(key('shop'), 'current', finishedAt);
        const expected = { ...killed, outcome: 'Interrupted', finishedAt, durationMs: 120_500 };
        expect(marked).toEqual([expected]);

        const runs = await store.listRuns({ app: 'shop' });
        expect(runs.map((r) => [r.runId, r.outcome])).toEqual([
          ['current', 'Running'],
          ['done', 'Synced'],
          ['killed', 'Interrupted'],
        ]);
        expect(runs[2]).toEqual(expected);
        expect((await store.listRuns({ app: 'blog' }))[0]?.outcome).toBe('Running');
        expect(await store.markInterrupted(key('shop'), 'current', finishedAt)).toEqual([]);
      });

      it("leaves the running runs of the app on another cluster alone (they hold that cluster's lease)", async () => {
        const here = { ...runRecord('shop', 'here', 1), clusterId: 'uid:cluster-a' };
        const there = { ...runRecord('shop', 'there', 2), clusterId: 'uid:cluster-b' };
        await store.startRun(here);
        await store.startRun(there);
        const marked = await store.markInterrupted(key('shop'), 'current', '2030-01-01T12:03:00.000Z');
        expect(marked.map((r) => r.runId)).toEqual(['here']);
        const runs = await store.listRuns({ app: 'shop' });
        expect(runs.find((r) => r.runId === 'there')?.outcome).toBe('Running');
      });

      it('keeps the real outcome of a run that finished before the check', async () => {
        const run = runRecord('shop', 'quick', 1);
        await store.startRun(run);
        await store.finishRun(finished(run));
        expect(await store.markInterrupted(key('shop'), 'next', '2030-01-01T13:00:00.000Z')).toEqual([]);
        expect((await store.listRuns({ app: 'shop' }))[0]?.outcome).toBe('Synced');
      });
    });

    describe('state', () => {
      const stateA: AppState = {
        revision: 'c'.repeat(40),
        inventory: [{ apiVersion: 'v1', kind: 'Namespace', name: 'shop', resourceVersion: '12', stage: 0 }],
      };
      const stateB: AppState = { revision: 'd'.repeat(40), inventory: [] };

      it('has no state for an app never synced, then stores versions 1, 2, ...', async () => {
        expect(await store.getState(key('shop'))).toBeUndefined();
        expect(await store.putState(key('shop'), stateA, 0)).toBe(1);
        expect(await store.getState(key('shop'))).toEqual({ state: stateA, version: 1 });
        expect(await store.putState(key('shop'), stateB, 1)).toBe(2);
        expect(await store.getState(key('shop'))).toEqual({ state: stateB, version: 2 });
        expect(await store.getState(key('blog'))).toBeUndefined();
      });

      it('keeps one state per app and cluster', async () => {
        expect(await store.putState(key('shop', 'uid:cluster-a'), stateA, 0)).toBe(1);
        expect(await store.getState(key('shop', 'uid:cluster-b'))).toBeUndefined();
        expect(await store.putState(key('shop', 'uid:cluster-b'), stateB, 0)).toBe(1);
        expect(await store.getState(key('shop', 'uid:cluster-a'))).toEqual({ state: stateA, version: 1 });
        expect(await store.getState(key('shop', 'uid:cluster-b'))).toEqual({ state: stateB, version: 1 });
      });

      it('rejects a write based on a stale version with StateConflictError', async () => {
        await store.putState(key('shop'), stateA, 0);
        await expect(store.putState(key('shop'), stateB, 0)).rejects.toBeInstanceOf(StateConflictError);
        await expect(store.putState(key('shop'), stateB, 5)).rejects.toBeInstanceOf(StateConflictError);
        expect(await store.getState(key('shop'))).toEqual({ state: stateA, version: 1 });
      });

      it('lets exactly one of two writers that read the same version win', async () => {
        await store.putState(key('shop'), stateA, 0);
        const read = await store.getState(key('shop'));
        const results = await Promise.allSettled([
          store.putState(key('shop'), { ...stateA, revision: 'writer-1' }, read!.version),
          store.putState(key('shop'), { ...stateA, revision: 'writer-2' }, read!.version),
        ]);
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r) => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(1);
        expect((lost[0] as PromiseRejectedResult).reason).toBeInstanceOf(StateConflictError);
        const winner = results[0]?.status === 'fulfilled' ? 'writer-1' : 'writer-2';
        expect(await store.getState(key('shop'))).toEqual({
          state: { ...stateA, revision: winner },
          version: 2,
        });
      });
    });

    describe('lease', () => {
      const now = Date.UTC(2030, 0, 1);

      it('gives the lease to exactly one of many owners racing for it', async () => {
        const owners = Array.from({ length: 8 }, (_, i) => `invocation-${i}`);
        const results = await Promise.all(
          owners.map((owner) => store.acquireLease(key('shop'), owner, 60_000, now)),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await store.acquireLease(key('blog'), 'invocation-0', 60_000, now)).toBe(true);
      });

      it('is renewed by its owner and refused to others until it expires', async () => {
        expect(await store.acquireLease(key('shop'), 'first', 60_000, now)).toBe(true);
        expect(await store.acquireLease(key('shop'), 'second', 60_000, now + 59_999)).toBe(false);
        expect(await store.acquireLease(key('shop'), 'first', 60_000, now + 30_000)).toBe(true);
        // The renewal moved the expiry to now + 90 s.
        expect(await store.acquireLease(key('shop'), 'second', 60_000, now + 60_000)).toBe(false);
        expect(await store.acquireLease(key('shop'), 'second', 60_000, now + 90_000)).toBe(true);
        expect(await store.acquireLease(key('shop'), 'first', 60_000, now + 90_001)).toBe(false);
      });

      it('is one lease per app and cluster', async () => {
        expect(await store.acquireLease(key('shop', 'uid:cluster-a'), 'first', 60_000, now)).toBe(true);
        expect(await store.acquireLease(key('shop', 'uid:cluster-b'), 'second', 60_000, now)).toBe(true);
        expect(await store.acquireLease(key('shop', 'uid:cluster-a'), 'second', 60_000, now)).toBe(false);
      });

      it('is released only by its owner', async () => {
        expect(await store.acquireLease(key('shop'), 'first', 60_000, now)).toBe(true);
        await store.releaseLease(key('shop'), 'second');
        expect(await store.acquireLease(key('shop'), 'second', 60_000, now + 1)).toBe(false);
        await store.releaseLease(key('shop'), 'first');
        expect(await store.acquireLease(key('shop'), 'second', 60_000, now + 1)).toBe(true);
        await store.releaseLease(key('blog'), 'nobody');
      });
    });

    describe('size and secrets', () => {
      it('stores a 1,000-object run: every object and count kept, diffs whole or trimmed', async () => {
        const resources = thousandResources();
        const record = finished(runRecord('big', 'run-1000', 1), {
          resources,
          counts: { configured: 334, unchanged: 666 },
        });
        await store.startRun(runRecord('big', 'run-1000', 1));
        await store.finishRun(record);

        const [stored] = await store.listRuns({ app: 'big' });
        expect(stored).toBeDefined();
        const { resources: storedResources, ...summary } = stored!;
        const { resources: _original, ...expectedSummary } = record;
        expect(summary).toEqual(expectedSummary);
        expect(storedResources).toHaveLength(1000);
        storedResources.forEach((got, i) => {
          const { diff: gotDiff, ...gotRest } = got;
          const { diff: wantDiff, ...wantRest } = resources[i]!;
          expect(gotRest).toEqual(wantRest);
          if (gotDiff !== undefined && gotDiff !== wantDiff) {
            expect(gotDiff.endsWith(DIFF_TRIMMED_MARKER)).toBe(true);
            expect(wantDiff?.startsWith(gotDiff.slice(0, -DIFF_TRIMMED_MARKER.length))).toBe(true);
          }
        });
      });

      it('stores and reads back a 1,000-object inventory exactly', async () => {
        const state = thousandInventory();
        expect(await store.putState(key('big'), state, 0)).toBe(1);
        expect(await store.getState(key('big'))).toEqual({ state, version: 1 });
      });

      it('never stores the diff of a Secret, whatever the engine hands over', async () => {
        const record = finished(runRecord('shop', 'secret', 1), {
          resources: [
            {
              apiVersion: 'v1',
              kind: 'Secret',
              namespace: 'shop',
              name: 'db',
              action: 'configured',
              diff: '-  password: aHVudGVyMg==\n+  password: c3VwZXJzZWNyZXQ=\n',
            },
            {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              namespace: 'shop',
              name: 'cfg',
              action: 'configured',
              diff: '+a: b\n',
            },
          ],
          counts: { configured: 2 },
        });
        await store.startRun(record);
        await store.finishRun(record);

        const listed = await store.listRuns();
        expect(JSON.stringify(listed)).not.toMatch(/aHVudGVyMg|c3VwZXJzZWNyZXQ/);
        expect(listed[0]?.resources).toEqual([
          { ...record.resources[0], diff: SECRET_DIFF_OMITTED },
          record.resources[1],
        ]);
      });
    });
  });
}
