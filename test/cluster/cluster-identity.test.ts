/**
 * The cluster's identity is the uid of `kube-system`, for every identity, or the run fails
 * before its lease: never the server URL, which would give an admin CLI and a scoped Lambda two
 * states and two leases on one cluster. Against the local API server, a scoped ServiceAccount
 * (TokenRequest API), the control plane's admin, and one SQLite history store.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import type { HistoryStore } from '../../lambda/history/store.ts';
import { loadSource } from '../../lambda/source/source.ts';
import { runSync, type SyncDeps, type SyncInput } from '../../lambda/sync.ts';
import { NAMESPACE_EDIT_CORE, type ScopedIdentity, scopedIdentity } from '../reconcile/scoped-identity.ts';
import { type HttpStandIn, startHttpStandIn } from '../reliability/http-stand-in.ts';
import { appKey } from '../support/app-key.ts';
import { type GitRepo, type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';

const cp = inject('controlPlane');
const NS = 'cluster-identity';
const APP = 'cluster-identity';

let git: GitServer;
let repo: GitRepo;
let workDir: string;
let historyDb: string;
let store: HistoryStore;
let scoped: ScopedIdentity;

beforeAll(async () => {
  git = await startGitServer();
  workDir = await mkdtemp(join(tmpdir(), 'driftless-cluster-identity-'));
  historyDb = join(workDir, 'history.db');
  store = await openHistoryStore(`sqlite:${historyDb}`);
  repo = await git.createRepo(APP);
  await repo.commit({
    'cm.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: ${NS}\ndata:\n  mode: "git"\n`,
  });
  // May edit ConfigMaps in its namespace, and nothing else: not even read kube-system.
  scoped = await scopedIdentity(NS, [NAMESPACE_EDIT_CORE]);
});

afterAll(async () => {
  await store?.close();
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

function input(kubeconfig: string, extra: Partial<SyncInput> = {}): SyncInput {
  return {
    app: APP,
    source: { repo: repo.url },
    target: { type: 'kubeconfig', kubeconfig },
    namespace: NS,
    scope: { namespaces: [NS], clusterKinds: [] },
    trigger: 'test',
    ...extra,
  };
}

function deps(): SyncDeps {
  return {
    store,
    loadSource: (settings) => loadSource(settings, { cacheDir: join(workDir, 'cache') }),
    connect: connectCluster,
  };
}

/** Every row of every table of the SQLite history, as text. */
function dumpHistory(): { text: string; leases: unknown[]; states: unknown[] } {
  const db = new DatabaseSync(historyDb, { readOnly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
      name: string;
    }[];
    const rows = tables.map((t) => db.prepare(`SELECT * FROM ${t.name}`).all());
    return {
      text: JSON.stringify(rows),
      leases: db.prepare('SELECT * FROM app_lease WHERE app = ?').all(APP),
      states: db.prepare('SELECT app, cluster FROM app_state WHERE app = ?').all(APP),
    };
  } finally {
    db.close();
  }
}

