/**
 * Fault: DynamoDB (the Lambda's history store) unavailable, through the real Lambda handler.
 * dynalite sits behind a TCP relay that can be cut and restored, so its data survives the outage.
 *
 *   DynamoDB unreachable at start -> invocation error; nothing applied, nothing recorded;
 *                                    the next invocation syncs
 *   DynamoDB lost before the run   -> invocation error (HistoryWriteError); the full record
 *   record is finished                (outcome, every resource) in one structured ERROR line;
 *                                    the history shows the run Running, the next invocation is
 *                                    Skipped until the lease expires, then syncs and marks it
 *                                    Interrupted
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { parseConfig } from '../../lambda/config.ts';
import { createHandler, type HandlerDeps } from '../../lambda/handler.ts';
import { ensureTable } from '../../lambda/history/dynamodb-table.ts';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import type { HistoryStore } from '../../lambda/history/store.ts';
import { loadSource } from '../../lambda/source/source.ts';
import { HistoryWriteError } from '../../lambda/sync.ts';
import { freePort } from '../support/control-plane.ts';
import { type LocalDynamo, startDynamo } from '../support/dynamodb.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectlGet } from '../support/kubectl.ts';
import { appManifests, expectedConfigMaps, observedConfigMaps, range } from './fault-app.ts';
import { startTcpRelay, type TcpRelay } from './tcp-relay.ts';

const cp = inject('controlPlane');
const TABLE = 'faults-history';
/** The handler's lease TTL (runSync's default). */
const LEASE_TTL_MS = 60_000;

let git: GitServer;
let dynamo: LocalDynamo;
let relay: TcpRelay;
let workDir: string;

beforeAll(async () => {
  [git, dynamo] = await Promise.all([startGitServer(), startDynamo()]);
  const client = new DynamoDBClient(dynamo.clientConfig);
  await ensureTable(client, TABLE);
  client.destroy();
  relay = await startTcpRelay({ port: Number(new URL(dynamo.endpoint).port) });
  workDir = await mkdtemp(join(tmpdir(), 'driftless-faults-history-'));
});

afterAll(async () => {
  await relay?.stop();
  await git?.stop();
  await dynamo?.stop();
  await rm(workDir, { recursive: true, force: true });
});

/** Every JSON line Powertools wrote (stdout and stderr), parsed. */
let written: string[];
beforeEach(() => {
  written = [];
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
  }
});
afterEach(() => {
  vi.restoreAllMocks();
  relay.restore();
});

function logLines(): Record<string, any>[] {
  return written
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line))
    .filter((doc) => typeof doc.message === 'string');
}

/** A store on the same table, reached directly (not through the relay): the test's own view. */
function directStore(): Promise<HistoryStore> {
  return openHistoryStore(`dynamodb:${TABLE}`, { dynamodbClient: dynamo.clientConfig });
}

async function newApp(app: string, objects: number): Promise<string> {
  const repo = await git.createRepo(app);
  await repo.commit(appManifests(app, range(0, objects), 'v1'));
  return repo.url;
}

/** A handler as the stack deploys it, with the history store at `endpoint`. */
function handlerFor(
  app: string,
  repoUrl: string,
  endpoint: string,
  extra: Partial<HandlerDeps> & { wrapStore?: (store: HistoryStore) => HistoryStore } = {},
) {
  const { wrapStore = (store) => store, ...deps } = extra;
  return createHandler({
    logger: new Logger({ serviceName: 'driftless' }),
    loadConfig: async () =>
      parseConfig({
        apps: [
          {
            name: app,
            repo: repoUrl,
            namespace: app,
            prune: true,
            cluster: { name: 'c', region: 'eu-west-1' },
          },
        ],
      }),
    openStore: async () =>
      wrapStore(
        await openHistoryStore(`dynamodb:${TABLE}`, {
          dynamodbClient: { ...dynamo.clientConfig, endpoint, maxAttempts: 2 },
        }),
      ),
    loadSource: (settings) => loadSource(settings, { cacheDir: join(workDir, 'git') }),
    connect: () => connectCluster({ type: 'kubeconfig', kubeconfig: cp.kubeconfig }),
    ...deps,
  });
}

describe('DynamoDB unreachable when an invocation starts', () => {
  it('fails the invocation before touching the cluster, records nothing, and the next invocation syncs', async () => {
    const app = 'faults-dynamo-start';
    const repoUrl = await newApp(app, 3);
    const closed = `http://127.0.0.1:${await freePort()}`;

    await expect(handlerFor(app, repoUrl, closed)({ app })).rejects.toThrow(
      new RegExp(
        `history store failed while reading the controls \\(suspend, pin\\) of app "${app}"; nothing was synced: .*ECONNREFUSED`,
      ),
    );
    expect(await kubectlGet(cp.kubeconfig, 'namespace', app)).toBeUndefined();
    expect(await observedConfigMaps(cp.kubeconfig, app)).toEqual(new Map());

    const summary = await handlerFor(app, repoUrl, dynamo.endpoint)({ app });
    expect(summary).toMatchObject({ outcome: 'Synced', counts: { created: 4 } });
    expect(await observedConfigMaps(cp.kubeconfig, app)).toEqual(expectedConfigMaps(range(0, 3), 'v1'));
    const store = await directStore();
    try {
      expect((await store.listRuns({ app })).map((r) => r.outcome)).toEqual(['Synced']);
    } finally {
      await store.close();
    }
  });
});

