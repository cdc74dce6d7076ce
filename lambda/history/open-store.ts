/**
 * Turns a `--history` value into a store. Each store is imported only when chosen, so the Lambda
 * never loads `node:sqlite` and the CLI loads the AWS SDK only for `dynamodb:`.
 */
import { isAbsolute, resolve } from 'node:path';
import type { DynamoDBClient, DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import type { HistoryStore } from './store.ts';

export const DEFAULT_HISTORY_SPEC = 'sqlite:.driftless/history.db';

export type HistorySpec = { kind: 'sqlite'; path: string } | { kind: 'dynamodb'; tableName: string };

export interface OpenHistoryStoreOptions {
  /** Folder a relative `sqlite:` path is resolved against. @default process.cwd() */
  cwd?: string;
  /** Client or client settings for `dynamodb:`. @default a client from the environment */
  dynamodbClient?: DynamoDBClient | DynamoDBClientConfig;
  /** Days DynamoDB keeps a run record. @default 90 */
  recordTtlDays?: number;
}

/** DynamoDB's own rule for table names. */
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;

/** Parses `sqlite:PATH` or `dynamodb:TABLE`; throws an error naming `--history` and both forms. */
export function parseHistorySpec(spec: string = DEFAULT_HISTORY_SPEC): HistorySpec {
  const colon = spec.indexOf(':');
  const scheme = colon === -1 ? '' : spec.slice(0, colon);
  const rest = colon === -1 ? '' : spec.slice(colon + 1);
  if (scheme === 'sqlite' && rest !== '') return { kind: 'sqlite', path: rest };
  if (scheme === 'dynamodb' && TABLE_NAME.test(rest)) return { kind: 'dynamodb', tableName: rest };
  throw new Error(
    `--history ${JSON.stringify(spec)} is not a history store: use sqlite:PATH ` +
      `(default ${DEFAULT_HISTORY_SPEC}) or dynamodb:TABLE (a DynamoDB table name, 3-255 of A-Z a-z 0-9 _ . -)`,
  );
}

/** Opens the store `spec` names (default `sqlite:.driftless/history.db`). Close it when done. */
export async function openHistoryStore(
  spec?: string,
  options: OpenHistoryStoreOptions = {},
): Promise<HistoryStore> {
  const parsed = parseHistorySpec(spec);
  if (parsed.kind === 'sqlite') {
    const { SqliteHistoryStore } = await import('./sqlite-store.ts');
    const path =
      parsed.path === ':memory:' || isAbsolute(parsed.path)
        ? parsed.path
        : resolve(options.cwd ?? process.cwd(), parsed.path);
    return new SqliteHistoryStore({ path });
  }
  const { DynamoHistoryStore } = await import('./dynamodb-store.ts');
  return new DynamoHistoryStore({
    tableName: parsed.tableName,
    ...(options.dynamodbClient ? { client: options.dynamodbClient } : {}),
    ...(options.recordTtlDays === undefined ? {} : { recordTtlDays: options.recordTtlDays }),
  });
}
