/**
 * Fault: several invocations of one app at once (a schedule firing while a manual run starts,
 * Lambda retries), each its own "container" (own handler, own store client) on one DynamoDB table.
 *
 *   N invocations of one app at once -> exactly one Synced, N-1 Skipped ("holds the lease");
 *                                       every object in the cluster once, inventory without
 *                                       duplicates, N records in the history
 *
 * Every invocation's lease request is answered before the winner fetches its source, so the
 * runs really overlap (a winner that finished first would let the next one run legitimately).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { parseConfig } from '../../lambda/config.ts';
import { createHandler } from '../../lambda/handler.ts';
import { ensureTable } from '../../lambda/history/dynamodb-table.ts';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import type { HistoryStore } from '../../lambda/history/store.ts';
import { loadSource } from '../../lambda/source/source.ts';
import { appKey } from '../support/app-key.ts';
import { type LocalDynamo, startDynamo } from '../support/dynamodb.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';
import { appManifests, expectedConfigMaps, inventoryKeys, observedConfigMaps, range } from './fault-app.ts';

const cp = inject('controlPlane');
const TABLE = 'faults-concurrency';

let git: GitServer;
let dynamo: LocalDynamo;
let workDir: string;

beforeAll(async () => {
  [git, dynamo] = await Promise.all([startGitServer(), startDynamo()]);
  const client = new DynamoDBClient(dynamo.clientConfig);
  await ensureTable(client, TABLE);
  client.destroy();
  workDir = await mkdtemp(join(tmpdir(), 'driftless-faults-concurrency-'));
});

afterAll(async () => {
  await git?.stop();
  await dynamo?.stop();
  await rm(workDir, { recursive: true, force: true });
});

// Powertools writes log lines and EMF documents to stdout/stderr; keep the test output readable.
beforeEach(() => {
  for (const stream of [process.stdout, process.stderr]) vi.spyOn(stream, 'write').mockReturnValue(true);
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Resolves once `count` lease requests were answered (won or lost). */
function leaseBarrier(count: number) {
  let answered = 0;
  let open!: () => void;
  const allAnswered = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    allAnswered,
    wrap(store: HistoryStore): HistoryStore {
      return new Proxy(store, {
        get(target, key, receiver) {
          const value = Reflect.get(target, key, receiver);
          if (typeof value !== 'function') return value;
          if (key !== 'acquireLease') return value.bind(target);
          return async (...args: Parameters<HistoryStore['acquireLease']>) => {
            try {
              return await target.acquireLease(...args);
            } finally {
              if (++answered === count) open();
            }
          };
        },
      });
    },
  };
}

describe.each([2, 5])('%i invocations of one app at once', (invocations) => {
  it('lets exactly one reconcile; the others record Skipped; the cluster holds one copy of each object', async () => {
    const app = `faults-concurrent-${invocations}`;
    const repo = await git.createRepo(app);
    const revision = await repo.commit(appManifests(app, range(0, 10), 'v1'));
    const barrier = leaseBarrier(invocations);
    const config = parseConfig({
      apps: [
        {
          name: app,
          repo: repo.url,
          namespace: app,
          prune: true,
          cluster: { name: 'c', region: 'eu-west-1' },
        },
      ],
    });
    let fetches = 0;
    const containers = range(0, invocations).map((i) =>
      createHandler({
        logger: new Logger({ serviceName: 'driftless' }),
        loadConfig: async () => config,
        openStore: async () =>
          barrier.wrap(await openHistoryStore(`dynamodb:${TABLE}`, { dynamodbClient: dynamo.clientConfig })),
        loadSource: async (settings) => {
          fetches += 1;
          await barrier.allAnswered;
          return loadSource(settings, { cacheDir: join(workDir, `git-${i}`) });
        },
        connect: () => connectCluster({ type: 'kubeconfig', kubeconfig: cp.kubeconfig }),
      }),
    );

    const summaries = await Promise.all(containers.map((handler) => handler({ app })));

    const synced = summaries.filter((s) => s.outcome === 'Synced');
    const skipped = summaries.filter((s) => s.outcome === 'Skipped');
    expect(synced).toHaveLength(1);
    expect(skipped).toHaveLength(invocations - 1);
    expect(fetches).toBe(1);
    expect(synced[0]).toMatchObject({ revision, counts: { created: 11 } });
    for (const s of skipped) {
      expect(s.error).toBe(`another sync of app "${app}" holds the lease; skipped`);
      expect(s.counts).toEqual({});
    }

    expect(await observedConfigMaps(cp.kubeconfig, app)).toEqual(expectedConfigMaps(range(0, 10), 'v1'));
    const store = await openHistoryStore(`dynamodb:${TABLE}`, { dynamodbClient: dynamo.clientConfig });
    try {
      const state = await store.getState(await appKey(cp.kubeconfig, app));
      // One writer: the write-ahead inventory, then the final state.
      expect(state?.version).toBe(2);
      const keys = inventoryKeys(state?.state.inventory ?? []);
      expect(keys).toHaveLength(11);
      expect(new Set(keys).size).toBe(11);
      const history = await store.listRuns({ app });
      expect(history).toHaveLength(invocations);
      expect(history.filter((r) => r.outcome === 'Synced').map((r) => r.runId)).toEqual([synced[0]?.runId]);
      expect(history.filter((r) => r.outcome === 'Skipped')).toHaveLength(invocations - 1);
      // The lease was given back: a later invocation runs (and finds nothing to change).
      const later = await containers[0]?.({ app });
      expect(later).toMatchObject({ outcome: 'Synced', counts: { unchanged: 11 } });
    } finally {
      await store.close();
    }
  });
});