describe('DynamoDB lost after the cluster work and the state, before the record is finished', () => {
  it('logs the full result as one structured line, fails the invocation; the run shows Interrupted once the next run takes over', async () => {
    const app = 'faults-dynamo-end';
    const repoUrl = await newApp(app, 5);
    const relayed = `http://127.0.0.1:${relay.port}`;
    const cutting = (store: HistoryStore): HistoryStore => ({
      ...bind(store),
      finishRun: (record) => {
        relay.cut();
        return store.finishRun(record);
      },
    });

    const failure = await handlerFor(app, repoUrl, relayed, { wrapStore: cutting })({ app }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(HistoryWriteError);
    expect((failure as Error).message).toMatch(
      new RegExp(`history store failed while recording run \\S+ of app "${app}"`),
    );

    // The cluster work was done.
    expect(await observedConfigMaps(cp.kubeconfig, app)).toEqual(expectedConfigMaps(range(0, 5), 'v1'));
    const lost = logLines().filter(
      (line) => line.message === 'sync result not recorded: history store failed',
    );
    expect(lost).toHaveLength(1);
    const [line] = lost;
    expect(line).toMatchObject({ level: 'ERROR', service: 'driftless', app });
    expect(line?.record).toMatchObject({
      app,
      outcome: 'Synced',
      revision: expect.stringMatching(/^[0-9a-f]{40}$/),
    });
    // The full result: every object the run created, by name.
    expect(
      ((line?.record.resources ?? []) as { kind: string; name: string; action: string }[])
        .map((r) => `${r.kind}/${r.name}:${r.action}`)
        .sort(),
    ).toEqual([...range(0, 5).map((i) => `ConfigMap/cm-00${i}:created`), `Namespace/${app}:created`]);
    expect(line?.record.counts).toEqual({ created: 6 });
    const runId = line?.record.runId as string;

    relay.restore();
    const store = await directStore();
    try {
      // Only the start was recorded; the lease was not given back.
      expect((await store.listRuns({ app })).map((r) => [r.runId, r.outcome])).toEqual([[runId, 'Running']]);
      const blocked = await handlerFor(app, repoUrl, dynamo.endpoint)({ app });
      expect(blocked.outcome).toBe('Skipped');

      const later = () => Date.now() + LEASE_TTL_MS;
      const next = await handlerFor(app, repoUrl, dynamo.endpoint, { now: later })({ app });
      expect(next).toMatchObject({ outcome: 'Synced', interrupted: [runId] });
      expect(next.counts.failed).toBeUndefined();
      expect(await observedConfigMaps(cp.kubeconfig, app)).toEqual(expectedConfigMaps(range(0, 5), 'v1'));
      const history = await store.listRuns({ app });
      expect(history.map((r) => r.outcome)).toEqual(['Synced', 'Skipped', 'Interrupted']);
      expect(history[2]?.runId).toBe(runId);
    } finally {
      await store.close();
    }
  });
});

describe('DynamoDB lost after the cluster work, before the state is written', () => {
  it('keeps every object of the run in the logged record, fails the invocation, and the next run converges', async () => {
    const app = 'faults-dynamo-state';
    const repoUrl = await newApp(app, 5);
    const relayed = `http://127.0.0.1:${relay.port}`;
    // The first putState is the write-ahead inventory (before any cluster write); cut at the final one.
    let stateWrites = 0;
    const cutting = (store: HistoryStore): HistoryStore => ({
      ...bind(store),
      putState: (...args) => {
        stateWrites += 1;
        if (stateWrites === 2) relay.cut();
        return store.putState(...args);
      },
    });

    const failure = await handlerFor(app, repoUrl, relayed, { wrapStore: cutting })({ app }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(HistoryWriteError);
    expect(await observedConfigMaps(cp.kubeconfig, app)).toEqual(expectedConfigMaps(range(0, 5), 'v1'));
    const lost = logLines().filter(
      (line) => line.message === 'sync result not recorded: history store failed' && line.app === app,
    );
    expect(lost).toHaveLength(1);
    const record = lost[0]?.record as { outcome: string; error: string; counts: Record<string, number> };
    expect(record.outcome).toBe('Failed');
    expect(record.error).toMatch(/^state not stored \(history store failed\): /);
    // What the run did to the cluster is in the line, not lost with the state.
    expect(record.counts).toEqual({ created: 6 });

    relay.restore();
    const later = () => Date.now() + LEASE_TTL_MS;
    const next = await handlerFor(app, repoUrl, dynamo.endpoint, { now: later })({ app });
    expect(next).toMatchObject({ outcome: 'Synced', counts: { unchanged: 6 } });
    expect(await observedConfigMaps(cp.kubeconfig, app)).toEqual(expectedConfigMaps(range(0, 5), 'v1'));
  });
});

/** The store's methods bound to it, so a copy can replace one of them. */
function bind(store: HistoryStore): HistoryStore {
  return {
    startRun: store.startRun.bind(store),
    finishRun: store.finishRun.bind(store),
    listRuns: store.listRuns.bind(store),
    markInterrupted: store.markInterrupted.bind(store),
    getState: store.getState.bind(store),
    putState: store.putState.bind(store),
    acquireLease: store.acquireLease.bind(store),
    releaseLease: store.releaseLease.bind(store),
    close: store.close.bind(store),
  };
}
