/**
 * The history store of the Lambda: one DynamoDB table (see `dynamodb-items.ts` for the key
 * layout and `dynamodb-table.ts` for the schema). Every write that can race is conditional:
 * the state carries a version, the lease an owner and an expiry; nothing relies on TTL except
 * the clean-up of old run records.
 *
 * Hot partitions: runs of all apps also land under one `RUNS` partition (no GSI), as small
 * pointer items (< 1 KB, 1 WCU each, two per run). A partition takes 1,000 WCU/s, so this holds
 * up to roughly 500 runs per second across all apps, far above any schedule an agent runs.
 */

import { setTimeout } from 'node:timers/promises';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  type DynamoDBClientConfig,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { AppState } from '../reconcile/types.ts';
import type { AppControls, ControlsStore, Pin, Suspension } from './controls.ts';
import { DynamoControls } from './dynamodb-controls.ts';
import {
  appPk,
  decodeState,
  encodeState,
  fromRunAttributes,
  leaseSk,
  RUN_SK_PREFIX,
  RUNNING_SK_PREFIX,
  RUNS_INDEX_PK,
  runSk,
  runsIndexSk,
  stateSk,
  toRunAttributes,
} from './dynamodb-items.ts';
import { redactRecord } from './redaction.ts';
import {
  type AppKey,
  type HistoryStore,
  StateConflictError,
  type StoredState,
  type SyncRecord,
} from './store.ts';

/**
 * The DynamoDB actions this store calls (BatchGet, Get, Put, Update, Delete, Query), and so all
 * the stack grants the function on its table.
 */
export const HISTORY_TABLE_ACTIONS = [
  'dynamodb:BatchGetItem',
  'dynamodb:DeleteItem',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:UpdateItem',
] as const;

export interface DynamoHistoryStoreOptions {
  /** The history table (key schema in `HISTORY_TABLE_SCHEMA`). */
  tableName: string;
  /**
   * A client to use (not destroyed by `close`), or settings for one the store creates.
   * @default a client from the environment (region, credentials, `AWS_ENDPOINT_URL_DYNAMODB`)
   */
  client?: DynamoDBClient | DynamoDBClientConfig;
  /** Days a run record is kept before DynamoDB TTL may delete it. @default 90 */
  recordTtlDays?: number;
}

const DAY_SECONDS = 86_400;
/** BatchGetItem takes at most 100 keys. */
const BATCH_GET_MAX = 100;

/**
 * `HistoryStore` on one DynamoDB table. Run records are keyed by `startedAt` + `runId`, so
 * `finishRun` must carry the `startedAt` its `startRun` had (it does: the engine builds the final
 * record from the first). Records pass `redactRecord` and are trimmed to fit 400 KB.
 */
export class DynamoHistoryStore implements HistoryStore, ControlsStore {
  readonly tableName: string;
  readonly recordTtlDays: number;
  readonly #client: DynamoDBClient;
  readonly #ownsClient: boolean;
  readonly #doc: DynamoDBDocumentClient;
  readonly #controls: DynamoControls;

