/**
 * The physical shape of the history table, shared by the DynamoDB store, `ensureTable` (tests and
 * local CLI use) and the CDK stack: one table, string partition key `pk`, string sort key `sk`,
 * TTL on `expiresAt` (epoch seconds, set on run records only), on-demand billing, no indexes.
 */
import {
  CreateTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';

/** Attribute names the table is created with; the stack must use exactly these. */
export const HISTORY_TABLE_SCHEMA = {
  partitionKey: 'pk',
  sortKey: 'sk',
  timeToLiveAttribute: 'expiresAt',
} as const;

/**
 * Creates the history table when it does not exist, waits until it is active and turns on TTL.
 * Idempotent. For tests and local CLI use; deployed stacks get the table from CDK.
 */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: HISTORY_TABLE_SCHEMA.partitionKey, AttributeType: 'S' },
          { AttributeName: HISTORY_TABLE_SCHEMA.sortKey, AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: HISTORY_TABLE_SCHEMA.partitionKey, KeyType: 'HASH' },
          { AttributeName: HISTORY_TABLE_SCHEMA.sortKey, KeyType: 'RANGE' },
        ],
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  // Resolves once the table is ACTIVE.
  await waitUntilTableExists({ client, maxWaitTime: 120, minDelay: 1 }, { TableName: tableName });
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { Enabled: true, AttributeName: HISTORY_TABLE_SCHEMA.timeToLiveAttribute },
      }),
    );
  } catch (error) {
    // Already enabled (ValidationException), or a local implementation without TTL (dynalite):
    // TTL only garbage-collects old runs, nothing depends on it.
    const name = (error as { name?: string }).name;
    if (name !== 'ValidationException' && name !== 'UnknownOperationException') throw error;
  }
}
