/**
 * The rig of the hostile-input suite: a real Git smart-HTTP server, a history store (node:sqlite
 * or DynamoDB via dynalite), the shared local API server, and `runSync` wired as the shells wire
 * it (the real `loadSource`, the real `connectCluster`). Every log line is kept, and the history
 * can be read back raw (database bytes, DynamoDB items with their payloads unzipped), so a test
 * can grep everything a run left behind.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { type AttributeValue, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { ensureTable } from '../../lambda/history/dynamodb-table.ts';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import type { HistoryStore, SyncRecord } from '../../lambda/history/store.ts';
import type { SyncLogger } from '../../lambda/log.ts';
import { loadSource, type ManifestLimits } from '../../lambda/source/source.ts';
import { runSync, type SyncInput, type SyncRun } from '../../lambda/sync.ts';
import { type CliRun, runDriftless } from '../support/driftless-cli.ts';
import { type LocalDynamo, startDynamo } from '../support/dynamodb.ts';
import type { GitServer } from '../support/git-server.ts';

const exec = promisify(execFile);

export type StoreKind = 'sqlite' | 'dynamodb';

/** A logger that keeps every line as the JSON a Powertools logger would print. */
export interface CapturingLogger extends SyncLogger {
  lines: { level: string; message: string; attributes?: Record<string, unknown> }[];
  /** Every line, one JSON document each. */
  text(): string;
}

export function capturingLogger(): CapturingLogger {
  const lines: CapturingLogger['lines'] = [];
  const keep = (level: string) => (message: string, attributes?: Record<string, unknown>) => {
    lines.push({ level, message, attributes });
  };
  return {
    lines,
    text: () => lines.map((line) => JSON.stringify(line)).join('\n'),
    debug: keep('debug'),
    info: keep('info'),
    warn: keep('warn'),
    error: keep('error'),
  };
}

/** A history store plus a way to read back everything it holds, byte for byte. */
export interface HostileStore {
  kind: StoreKind;
  store: HistoryStore;
  /** Everything stored, as text: raw database files (sqlite) or every item with payloads unzipped. */
  dump(): Promise<string>;
  close(): Promise<void>;
}

export async function openHostileStore(kind: StoreKind, workDir: string): Promise<HostileStore> {
  if (kind === 'sqlite') {
    const path = join(workDir, 'history.db');
    const store = await openHistoryStore(`sqlite:${path}`);
    return {
      kind,
      store,
      // The database file and its WAL: a value in a page not yet checkpointed is still on disk.
      dump: async () => {
        const files = (await readdir(workDir)).filter((f) => f.startsWith('history.db'));
        const parts = await Promise.all(files.map((f) => readFile(join(workDir, f))));
        return parts.map((bytes) => bytes.toString('latin1')).join('\n');
      },
      close: () => store.close(),
    };
  }
  const dynamo: LocalDynamo = await startDynamo();
  const client = new DynamoDBClient(dynamo.clientConfig);
  const table = 'hostile-history';
  await ensureTable(client, table);
  const store = await openHistoryStore(`dynamodb:${table}`, { dynamodbClient: client });
  return {
    kind,
    store,
    dump: async () => {
      const items: unknown[] = [];
      let start: Record<string, AttributeValue> | undefined;
      do {
        const page = await client.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
        items.push(...(page.Items ?? []).map(readable));
        start = page.LastEvaluatedKey;
      } while (start);
      return JSON.stringify(items);
    },
    close: async () => {
      await store.close();
      client.destroy();
      await dynamo.stop();
    },
  };
}

/** An item as text: binary attributes (the gzipped resources and state) unzipped when they can be. */
function readable(value: unknown): unknown {
  if (value instanceof Uint8Array) {
    try {
      return gunzipSync(value).toString('utf8');
    } catch {
      return Buffer.from(value).toString('latin1');
    }
  }
  if (Array.isArray(value)) return value.map(readable);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, readable(v)]));
  }
  return value;
}

export interface HostileSyncOptions {
  /** Manifest limits given to `loadSource` (a library user can raise them). */
  limits?: Partial<ManifestLimits>;
  /** CA certificates `loadSource` trusts (an HTTPS test git server's). */
  ca?: readonly string[];
}

/** What one sync left: the run, and every line it logged. */
export interface HostileRun {
  run: SyncRun;
  logs: CapturingLogger;
}

/**
 * Runs one sync as the Lambda does, with the real source loader and cluster connector against
 * the local API server; prune is on unless the input says otherwise.
 */
export async function hostileSync(
  input: Pick<SyncInput, 'app' | 'source'> & Partial<SyncInput>,
  env: { store: HistoryStore; cacheDir: string; kubeconfig: string },
  options: HostileSyncOptions = {},
): Promise<HostileRun> {
  const logs = capturingLogger();
  const run = await runSync(
    {
      target: { type: 'kubeconfig', kubeconfig: env.kubeconfig },
      prune: true,
      trigger: 'test',
      ...input,
    },
    {
      store: env.store,
      logger: logs,
      // The run's context too (capabilities, the app's cache partition), as the shells pass it.
      loadSource: (settings, context) =>
        loadSource(settings, {
          ...context,
          cacheDir: env.cacheDir,
          logger: logs,
          limits: options.limits,
          ca: options.ca,
        }),
      connect: (target) => connectCluster(target),
    },
  );
  return { run, logs };
}

/** The app's runs, oldest first. */
export async function runsOf(store: HistoryStore, app: string): Promise<SyncRecord[]> {
  return (await store.listRuns({ app, limit: 100 })).reverse();
}

/** Runs `driftless` as a user does (see `test/support/driftless-cli.ts`). */
export const driftlessCli = runDriftless;
export type { CliRun };

/** Every file under `dir` (names and contents), as text: for grepping a cache folder. */
export async function dumpTree(dir: string): Promise<string> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  const parts: string[] = [];
  for (const entry of entries) {
    const path = join(entry.parentPath, entry.name);
    parts.push(path);
    if (entry.isFile()) parts.push((await readFile(path)).toString('latin1'));
  }
  return parts.join('\n');
}

/** Creates a symlink in a test repository's work tree (committed by the next `commit`). */
export async function symlinkInRepo(workTree: string, target: string, path: string): Promise<void> {
  await exec('ln', ['-s', target, join(workTree, path)]);
}

export type { GitServer };
