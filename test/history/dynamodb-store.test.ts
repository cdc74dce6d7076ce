import { DeleteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIFF_TRIMMED_MARKER } from '../../lambda/history/dynamodb-items.ts';
import { DynamoHistoryStore } from '../../lambda/history/dynamodb-store.ts';
import { ensureTable } from '../../lambda/history/dynamodb-table.ts';
import { type LocalDynamo, startDynamo } from '../support/dynamodb.ts';
import { describeHistoryStoreContract, runRecord, thousandResources } from './store-contract.ts';

let dynamo: LocalDynamo;
let client: DynamoDBClient;
let tables = 0;

async function freshTable(): Promise<string> {
  const tableName = `history-${++tables}`;
  await ensureTable(client, tableName);
  return tableName;
}

async function rawItem(
  tableName: string,
  pk: string,
  sk: string,
): Promise<Record<string, unknown> | undefined> {
  const result = await DynamoDBDocumentClient.from(client).send(
    new GetCommand({ TableName: tableName, Key: { pk, sk }, ConsistentRead: true }),
  );
  return result.Item;
}

beforeAll(async () => {
  dynamo = await startDynamo();
  client = new DynamoDBClient(dynamo.clientConfig);
});
afterAll(async () => {
  client?.destroy();
  await dynamo?.stop();
});

describeHistoryStoreContract('DynamoHistoryStore', {
  async open() {
    return new DynamoHistoryStore({ tableName: await freshTable(), client });
  },
});

describe('DynamoHistoryStore items', () => {
  it('sets expiresAt on run records only: recordTtlDays after the start, in epoch seconds', async () => {
    const tableName = await freshTable();
    const store = new DynamoHistoryStore({ tableName, client, recordTtlDays: 7 });
    const run = runRecord('shop', 'run-1', 0, { outcome: 'Synced' });
    await store.finishRun(run);
    await store.putState({ app: 'shop', cluster: 'uid:c' }, { inventory: [] }, 0);
    await store.acquireLease({ app: 'shop', cluster: 'uid:c' }, 'me', 60_000, Date.now());

    const expected = Date.parse(run.startedAt) / 1000 + 7 * 86_400;
    const record = await rawItem(tableName, 'APP#shop', `RUN#${run.startedAt}#run-1`);
    expect(record?.expiresAt).toBe(expected);
    const pointer = await rawItem(tableName, 'RUNS', `${run.startedAt}#shop#run-1`);
    expect(pointer?.expiresAt).toBe(expected);
    const state = await rawItem(tableName, 'APP#shop', 'STATE#uid:c');
    expect(state).toMatchObject({ version: 1 });
    expect(state).not.toHaveProperty('expiresAt');
    const lease = await rawItem(tableName, 'APP#shop', 'LEASE#uid:c');
    expect(lease).not.toHaveProperty('expiresAt');
    expect(lease).toMatchObject({ owner: 'me' });
    await store.close();
  });

  it('keeps run records 90 days by default', async () => {
    const tableName = await freshTable();
    const store = new DynamoHistoryStore({ tableName, client });
    const run = runRecord('shop', 'run-1', 0);
    await store.startRun(run);
    const record = await rawItem(tableName, 'APP#shop', `RUN#${run.startedAt}#run-1`);
    expect(record?.expiresAt).toBe(Date.parse(run.startedAt) / 1000 + 90 * 86_400);
  });

  it('trims the diffs of a 1,000-object run to fit one item and keeps every object', async () => {
    const tableName = await freshTable();
    const store = new DynamoHistoryStore({ tableName, client });
    const resources = thousandResources();
    const rawJsonBytes = Buffer.byteLength(JSON.stringify(resources));
    await store.finishRun(runRecord('big', 'run-1', 0, { outcome: 'Synced', resources }));

    const item = await rawItem(tableName, 'APP#big', `RUN#${runRecord('big', 'run-1', 0).startedAt}#run-1`);
    const storedBytes = (item!.resources as Uint8Array).length;
    expect(rawJsonBytes).toBeGreaterThan(400 * 1024);
    expect(storedBytes).toBeLessThan(400 * 1024);
    const [stored] = await store.listRuns({ app: 'big' });
    expect(stored?.resources).toHaveLength(1000);
    expect(stored?.resources.filter((r) => r.diff?.endsWith(DIFF_TRIMMED_MARKER)).length).toBeGreaterThan(0);
    expect(stored?.resources.map((r) => r.name)).toEqual(resources.map((r) => r.name));
  });

  it('skips runs whose record TTL removed before its pointer when listing all apps', async () => {
    const tableName = await freshTable();
    const store = new DynamoHistoryStore({ tableName, client });
    for (const minute of [1, 2, 3]) {
      await store.finishRun(runRecord('shop', `run-${minute}`, minute, { outcome: 'Synced' }));
    }
    const gone = runRecord('shop', 'run-3', 3);
    await client.send(
      new DeleteItemCommand({
        TableName: tableName,
        Key: { pk: { S: 'APP#shop' }, sk: { S: `RUN#${gone.startedAt}#run-3` } },
      }),
    );
    expect((await store.listRuns({ limit: 2 })).map((r) => r.runId)).toEqual(['run-2', 'run-1']);
  });

  it('creates the table once and accepts being asked again', async () => {
    const tableName = await freshTable();
    await ensureTable(client, tableName);
    const store = new DynamoHistoryStore({ tableName, client });
    expect(await store.listRuns()).toEqual([]);
  });
});
