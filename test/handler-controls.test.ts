/**
 * The Lambda honours the controls `driftless suspend` and `pin` set in its DynamoDB table, at
 * the next invocation and without a deploy.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { connectCluster } from '../lambda/cluster/target.ts';
import { parseConfig } from '../lambda/config.ts';
import { createHandler, type HandlerDeps } from '../lambda/handler.ts';
import { controlsOf } from '../lambda/history/controls.ts';
import { ensureTable } from '../lambda/history/dynamodb-table.ts';
import { openHistoryStore } from '../lambda/history/open-store.ts';
import type { HistoryStore } from '../lambda/history/store.ts';
import type { SourceSettings } from '../lambda/source/source.ts';
import { type LocalDynamo, startDynamo } from './support/dynamodb.ts';

let dynamo: LocalDynamo;
let store: HistoryStore;

beforeAll(async () => {
  dynamo = await startDynamo();
  const client = new DynamoDBClient(dynamo.clientConfig);
  await ensureTable(client, 'handler-controls');
  client.destroy();
  store = await openHistoryStore('dynamodb:handler-controls', { dynamodbClient: dynamo.clientConfig });
});

afterAll(async () => {
  await store?.close();
  await dynamo?.stop();
});

// Powertools writes log lines and EMF documents to stdout, as in Lambda: keep the test output clean.
beforeEach(() => {
  vi.spyOn(process.stdout, 'write').mockReturnValue(true);
});
afterEach(() => {
  vi.restoreAllMocks();
});

const config = parseConfig({
  apps: [
    {
      name: 'guestbook',
      repo: 'https://git.example.com/guestbook.git',
      cluster: { name: 'prod', region: 'eu-west-1' },
    },
  ],
});

function handlerSeeing(fetched: SourceSettings[], connect: HandlerDeps['connect'] = notReached) {
  return createHandler({
    loadConfig: async () => config,
    openStore: async () => store,
    loadSource: async (settings) => {
      fetched.push(settings);
      throw new Error('source unreachable in this test');
    },
    connect,
  });
}

async function notReached(): Promise<never> {
  throw new Error('not reached');
}

describe('the handler and operator controls', () => {
  it('records a suspended app Skipped with the reason and fetches nothing', async () => {
    await controlsOf(store)!.setSuspended('guestbook', {
      at: '2030-01-01T00:00:00.000Z',
      reason: 'migration',
    });
    const fetched: SourceSettings[] = [];
    const summary = await handlerSeeing(fetched)({ app: 'guestbook' });
    expect(summary).toMatchObject({
      outcome: 'Skipped',
      error: expect.stringMatching(/suspended.*migration/),
    });
    expect(fetched).toEqual([]);
    const [run] = await store.listRuns({ app: 'guestbook', limit: 1 });
    expect(run).toMatchObject({ outcome: 'Skipped', trigger: 'schedule' });
    await controlsOf(store)!.setSuspended('guestbook', undefined);
  });

  it('fetches the pinned commit instead of the configured ref', async () => {
    const pinned = 'a1b2c3d'.padEnd(40, '0');
    await controlsOf(store)!.setPinned('guestbook', { revision: pinned, at: '2030-01-01T00:00:00.000Z' });
    const fetched: SourceSettings[] = [];
    // The cluster is reached first (its identity keys the state), then the pinned commit is fetched.
    const summary = await handlerSeeing(fetched, () =>
      connectCluster({ type: 'kubeconfig', kubeconfig: inject('controlPlane').kubeconfig }),
    )({ app: 'guestbook' });
    expect(fetched.map((settings) => settings.ref)).toEqual([pinned]);
    expect(summary.outcome).toBe('Failed');
    const [run] = await store.listRuns({ app: 'guestbook', limit: 1 });
    expect(run?.pinned).toBe(pinned);
  });
});
