/**
 * One CLI-like process for the sqlite race test: opens the shared file, waits for the go signal
 * (a line on stdin), then for each app (from its own offset) tries to take the lease and to write the first state.
 * Prints one JSON line: the apps whose lease and state it won.
 */
import { once } from 'node:events';
import { SqliteHistoryStore } from '../../lambda/history/sqlite-store.ts';
import { StateConflictError } from '../../lambda/history/store.ts';

const [path, owner, appCount, offset] = process.argv.slice(2);
const store = new SqliteHistoryStore({ path: path! });
process.stdout.write('ready\n');
await once(process.stdin, 'data');

const leases: string[] = [];
const states: string[] = [];
// Each process starts at its own offset, so they meet mid-way and contend for the same apps.
for (let step = 0; step < Number(appCount); step++) {
  const app = `app-${(step + Number(offset ?? 0)) % Number(appCount)}`;
  const key = { app, cluster: 'uid:race' };
  if (await store.acquireLease(key, owner!, 60_000, Date.UTC(2030, 0, 1))) leases.push(app);
  try {
    await store.putState(key, { revision: owner, inventory: [] }, 0);
    states.push(app);
  } catch (error) {
    if (!(error instanceof StateConflictError)) throw error;
  }
}
await store.close();
process.stdout.write(`${JSON.stringify({ owner, leases, states })}\n`);
process.stdin.destroy();