describe('a scoped identity that may not read kube-system', () => {
  it('fails before the lease, naming the permission and the exact ClusterRole and binding; writes nothing', async () => {
    const run = await runSync(input(scoped.kubeconfig), deps());
    expect(run.record.outcome).toBe('Failed');
    expect(run.record.error).toMatch(
      /^connect to cluster: .*may not read the Namespace kube-system \(HTTP 403\)/,
    );
    expect(run.record.error).toContain('needs "get" on "namespaces" named "kube-system"');
    expect(run.record.error).toContain(
      'kubectl create clusterrole driftless-cluster-identity --verb=get --resource=namespaces --resource-name=kube-system',
    );
    expect(run.record.error).toContain(
      `--clusterrole=driftless-cluster-identity --serviceaccount=${NS}:deployer`,
    );
    expect(run.record.clusterId).toBeUndefined();
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'settings', NS)).toBeUndefined();
    const history = dumpHistory();
    expect(history.leases).toEqual([]);
    expect(history.states).toEqual([]);
    expect(history.text).not.toContain('server:https://');
    expect((await store.listRuns({ app: APP })).map((r) => r.outcome)).toEqual(['Failed']);
  });

  it('syncs once granted what the message says, keyed by the uid like the admin', async () => {
    const failed = (await store.listRuns({ app: APP }))[0];
    // The administrator runs the two commands the run's error gave, as written.
    const commands = [...(failed?.error ?? '').matchAll(/kubectl (create [^&(]+?)(?= &&| \()/g)].map(
      (m) => m[1],
    );
    expect(commands).toHaveLength(2);
    for (const command of commands)
      await kubectl(cp.kubeconfig, ...(command as string).trim().split(/\s+/)).catch((error: Error) => {
        // The ClusterRole serves every identity: another test on this control plane may have made it.
        if (!/already exists/i.test(error.message)) throw error;
      });

    const run = await runSync(input(scoped.kubeconfig), deps());
    expect(run.record.outcome).toBe('Synced');
    const key = await appKey(cp.kubeconfig, APP);
    expect(run.record.clusterId).toBe(key.cluster);
    expect(dumpHistory().states).toEqual([{ app: APP, cluster: key.cluster }]);
  });

  it('shares one state and one lease key with the admin: a hand edit is drift to both', async () => {
    const kubeconfig = cp.kubeconfig;
    await kubectl(
      cp.kubeconfig,
      'patch',
      'configmap',
      'settings',
      '-n',
      NS,
      '--type=merge',
      '-p',
      '{"data":{"mode":"hand"}}',
    );
    const asAdmin = await runSync(input(kubeconfig, { dryRun: true }), deps());
    const asScoped = await runSync(input(scoped.kubeconfig, { dryRun: true }), deps());
    for (const plan of [asAdmin, asScoped]) {
      expect(plan.record.outcome).toBe('OutOfSync');
      expect(plan.record.resources).toMatchObject([
        { kind: 'ConfigMap', name: 'settings', action: 'drifted' },
      ]);
    }
    expect(asAdmin.record.clusterId).toBe(asScoped.record.clusterId);
    // A sync as the admin heals nothing behind the scoped identity's back: same state, one lease.
    const healed = await runSync(input(kubeconfig, { selfHeal: true }), deps());
    expect(healed.record.resources).toMatchObject([{ name: 'settings', action: 'configured' }]);
    expect(healed.record.clusterId).toBe(asScoped.record.clusterId);
    const history = dumpHistory();
    expect(history.states).toHaveLength(1);
    expect(history.leases).toEqual([]);
    expect(history.text).not.toContain('server:https://');
  });
});

describe('an API server that answers 503 to the kube-system read', () => {
  let standIn: HttpStandIn;
  beforeAll(async () => {
    standIn = await startHttpStandIn(cp);
    standIn.decide = (req) =>
      req.method === 'GET' && req.url.startsWith('/api/v1/namespaces/kube-system')
        ? { status: 503, body: { kind: 'Status', message: 'etcd leader changed' } }
        : 'forward';
  });
  afterAll(async () => {
    await standIn?.stop();
  });

  it('is retried, then the run fails before the lease; no server: key anywhere in the history', async () => {
    const kubeconfig = join(workDir, 'stand-in-kubeconfig');
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: standIn.server, 'certificate-authority': cp.caFile } }],
        users: [{ name: 'u', user: { token: cp.adminToken } }],
        contexts: [{ name: 'stand-in', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'stand-in',
      }),
    );
    const app = 'cluster-identity-503';
    const run = await runSync({ ...input(kubeconfig), app }, deps());
    expect(run.record.outcome).toBe('Failed');
    expect(run.record.error).toMatch(/could not read the Namespace kube-system .*HTTP 503, retried/);
    expect(run.record.error).toContain('stopped before taking the lease');
    const reads = standIn.seen.filter((r) => r.url.startsWith('/api/v1/namespaces/kube-system'));
    expect(reads.length).toBeGreaterThan(1);
    expect(run.record.clusterId).toBeUndefined();
    expect((await store.listRuns({ app })).map((r) => r.outcome)).toEqual(['Failed']);
    const history = dumpHistory();
    expect(history.text).not.toContain('server:https://');
  });
});
