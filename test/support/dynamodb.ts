/**
 * DynamoDB on loopback: `dynalite`, an implementation that validates requests like the service.
 * In memory; each call starts a fresh, empty server.
 */
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { ensureTable } from '../../lambda/history/dynamodb-table.ts';

export interface LocalDynamo {
  /** `http://127.0.0.1:PORT`, for `endpoint` or `AWS_ENDPOINT_URL_DYNAMODB`. */
  endpoint: string;
  /** Client settings that reach it: endpoint, a region and dummy credentials. */
  clientConfig: {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  stop(): Promise<void>;
}

/** Starts a server; with `table`, the history table the stores use is created in it. */
export async function startDynamo(options: { table?: string } = {}): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientConfig = {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
  if (options.table) {
    const client = new DynamoDBClient(clientConfig);
    await ensureTable(client, options.table);
    client.destroy();
  }
  return {
    endpoint,
    clientConfig,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }),
  };
}
