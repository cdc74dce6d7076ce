import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteHistoryStore } from '../../lambda/history/sqlite-store.ts';
import { describeHistoryStoreContract, runRecord, thousandResources } from './store-contract.ts';

const folders: string[] = [];

function tempFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'driftless-history-'));
  folders.push(folder);
  return folder;
}

afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

describeHistoryStoreContract('SqliteHistoryStore', {
  async open() {
    return new SqliteHistoryStore({ path: join(tempFolder(), 'nested', 'history.db') });
  },
});

/** Reads a child's stdout line by line. */
function lines(child: ChildProcess): AsyncIterator<string> {
  return createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
}

describe('SqliteHistoryStore file', () => {
  it('creates the folders of its path', async () => {
    const path = join(tempFolder(), 'a', 'b', 'history.db');
    const store = new SqliteHistoryStore({ path });
    await store.close();
    expect(existsSync(path)).toBe(true);
  });

  it('keeps every diff of a 1,000-object run whole', async () => {
    const store = new SqliteHistoryStore({ path: join(tempFolder(), 'history.db') });
    const resources = thousandResources();
    await store.finishRun(runRecord('big', 'run-1', 0, { outcome: 'Synced', resources }));
    expect((await store.listRuns({ app: 'big' }))[0]?.resources).toEqual(resources);
    await store.close();
  });

  it('lets exactly one of four processes take each lease and write each first state', async () => {
    const path = join(tempFolder(), 'history.db');
    const appCount = 1000;
    const children = Array.from({ length: 4 }, (_, i) =>
      spawn(
        process.execPath,
        [
          join(import.meta.dirname, 'lease-race-child.ts'),
          path,
          `cli-${i}`,
          String(appCount),
          String(i * 250),
        ],
        {
          stdio: ['pipe', 'pipe', 'inherit'],
        },
      ),
    );
    const exits = children.map((child) => once(child, 'exit'));
    const outputs = children.map(lines);
    for (const output of outputs) expect((await output.next()).value).toBe('ready');
    // All four have the database open; start them together.
    for (const child of children) child.stdin!.write('go\n');
    const results = [];
    for (const [i, output] of outputs.entries()) {
      results.push(JSON.parse((await output.next()).value) as { leases: string[]; states: string[] });
      expect((await exits[i])?.[0]).toBe(0);
    }

    const apps = Array.from({ length: appCount }, (_, i) => `app-${i}`);
    expect(results.flatMap((r) => r.leases).sort()).toEqual([...apps].sort());
    expect(results.flatMap((r) => r.states).sort()).toEqual([...apps].sort());
    const store = new SqliteHistoryStore({ path });
    for (const result of results) {
      for (const app of result.states) {
        expect((await store.getState({ app, cluster: 'uid:race' }))?.version).toBe(1);
      }
    }
    await store.close();
  });
});
