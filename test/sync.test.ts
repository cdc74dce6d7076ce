/**
 * `runSync` end to end against real servers: the local API server, a Git smart-HTTP server, and
 * both history stores (node:sqlite and DynamoDB via dynalite).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectCluster } from '../lambda/cluster/target.ts';
import { ensureTable } from '../lambda/history/dynamodb-table.ts';
import { openHistoryStore } from '../lambda/history/open-store.ts';
import type { HistoryStore, SyncRecord } from '../lambda/history/store.ts';
import type { SyncLogger } from '../lambda/log.ts';
import { reconcile } from '../lambda/reconcile/reconcile.ts';
import { loadSource } from '../lambda/source/source.ts';
import { HistoryWriteError, runSync, type SyncDeps, type SyncInput } from '../lambda/sync.ts';
import { appKey } from './support/app-key.ts';
import { type LocalDynamo, startDynamo } from './support/dynamodb.ts';
import { type GitRepo, type GitServer, startGitServer } from './support/git-server.ts';
import { kubectlGet } from './support/kubectl.ts';

const cp = inject('controlPlane');
const LEASE_TTL_MS = 60_000;

let git: GitServer;
let dynamo: LocalDynamo;
let dynamoClient: DynamoDBClient;
let workDir: string;

beforeAll(async () => {
  git = await startGitServer();
  dynamo = await startDynamo();
  dynamoClient = new DynamoDBClient(dynamo.clientConfig);
  await ensureTable(dynamoClient, 'sync-history');
  workDir = await mkdtemp(join(tmpdir(), 'driftless-sync-test-'));
});

afterAll(async () => {
  dynamoClient?.destroy();
  await git?.stop();
  await dynamo?.stop();
  await rm(workDir, { recursive: true, force: true });
});

function manifests(namespace: string, greeting = 'hello'): Record<string, string> {
  return {
    // Sorts before namespace.yaml on purpose.
    'configmap.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\n  namespace: ${namespace}\ndata:\n  text: ${greeting}\n`,
    'namespace.yaml': `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${namespace}\n`,
  };
}

/** A logger that keeps every line, to assert on what was logged. */
function memoryLogger(): SyncLogger & {
  lines: { level: string; message: string; attributes?: Record<string, unknown> }[];
} {
  const lines: { level: string; message: string; attributes?: Record<string, unknown> }[] = [];
  const keep = (level: string) => (message: string, attributes?: Record<string, unknown>) => {
    lines.push({ level, message, attributes });
  };
  return { lines, debug: keep('debug'), info: keep('info'), warn: keep('warn'), error: keep('error') };
}

