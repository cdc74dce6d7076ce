/**
 * `ControlsStore` in the history table: one item per app under a `CONTROLS` partition
 * (`CONTROLS` / `<app>`), so `status` lists every control in one query. Each setter is one
 * UpdateItem of one attribute; an item left with neither is deleted (conditionally, so a
 * concurrent setter is not lost).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { AppControls, ControlsStore, Pin, Suspension } from './controls.ts';

export const CONTROLS_PK = 'CONTROLS';

export class DynamoControls implements ControlsStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #tableName: string;

  constructor(doc: DynamoDBDocumentClient, tableName: string) {
    this.#doc = doc;
    this.#tableName = tableName;
  }

  async getControls(app: string): Promise<AppControls | undefined> {
    const result = await this.#doc.send(
      new GetCommand({ TableName: this.#tableName, Key: { pk: CONTROLS_PK, sk: app }, ConsistentRead: true }),
    );
    return result.Item ? toControls(result.Item) : undefined;
  }

  async listControls(): Promise<AppControls[]> {
    const controls: AppControls[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.#doc.send(
        new QueryCommand({
          TableName: this.#tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': CONTROLS_PK },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      controls.push(...(page.Items ?? []).map(toControls));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return controls;
  }

  async setSuspended(app: string, suspension: Suspension | undefined): Promise<void> {
    await this.#set(app, 'suspended', suspension);
  }

  async setPinned(app: string, pin: Pin | undefined): Promise<void> {
    await this.#set(app, 'pinned', pin);
  }

  async #set(app: string, attribute: 'suspended' | 'pinned', value: object | undefined): Promise<void> {
    const key = { pk: CONTROLS_PK, sk: app };
    await this.#doc.send(
      new UpdateCommand({
        TableName: this.#tableName,
        Key: key,
        ...(value === undefined
          ? { UpdateExpression: 'REMOVE #a', ExpressionAttributeNames: { '#a': attribute } }
          : {
              UpdateExpression: 'SET #a = :v, app = :app',
              ExpressionAttributeNames: { '#a': attribute },
              ExpressionAttributeValues: { ':v': value, ':app': app },
            }),
      }),
    );
    if (value !== undefined) return;
    try {
      await this.#doc.send(
        new DeleteCommand({
          TableName: this.#tableName,
          Key: key,
          ConditionExpression: 'attribute_not_exists(suspended) AND attribute_not_exists(pinned)',
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}

function toControls(item: Record<string, unknown>): AppControls {
  const controls: AppControls = { app: String(item.sk) };
  if (item.suspended) controls.suspended = item.suspended as Suspension;
  if (item.pinned) controls.pinned = item.pinned as Pin;
  return controls;
}
