/**
 * The lease has a deadline the run enforces itself (history/lease.ts): no write, apply or delete
 * starts after the last successful take or renewal + TTL − margin, whatever the history store
 * does. The store here answers the first lease call and hangs on every renewal (a DynamoDB call
 * that never returns); writes to the real API server are slowed so the run outlives its deadline.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isNotFound } from '../../lambda/cluster/api-errors.ts';
import { createDiscovery } from '../../lambda/cluster/discovery.ts';
import type { KubeClient, KubeRequest } from '../../lambda/cluster/kube-client.ts';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { guardWrites, leaseMargin, takeLease } from '../../lambda/history/lease.ts';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import type { HistoryStore } from '../../lambda/history/store.ts';
import { silentLogger } from '../../lambda/log.ts';
import { pruneOrphans } from '../../lambda/reconcile/prune.ts';
import { replaceObject } from '../../lambda/reconcile/replace.ts';
import { loadSource } from '../../lambda/source/source.ts';
import { runSync, type SyncInput } from '../../lambda/sync.ts';
import { appKey } from '../support/app-key.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';

const cp = inject('controlPlane');
const TTL_MS = 3_000;
const WRITE_DELAY_MS = 300;

let git: GitServer;
let workDir: string;
let history: HistoryStore;

beforeAll(async () => {
  git = await startGitServer();
  workDir = await mkdtemp(join(tmpdir(), 'driftless-lease-deadline-'));
  history = await openHistoryStore(`sqlite:${join(workDir, 'history.db')}`);
});

afterAll(async () => {
  await history?.close();
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

/** The store, except that every lease call after the first never answers; records when the first was sent. */
function hangingRenewals(store: HistoryStore): HistoryStore & { takenAt?: number; renewals: number } {
  let calls = 0;
  const wrapped = {
    takenAt: undefined as number | undefined,
    renewals: 0,
    startRun: store.startRun.bind(store),
    finishRun: store.finishRun.bind(store),
    listRuns: store.listRuns.bind(store),
    markInterrupted: store.markInterrupted.bind(store),
    getState: store.getState.bind(store),
    putState: store.putState.bind(store),
    releaseLease: store.releaseLease.bind(store),
    close: async () => undefined,
    acquireLease: (...args: Parameters<HistoryStore['acquireLease']>) => {
      if (++calls === 1) {
        wrapped.takenAt = args[3];
        return store.acquireLease(...args);
      }
      wrapped.renewals += 1;
      return new Promise<boolean>(() => {});
    },
  };
  return wrapped;
}

const isWrite = (req: KubeRequest) => req.method !== 'GET' && req.query?.dryRun !== 'All';

/** A client whose every write reaches the server at once and answers `delayMs` later; records when each was sent. */
function slowWrites(kube: KubeClient, delayMs: number, sent: { at: number; req: KubeRequest }[]): KubeClient {
  return {
    server: kube.server,
    get requestCount() {
      return kube.requestCount;
    },
    async request<T>(req: KubeRequest) {
      if (!isWrite(req)) return kube.request<T>(req);
      sent.push({ at: Date.now(), req });
      const res = await kube.request<T>(req);
      await sleep(delayMs);
      return res;
    },
  };
}