describe.each(['sqlite', 'dynamodb'] as const)('runSync with the %s history store', (kind) => {
  let store: HistoryStore;
  let counter = 0;
  /** A fresh app name, namespace and repository per test. */
  async function newApp(): Promise<{ app: string; namespace: string; repo: GitRepo; revision: string }> {
    counter += 1;
    const app = `sync-${kind}-${counter}`;
    const repo = await git.createRepo(app);
    const revision = await repo.commit(manifests(app));
    return { app, namespace: app, repo, revision };
  }

  function input(app: string, repo: GitRepo, extra: Partial<SyncInput> = {}): SyncInput {
    return {
      app,
      source: { repo: repo.url },
      target: { type: 'kubeconfig', kubeconfig: cp.kubeconfig },
      prune: true,
      trigger: 'test',
      ...extra,
    };
  }

  function deps(extra: Partial<SyncDeps> = {}): SyncDeps {
    return {
      store,
      loadSource: (settings) => loadSource(settings, { cacheDir: join(workDir, 'cache', kind) }),
      connect: (target) => connectCluster(target),
      leaseTtlMs: LEASE_TTL_MS,
      ...extra,
    };
  }

  beforeAll(async () => {
    store =
      kind === 'sqlite'
        ? await openHistoryStore(`sqlite:${join(workDir, 'history.db')}`)
        : await openHistoryStore('dynamodb:sync-history', { dynamodbClient: dynamoClient });
  });
  afterAll(async () => {
    await store?.close();
  });

  it('applies a new revision, records Running then Synced, and stores the state', async () => {
    const { app, namespace, repo, revision } = await newApp();
    const seenWhileRunning: SyncRecord[] = [];
    const run = await runSync(
      input(app, repo),
      deps({
        reconcile: async (reconcileInput) => {
          seenWhileRunning.push(...(await store.listRuns({ app })));
          return reconcile(reconcileInput);
        },
      }),
    );

    expect(seenWhileRunning.map((r) => r.outcome)).toEqual(['Running']);
    expect(run.record).toMatchObject({ app, revision, outcome: 'Synced', dryRun: false, trigger: 'test' });
    expect(run.record.counts).toEqual({ created: 2 });
    expect(run.result.outcome).toBe('Synced');
    const [stored] = await store.listRuns({ app });
    expect(stored).toMatchObject({ runId: run.record.runId, outcome: 'Synced', revision });
    expect((await store.getState(await appKey(cp.kubeconfig, app)))?.state.revision).toBe(revision);
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'greeting', namespace))?.data.text).toBe('hello');
  });

  it('lets only one of two overlapping syncs of an app reconcile; the other records Skipped', async () => {
    const { app, repo } = await newApp();
    let reconciles = 0;
    let releaseFirst!: () => void;
    const firstMayFinish = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    const counting: SyncDeps['reconcile'] = async (reconcileInput) => {
      reconciles += 1;
      await firstMayFinish;
      return reconcile(reconcileInput);
    };
    const first = runSync(input(app, repo), deps({ reconcile: counting }));
    // The second starts while the first is held inside reconcile, holding the lease.
    let firstSettled = false;
    void first.finally(() => {
      firstSettled = true;
    });
    while (reconciles === 0 && !firstSettled) await sleep(20);
    if (firstSettled) expect((await first).record, 'first run ended before reconcile').toBeUndefined();
    const second = await runSync(input(app, repo), deps({ reconcile: counting }));
    releaseFirst();
    const firstRun = await first;

    expect(reconciles).toBe(1);
    expect(firstRun.record.outcome).toBe('Synced');
    expect(second.record.outcome).toBe('Skipped');
    expect(second.record.error).toMatch(/holds the lease/);
    expect(second.result).toMatchObject({ outcome: 'Failed', error: expect.stringMatching(/lease/) });
    const outcomes = (await store.listRuns({ app })).map((r) => r.outcome).sort();
    expect(outcomes).toEqual(['Skipped', 'Synced']);
  });

  it('marks a run that died holding the lease Interrupted once its lease expires, then syncs', async () => {
    const { app, repo } = await newApp();
    const deadStart = Date.now() - 5_000;
    const dead: SyncRecord = {
      runId: 'dead-run',
      app,
      revision: '',
      outcome: 'Running',
      dryRun: false,
      trigger: 'schedule',
      startedAt: new Date(deadStart).toISOString(),
      finishedAt: '',
      durationMs: 0,
      resources: [],
      counts: {},
    };
    await store.acquireLease(await appKey(cp.kubeconfig, app), 'dead-run', LEASE_TTL_MS, deadStart);
    await store.startRun(dead);

    const blocked = await runSync(input(app, repo), deps());
    expect(blocked.record.outcome).toBe('Skipped');

    const later = Date.now() + LEASE_TTL_MS;
    const run = await runSync(input(app, repo), deps({ now: () => later }));
    expect(run.record.outcome).toBe('Synced');
    expect(run.interrupted.map((r) => r.runId)).toEqual(['dead-run']);
    const byId = new Map((await store.listRuns({ app })).map((r) => [r.runId, r]));
    expect(byId.get('dead-run')?.outcome).toBe('Interrupted');
  });

  it('records a failed fetch as Failed and leaves the lease free for the next run', async () => {
    const { app, repo } = await newApp();
    git.setFault('error500');
    let run: Awaited<ReturnType<typeof runSync>>;
    try {
      run = await runSync(input(app, repo), deps());
    } finally {
      git.setFault('none');
    }
    expect(run.record).toMatchObject({ outcome: 'Failed', revision: '' });
    expect(run.record.error).toMatch(/^fetch source: /);
    expect((await store.listRuns({ app }))[0]?.outcome).toBe('Failed');
    expect((await runSync(input(app, repo), deps())).record.outcome).toBe('Synced');
  });

  it('records a bad manifest as Failed and applies nothing', async () => {
    const { app, namespace, repo } = await newApp();
    const revision = await repo.commit({ 'broken.yaml': 'kind: ConfigMap\nmetadata: [unclosed\n' });
    const run = await runSync(input(app, repo), deps());
    expect(run.record.outcome).toBe('Failed');
    expect(run.record.error).toMatch(/broken\.yaml/);
    // The history names the commit whose manifests were refused.
    expect((await store.listRuns({ app }))[0]).toMatchObject({ outcome: 'Failed', revision });
    expect(await kubectlGet(cp.kubeconfig, 'namespace', namespace)).toBeUndefined();
    expect(revision).toMatch(/^[0-9a-f]{40}$/);
  });

  it('records an unreachable API server and rejected credentials as Failed with the reason', async () => {
    const { app, repo } = await newApp();
    const down = join(workDir, `${app}-down.kubeconfig`);
    await writeFile(down, kubeconfigFor('https://127.0.0.1:1', 'whatever'));
    const unreachable = await runSync(
      input(app, repo, { target: { type: 'kubeconfig', kubeconfig: down } }),
      deps(),
    );
    // The cluster's identity keys the lease and the state, so it is read first: no revision yet.
    expect(unreachable.record).toMatchObject({ outcome: 'Failed', revision: '' });
    expect(unreachable.record.error).toMatch(/^connect to cluster: .*(unreachable|ECONNREFUSED)/i);

    const rejected = join(workDir, `${app}-rejected.kubeconfig`);
    await writeFile(rejected, kubeconfigFor(cp.server, 'not-a-valid-token'));
    const unauthorized = await runSync(
      input(app, repo, { target: { type: 'kubeconfig', kubeconfig: rejected } }),
      deps(),
    );
    expect(unauthorized.record.outcome).toBe('Failed');
    expect(unauthorized.record.error).toMatch(/401|Unauthorized/i);
    expect(JSON.stringify(unauthorized.record)).not.toContain('not-a-valid-token');
    const outcomes = (await store.listRuns({ app })).map((r) => r.outcome);
    expect(outcomes).toEqual(['Failed', 'Failed']);
  });

  it('records a dry run without taking the lease or writing state', async () => {
    const { app, repo, revision } = await newApp();
    await store.acquireLease(await appKey(cp.kubeconfig, app), 'someone-else', LEASE_TTL_MS, Date.now());
    const plan = await runSync(input(app, repo, { dryRun: true }), deps());
    expect(plan.record).toMatchObject({ outcome: 'OutOfSync', dryRun: true, revision });
    expect(plan.record.counts).toEqual({ created: 2 });
    expect(await store.getState(await appKey(cp.kubeconfig, app))).toBeUndefined();
    expect((await store.listRuns({ app }))[0]).toMatchObject({ dryRun: true, outcome: 'OutOfSync' });
    await store.releaseLease(await appKey(cp.kubeconfig, app), 'someone-else');
  });

  it('stops writing once another run takes its lease, and records the run Failed', async () => {
    counter += 1;
    const app = `sync-${kind}-${counter}`;
    const repo = await git.createRepo(app);
    const names = Array.from({ length: 30 }, (_, i) => `cm-${i}`);
    await repo.commit(
      Object.fromEntries(
        names.map((name) => [
          `${name}.yaml`,
          `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: default\ndata:\n  a: "1"\n`,
        ]),
      ),
    );
    // The first acquire wins; every renewal finds another owner.
    let acquires = 0;
    const stolen: HistoryStore = {
      startRun: (record) => store.startRun(record),
      finishRun: (record) => store.finishRun(record),
      listRuns: (query) => store.listRuns(query),
      markInterrupted: (...args) => store.markInterrupted(...args),
      getState: (key) => store.getState(key),
      putState: (...args) => store.putState(...args),
      acquireLease: async (...args) => (++acquires === 1 ? store.acquireLease(...args) : false),
      releaseLease: (...args) => store.releaseLease(...args),
      close: async () => undefined,
    };
    const slow = async (target: Parameters<typeof connectCluster>[0]) => {
      const kube = await connectCluster(target);
      return {
        server: kube.server,
        get requestCount() {
          return kube.requestCount;
        },
        async request<T>(req: Parameters<typeof kube.request>[0]) {
          if (req.method === 'PATCH') await sleep(40);
          return kube.request<T>(req);
        },
      };
    };
    const run = await runSync(input(app, repo), deps({ store: stolen, connect: slow, leaseTtlMs: 150 }));
    expect(run.record.outcome).toBe('Failed');
    expect(run.record.error).toMatch(new RegExp(`the lease of app "${app}" was taken by another run`));
    const created = await Promise.all(
      names.map((name) => kubectlGet(cp.kubeconfig, 'configmap', name, 'default')),
    );
    expect(created.filter(Boolean).length).toBeLessThan(names.length);
  });

  it('does not mark a plan still running as Interrupted when a sync runs beside it', async () => {
    const { app, repo } = await newApp();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow = deps({
      loadSource: async (settings) => {
        await gate;
        return loadSource(settings, { cacheDir: join(workDir, 'cache', kind) });
      },
    });
    const plan = runSync(input(app, repo, { dryRun: true }), slow);
    const sync = await runSync(input(app, repo), deps());
    expect(sync.interrupted).toEqual([]);
    release();
    const planned = await plan;
    expect(planned.record).toMatchObject({
      dryRun: true,
      outcome: expect.stringMatching(/Synced|OutOfSync/),
    });
    const runs = await store.listRuns({ app });
    expect(runs.map((r) => r.outcome).sort()).toEqual([planned.record.outcome, 'Synced'].sort());
  });

  it('logs the whole result and throws when the history store fails while finishing', async () => {
    const { app, repo } = await newApp();
    const logger = memoryLogger();
    const failing: HistoryStore = {
      startRun: (record) => store.startRun(record),
      finishRun: async () => {
        throw new Error('table is gone');
      },
      listRuns: (query) => store.listRuns(query),
      markInterrupted: (...args) => store.markInterrupted(...args),
      getState: (key) => store.getState(key),
      putState: (...args) => store.putState(...args),
      acquireLease: (...args) => store.acquireLease(...args),
      releaseLease: (...args) => store.releaseLease(...args),
      close: async () => {},
    };
    await expect(runSync(input(app, repo), deps({ store: failing, logger }))).rejects.toBeInstanceOf(
      HistoryWriteError,
    );
    const line = logger.lines.find((l) => l.message.includes('not recorded'));
    expect(line?.level).toBe('error');
    expect(line?.attributes?.record).toMatchObject({ app, outcome: 'Synced', counts: { created: 2 } });
    // The lease was given back: the next run is not skipped.
    expect((await runSync(input(app, repo), deps())).record.outcome).toBe('Synced');
  });
});