  constructor(options: DynamoHistoryStoreOptions) {
    this.tableName = options.tableName;
    this.recordTtlDays = options.recordTtlDays ?? 90;
    this.#ownsClient = !(options.client instanceof DynamoDBClient);
    this.#client =
      options.client instanceof DynamoDBClient ? options.client : new DynamoDBClient(options.client ?? {});
    this.#doc = DynamoDBDocumentClient.from(this.#client, {
      marshallOptions: { removeUndefinedValues: true },
    });
    this.#controls = new DynamoControls(this.#doc, this.tableName);
  }

  async startRun(record: SyncRecord): Promise<void> {
    // Marker first: a crash after it and before the record leaves a marker that
    // `markInterrupted` discards; the reverse order could leave a `Running` record nobody finds.
    if (record.outcome === 'Running') {
      await this.#put({
        pk: appPk(record.app),
        sk: `${RUNNING_SK_PREFIX}${record.runId}`,
        runSk: runSk(record),
        startedAt: record.startedAt,
        clusterId: record.clusterId,
      });
    }
    await this.#writeRun(record);
  }

  async finishRun(record: SyncRecord): Promise<void> {
    await this.#writeRun(record);
    if (record.outcome !== 'Running') await this.#deleteRunningMarker(record.app, record.runId);
  }

  async listRuns(query: { app?: string; limit?: number } = {}): Promise<SyncRecord[]> {
    const limit = query.limit ?? 20;
    if (!Number.isInteger(limit) || limit < 1)
      throw new Error(`limit must be a positive integer, got ${limit}`);
    return query.app === undefined ? this.#listAllRuns(limit) : this.#listAppRuns(query.app, limit);
  }

  async markInterrupted(
    { app, cluster }: AppKey,
    exceptRunId: string,
    finishedAt: string,
  ): Promise<SyncRecord[]> {
    const markers = await this.#queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': appPk(app), ':prefix': RUNNING_SK_PREFIX },
    });
    const interrupted: SyncRecord[] = [];
    for (const marker of markers) {
      const runId = String(marker.sk).slice(RUNNING_SK_PREFIX.length);
      // Another cluster's run of the app may be alive: it holds its own lease.
      if (runId === exceptRunId || (marker.clusterId !== undefined && marker.clusterId !== cluster)) continue;
      const durationMs = Math.max(0, Date.parse(finishedAt) - Date.parse(String(marker.startedAt)));
      try {
        const updated = await this.#doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { pk: appPk(app), sk: marker.runSk },
            UpdateExpression:
              'SET outcome = :interrupted, finishedAt = :finishedAt, durationMs = :durationMs',
            // A run that finished meanwhile keeps its real outcome.
            ConditionExpression: 'outcome = :running',
            ExpressionAttributeValues: {
              ':interrupted': 'Interrupted',
              ':running': 'Running',
              ':finishedAt': finishedAt,
              ':durationMs': durationMs,
            },
            ReturnValues: 'ALL_NEW',
          }),
        );
        if (updated.Attributes) interrupted.push(fromRunAttributes(updated.Attributes));
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
      await this.#deleteRunningMarker(app, runId);
    }
    return interrupted;
  }

  async getState({ app, cluster }: AppKey): Promise<StoredState | undefined> {
    const result = await this.#doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: appPk(app), sk: stateSk(cluster) },
        ConsistentRead: true,
      }),
    );
    if (!result.Item) return undefined;
    return { state: decodeState(result.Item.state), version: Number(result.Item.version) };
  }

  async putState({ app, cluster }: AppKey, state: AppState, expectedVersion: number): Promise<number> {
    const version = expectedVersion + 1;
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: appPk(app), sk: stateSk(cluster), version, state: encodeState(app, state) },
          ...(expectedVersion === 0
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : {
                ConditionExpression: 'version = :expected',
                ExpressionAttributeValues: { ':expected': expectedVersion },
              }),
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new StateConflictError(
          `state of app ${app} changed since version ${expectedVersion} was read; another run wrote it`,
        );
      }
      throw error;
    }
    return version;
  }

  async acquireLease({ app, cluster }: AppKey, owner: string, ttlMs: number, now: number): Promise<boolean> {
    try {
      await this.#doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: appPk(app), sk: leaseSk(cluster), owner, leaseUntil: now + ttlMs },
          ConditionExpression: 'attribute_not_exists(pk) OR leaseUntil <= :now OR #owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':now': now, ':owner': owner },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async releaseLease({ app, cluster }: AppKey, owner: string): Promise<void> {
    try {
      await this.#doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: appPk(app), sk: leaseSk(cluster) },
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async close(): Promise<void> {
    if (this.#ownsClient) this.#client.destroy();
  }

  // Operator controls (suspend, pin): see controls.ts.
  getControls(app: string): Promise<AppControls | undefined> {
    return this.#controls.getControls(app);
  }
  listControls(): Promise<AppControls[]> {
    return this.#controls.listControls();
  }
  setSuspended(app: string, suspension: Suspension | undefined): Promise<void> {
    return this.#controls.setSuspended(app, suspension);
  }
  setPinned(app: string, pin: Pin | undefined): Promise<void> {
    return this.#controls.setPinned(app, pin);
  }

  async #writeRun(record: SyncRecord): Promise<void> {
    const safe = redactRecord(record);
    const expiresAt = Math.floor(Date.parse(safe.startedAt) / 1000) + this.recordTtlDays * DAY_SECONDS;
    const sk = runSk(safe);
    // The record before its pointer: a pointer always finds its record (until TTL removes it).
    await this.#put({ ...toRunAttributes(safe), pk: appPk(safe.app), sk, expiresAt });
    await this.#put({ pk: RUNS_INDEX_PK, sk: runsIndexSk(safe), app: safe.app, runSk: sk, expiresAt });
  }

  async #deleteRunningMarker(app: string, runId: string): Promise<void> {
    await this.#doc.send(
      new DeleteCommand({
        TableName: this.tableName,
        Key: { pk: appPk(app), sk: `${RUNNING_SK_PREFIX}${runId}` },
      }),
    );
  }

  async #put(item: Record<string, unknown>): Promise<void> {
    await this.#doc.send(new PutCommand({ TableName: this.tableName, Item: item }));
  }

  async #listAppRuns(app: string, limit: number): Promise<SyncRecord[]> {
    const items = await this.#queryAll(
      {
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': appPk(app), ':prefix': RUN_SK_PREFIX },
        ScanIndexForward: false,
      },
      limit,
    );
    return items.map(fromRunAttributes);
  }

  async #listAllRuns(limit: number): Promise<SyncRecord[]> {
    const records: SyncRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    // Pointers whose record TTL already removed are skipped, so page until `limit` records are found.
    do {
      const page = await this.#doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': RUNS_INDEX_PK },
          ScanIndexForward: false,
          Limit: limit - records.length,
          ExclusiveStartKey: startKey,
        }),
      );
      const keys = (page.Items ?? []).map((pointer) => ({
        pk: appPk(String(pointer.app)),
        sk: pointer.runSk,
      }));
      records.push(...(await this.#batchGet(keys)));
      startKey = page.LastEvaluatedKey;
    } while (startKey && records.length < limit);
    return records;
  }

  /** The records for `keys`, in the order of `keys`, skipping keys with no item. */
  async #batchGet(keys: Array<{ pk: string; sk: unknown }>): Promise<SyncRecord[]> {
    const found = new Map<string, Record<string, unknown>>();
    for (let start = 0; start < keys.length; start += BATCH_GET_MAX) {
      let pending: Array<Record<string, unknown>> | undefined = keys.slice(start, start + BATCH_GET_MAX);
      for (let attempt = 0; pending && pending.length > 0; attempt++) {
        if (attempt > 0) await setTimeout(Math.min(1000, 50 * 2 ** attempt));
        const result: BatchGetCommandOutput = await this.#doc.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: pending } } }),
        );
        for (const item of result.Responses?.[this.tableName] ?? [])
          found.set(`${item.pk}\n${item.sk}`, item);
        // Throttled or over 16 MB: DynamoDB hands back the rest to ask for again.
        pending = result.UnprocessedKeys?.[this.tableName]?.Keys;
      }
    }
    return keys.flatMap((key) => {
      const item = found.get(`${key.pk}\n${key.sk}`);
      return item ? [fromRunAttributes(item)] : [];
    });
  }

  /** Query results across pages, stopping at `limit` items when given (runs can be 400 KB, pages 1 MB). */
  async #queryAll(
    input: Omit<ConstructorParameters<typeof QueryCommand>[0], 'TableName'>,
    limit = Number.POSITIVE_INFINITY,
  ): Promise<Array<Record<string, unknown>>> {
    const items: Array<Record<string, unknown>> = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const remaining = limit - items.length;
      const page = await this.#doc.send(
        new QueryCommand({
          ...input,
          TableName: this.tableName,
          ...(Number.isFinite(remaining) ? { Limit: remaining } : {}),
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey && items.length < limit);
    return items;
  }
}