function configMaps(namespace: string, names: string[], data = '1'): Record<string, string> {
  const files: Record<string, string> = {
    'namespace.yaml': `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${namespace}\n`,
  };
  for (const name of names)
    files[`${name}.yaml`] =
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\ndata:\n  a: "${data}"\n`;
  return files;
}

function input(app: string, repo: string, extra: Partial<SyncInput> = {}): SyncInput {
  return {
    app,
    source: { repo },
    target: { type: 'kubeconfig', kubeconfig: cp.kubeconfig },
    namespace: app,
    prune: true,
    trigger: 'test',
    concurrency: 1,
    ...extra,
  };
}

const loader = (cache: string) => (settings: Parameters<typeof loadSource>[0]) =>
  loadSource(settings, { cacheDir: join(workDir, cache) });

async function exists(kube: KubeClient, namespace: string, name: string): Promise<boolean> {
  const res = await kube.request({
    method: 'GET',
    path: `/api/v1/namespaces/${namespace}/configmaps/${name}`,
  });
  if (isNotFound(res)) return false;
  if (res.status !== 200) throw new Error(`GET ${name}: HTTP ${res.status}`);
  return true;
}

describe('a run whose lease renewals hang', () => {
  it('writes nothing after its deadline, ends Failed naming it, and reports the rest skipped', async () => {
    const app = 'lease-deadline-writes';
    const names = Array.from({ length: 16 }, (_, i) => `cm-${String(i).padStart(2, '0')}`);
    const repo = await git.createRepo(app);
    await repo.commit(configMaps(app, names));
    // Fetched once ahead, so the run's own fetch (after the lease) is quick and it writes before the deadline.
    await loader('writes')({ repo: repo.url });
    const store = hangingRenewals(history);
    const sent: { at: number; req: KubeRequest }[] = [];
    const started = Date.now();
    const run = await runSync(input(app, repo.url), {
      store,
      loadSource: loader('writes'),
      connect: async (target) => slowWrites(await connectCluster(target), WRITE_DELAY_MS, sent),
      leaseTtlMs: TTL_MS,
    });
    const took = Date.now() - started;
    const deadline = (store.takenAt as number) + TTL_MS - leaseMargin(TTL_MS);

    // The run outlived its deadline (17 writes of 300 ms, one at a time), and renewals were tried.
    expect(store.renewals).toBeGreaterThan(0);
    expect(sent.filter((s) => s.at < deadline).length).toBeGreaterThan(0);
    expect(sent.filter((s) => s.at >= deadline)).toEqual([]);
    expect(took).toBeLessThan(TTL_MS + 10_000);

    expect(run.record.outcome).toBe('Failed');
    expect(run.record.error).toMatch(`the lease of app "${app}" reached its deadline`);
    const skipped = run.record.resources.filter((r) => r.action === 'skipped');
    const created = run.record.resources.filter((r) => r.action === 'created');
    expect(skipped.length).toBeGreaterThan(0);
    expect(created.length + skipped.length).toBe(names.length + 1);
    for (const r of skipped)
      expect(r.message).toMatch(/^not applied: the lease of app .* reached its deadline/);

    // What was reported skipped is not in the cluster; what was reported created is.
    const kube = await connectCluster({ type: 'kubeconfig', kubeconfig: cp.kubeconfig });
    for (const r of skipped) expect(await exists(kube, app, r.name)).toBe(false);
    for (const r of created.filter((c) => c.kind === 'ConfigMap'))
      expect(await exists(kube, app, r.name)).toBe(true);
    // The lease was given back (the hung renewal abandoned): the next run takes it and finishes the set.
    const next = await runSync(input(app, repo.url), {
      store: history,
      loadSource: loader('writes'),
      connect: connectCluster,
    });
    expect(next.record.outcome).toBe('Synced');
    expect(next.record.counts.created).toBe(skipped.length);
  });

  it('sends no prune DELETE once the deadline passed while the set was being written', async () => {
    const app = 'lease-deadline-prune';
    const keep = ['keep-a'];
    const gone = ['gone-a', 'gone-b', 'gone-c'];
    const repo = await git.createRepo(app);
    await repo.commit(configMaps(app, [...keep, ...gone]));
    const first = await runSync(input(app, repo.url), {
      store: history,
      loadSource: loader('prune'),
      connect: connectCluster,
    });
    expect(first.record.outcome).toBe('Synced');
    // The next commit changes keep-a (one write, answered after the deadline) and removes the rest.
    await repo.commit({
      ...configMaps(app, keep, '2'),
      ...Object.fromEntries(gone.map((name) => [`${name}.yaml`, null])),
    });
    const store = hangingRenewals(history);
    const sent: { at: number; req: KubeRequest }[] = [];
    const run = await runSync(input(app, repo.url), {
      store,
      loadSource: loader('prune'),
      connect: async (target) => slowWrites(await connectCluster(target), TTL_MS, sent),
      leaseTtlMs: TTL_MS,
    });
    expect(run.record.outcome).toBe('Failed');
    expect(run.record.error).toMatch('reached its deadline');
    expect(sent.map((s) => s.req.method)).not.toContain('DELETE');
    const kube = await connectCluster({ type: 'kubeconfig', kubeconfig: cp.kubeconfig });
    for (const name of gone) expect(await exists(kube, app, name)).toBe(true);
  });

  it('prunes nothing when the prune itself starts after the deadline: each orphan skipped, the prune refused', async () => {
    const app = 'lease-deadline-orphans';
    const repo = await git.createRepo(app);
    await repo.commit(configMaps(app, ['orphan-a', 'orphan-b']));
    const first = await runSync(input(app, repo.url), {
      store: history,
      loadSource: loader('orphans'),
      connect: connectCluster,
    });
    expect(first.record.outcome).toBe('Synced');
    const key = await appKey(cp.kubeconfig, app);
    const inventory = (await history.getState(key))?.state.inventory ?? [];
    const orphans = inventory.filter((e) => e.kind === 'ConfigMap');
    expect(orphans).toHaveLength(2);

    // A lease of 300 ms whose renewals hang: its deadline passes before the prune starts.
    const store = hangingRenewals(history);
    const lease = await takeLease(store, { app, cluster: 'uid:lease-deadline-test' }, 'run-1', {
      ttlMs: 300,
      logger: silentLogger,
    });
    if (!lease) throw new Error('lease not taken');
    await sleep(300);
    expect(lease.signal.aborted).toBe(true);
    const deletes: KubeRequest[] = [];
    const counting: KubeClient = {
      server: cp.server,
      requestCount: 0,
      request: (req) => {
        if (req.method === 'DELETE') deletes.push(req);
        return admin.request(req);
      },
    };
    const admin = await connectCluster({ type: 'kubeconfig', kubeconfig: cp.kubeconfig });
    const kube = guardWrites(counting, lease);
    const pruned = await pruneOrphans(
      {
        kube,
        discovery: createDiscovery(kube),
        options: { app, revision: 'next', defaultNamespace: app, prune: true },
        live: { listed: new Set(), objects: new Map(), complete: new Set() },
        ownedBefore: inventory.length,
        signal: lease.signal,
      },
      orphans,
    );
    await lease.release();
    expect(deletes).toEqual([]);
    expect(pruned.results.map((r) => [r.name, r.action])).toEqual([
      ['orphan-a', 'skipped'],
      ['orphan-b', 'skipped'],
    ]);
    for (const r of pruned.results)
      expect(r.message).toMatch(/^not pruned: the lease of app .* reached its deadline/);
    expect(pruned.refused).toMatch(/^prune stopped: the lease of app/);
    expect(pruned.forget.size).toBe(0);
    for (const name of ['orphan-a', 'orphan-b']) expect(await exists(admin, app, name)).toBe(true);
  });
});

describe('the force path (replace)', () => {
  it('sends no DELETE once the run must stop writing, and throws the reason for the object to be skipped', async () => {
    const admin = await connectCluster({ type: 'kubeconfig', kubeconfig: cp.kubeconfig });
    const body = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'forced', namespace: 'default', annotations: { 'driftless.dev/force': 'enabled' } },
      data: { a: '1' },
    };
    await admin.request({ method: 'POST', path: '/api/v1/namespaces/default/configmaps', body });
    const methods: string[] = [];
    const counting: KubeClient = {
      server: cp.server,
      requestCount: 0,
      request: (req) => {
        methods.push(req.method);
        return admin.request(req);
      },
    };
    const info = await createDiscovery(admin).resolve('v1', 'ConfigMap');
    if (!info) throw new Error('ConfigMap not served');
    const stop = new AbortController();
    stop.abort(new Error('the lease of app "forced" reached its deadline'));
    await expect(replaceObject(counting, info, body, 'data', { signal: stop.signal })).rejects.toThrow(
      'reached its deadline',
    );
    expect(methods).not.toContain('DELETE');
    expect(await exists(admin, 'default', 'forced')).toBe(true);
  });
});

describe('guardWrites', () => {
  it('refuses a write by the clock even before the deadline timer fired; reads and dry runs pass', async () => {
    let clock = Date.now();
    const store = hangingRenewals(history);
    const lease = await takeLease(store, { app: 'guard', cluster: 'uid:guard-test' }, 'run-1', {
      ttlMs: 60_000,
      now: () => clock,
      logger: silentLogger,
    });
    if (!lease) throw new Error('lease not taken');
    const seen: string[] = [];
    const kube = guardWrites(
      {
        server: cp.server,
        requestCount: 0,
        request: async (req) => {
          seen.push(`${req.method} ${req.query?.dryRun ?? ''}`.trim());
          return { status: 200, body: {} as never };
        },
      },
      lease,
    );
    await kube.request({ method: 'PATCH', path: '/x' });
    expect(lease.deadline()).toBe(clock + 60_000 - 10_000);
    clock = lease.deadline();
    await expect(kube.request({ method: 'PATCH', path: '/x' })).rejects.toThrow(/reached its deadline/);
    await expect(kube.request({ method: 'DELETE', path: '/x' })).rejects.toThrow(/reached its deadline/);
    await kube.request({ method: 'GET', path: '/x' });
    await kube.request({ method: 'PATCH', path: '/x', query: { dryRun: 'All' } });
    expect(lease.signal.aborted).toBe(true);
    expect(seen).toEqual(['PATCH', 'GET', 'PATCH All']);
    await lease.release();
  });
});