describe('a CLI run killed mid-sync', () => {
  it('is marked Interrupted by the next run once its lease expires', async () => {
    const historyDb = join(workDir, 'killed.db');
    const repo = await git.createRepo('sync-killed');
    await repo.commit(manifests('sync-killed'));
    git.setFault('hang');
    const child = spawn(
      process.execPath,
      [
        'lambda/cli.ts',
        'sync',
        '--repo',
        repo.url,
        '--app',
        'sync-killed',
        '--kubeconfig',
        cp.kubeconfig,
        '--history',
        `sqlite:${historyDb}`,
      ],
      { stdio: 'ignore', env: { ...process.env, DRIFTLESS_CACHE_DIR: join(workDir, 'killed-cache') } },
    );
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    const store = await openHistoryStore(`sqlite:${historyDb}`);
    try {
      // Killed while its fetch hangs: the record says Running and nobody will finish it.
      while ((await store.listRuns({ app: 'sync-killed' }))[0]?.outcome !== 'Running') await sleep(50);
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      git.setFault('none');

      const later = Date.now() + LEASE_TTL_MS;
      const run = await runSync(
        {
          app: 'sync-killed',
          source: { repo: repo.url },
          target: { type: 'kubeconfig', kubeconfig: cp.kubeconfig },
          trigger: 'test',
        },
        {
          store,
          loadSource: (settings) => loadSource(settings, { cacheDir: join(workDir, 'killed-cache') }),
          connect: (target) => connectCluster(target),
          now: () => later,
        },
      );
      expect(run.record.outcome).toBe('Synced');
      expect(run.interrupted).toHaveLength(1);
      const runs = await store.listRuns({ app: 'sync-killed' });
      expect(runs.map((r) => r.outcome)).toEqual(['Synced', 'Interrupted']);
    } finally {
      git.setFault('none');
      child.kill('SIGKILL');
      await store.close();
    }
  });
});

function kubeconfigFor(server: string, token: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'c',
        cluster: { server, 'certificate-authority-data': Buffer.from(cp.caPem).toString('base64') },
      },
    ],
    users: [{ name: 'u', user: { token } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  });
}
