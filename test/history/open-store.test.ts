import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoHistoryStore } from '../../lambda/history/dynamodb-store.ts';
import { openHistoryStore, parseHistorySpec } from '../../lambda/history/open-store.ts';
import { SqliteHistoryStore } from '../../lambda/history/sqlite-store.ts';

const folder = mkdtempSync(join(tmpdir(), 'driftless-open-store-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('openHistoryStore', () => {
  it('opens .driftless/history.db under the working folder when no --history is given', async () => {
    const store = await openHistoryStore(undefined, { cwd: folder });
    expect(store).toBeInstanceOf(SqliteHistoryStore);
    expect((store as SqliteHistoryStore).path).toBe(join(folder, '.driftless', 'history.db'));
    await store.close();
    expect(existsSync(join(folder, '.driftless', 'history.db'))).toBe(true);
  });

  it('opens sqlite:PATH relative to the working folder, or absolute', async () => {
    const relative = await openHistoryStore('sqlite:runs/h.db', { cwd: folder });
    expect((relative as SqliteHistoryStore).path).toBe(join(folder, 'runs', 'h.db'));
    await relative.close();
    const absolute = await openHistoryStore(`sqlite:${join(folder, 'abs.db')}`);
    expect((absolute as SqliteHistoryStore).path).toBe(join(folder, 'abs.db'));
    await absolute.close();
  });

  it('opens dynamodb:TABLE with the given client settings', async () => {
    const store = await openHistoryStore('dynamodb:driftless-history', {
      dynamodbClient: { region: 'eu-west-1' },
      recordTtlDays: 30,
    });
    expect(store).toBeInstanceOf(DynamoHistoryStore);
    expect((store as DynamoHistoryStore).tableName).toBe('driftless-history');
    expect((store as DynamoHistoryStore).recordTtlDays).toBe(30);
    await store.close();
  });

  it.each([
    'history.db',
    'sqlite:',
    'dynamodb:',
    'dynamodb:a',
    'dynamodb:no spaces',
    'mysql://localhost/db',
    '',
  ])('rejects %j with an error naming --history and the accepted forms', (spec) => {
    expect(() => parseHistorySpec(spec)).toThrow(/--history .*sqlite:PATH.*dynamodb:TABLE/);
  });

  it('rejects a bad spec before touching any store', async () => {
    await expect(openHistoryStore('redis:x', { cwd: folder })).rejects.toThrow(/--history "redis:x"/);
  });
});
