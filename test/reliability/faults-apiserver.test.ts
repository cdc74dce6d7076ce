/**
 * Fault: kube-apiserver goes away in the middle of a sync (a private control plane, stopped from
 * inside the run at a fixed point of its traffic) and comes back.
 *
 *   kube-apiserver stopped mid-sync, restarted -> run Failed ("API server unreachable", server
 *   URL); next run Synced: every object of the revision present once, removed ones pruned.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '../../lambda/cluster/kube-client.ts';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import type { HistoryStore } from '../../lambda/history/store.ts';
import { loadSource } from '../../lambda/source/source.ts';
import { runSync, type SyncDeps, type SyncInput } from '../../lambda/sync.ts';
import { appKey } from '../support/app-key.ts';
import { type ControlPlane, startControlPlane } from '../support/control-plane.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';
import {
  appManifests,
  configMapName,
  expectedConfigMaps,
  inventoryKeys,
  observedConfigMaps,
  range,
} from './fault-app.ts';

let cp: ControlPlane;
let git: GitServer;
let store: HistoryStore;
let workDir: string;

beforeAll(async () => {
  [cp, git] = await Promise.all([startControlPlane(), startGitServer()]);
  workDir = await mkdtemp(join(tmpdir(), 'driftless-faults-apiserver-'));
  store = await openHistoryStore(`sqlite:${join(workDir, 'history.db')}`);
});

afterAll(async () => {
  await store?.close();
  await git?.stop();
  await cp?.stop();
  await rm(workDir, { recursive: true, force: true });
});

/** Calls `fault` (once) just before the `n`-th real (not dry-run) apply is sent. */
function faultBeforeApply(kube: KubeClient, n: number, fault: () => Promise<void>): KubeClient {
  let applies = 0;
  return {
    server: kube.server,
    get requestCount() {
      return kube.requestCount;
    },
    async request(req) {
      const isApply = req.method === 'PATCH' && req.query?.dryRun === undefined;
      if (isApply && ++applies === n) await fault();
      return kube.request(req);
    },
  };
}

describe('kube-apiserver stopped mid-sync and restarted', () => {
  it('records the run Failed naming the unreachable API server; the next run converges with nothing duplicated or lost', async () => {
    const app = 'faults-apiserver';
    const repo = await git.createRepo(app);
    const input: SyncInput = {
      app,
      source: { repo: repo.url },
      target: { type: 'kubeconfig', kubeconfig: cp.kubeconfig },
      namespace: app,
      prune: true,
      trigger: 'test',
    };
    const deps = (extra: Partial<SyncDeps> = {}): SyncDeps => ({
      store,
      loadSource: (settings) => loadSource(settings, { cacheDir: join(workDir, 'git') }),
      connect: (target) => connectCluster(target),
      ...extra,
    });

    const key = await appKey(cp.kubeconfig, app);
    // Revision 1: 30 ConfigMaps. Revision 2 changes 0-19, removes 20-29, adds 30-39.
    await repo.commit(appManifests(app, range(0, 30), 'one'));
    expect((await runSync(input, deps())).record.outcome).toBe('Synced');
    const revision2 = await repo.commit({
      ...appManifests(app, [...range(0, 20), ...range(30, 40)], 'two'),
      ...Object.fromEntries(range(20, 30).map((i) => [`config/${configMapName(i)}.yaml`, null])),
    });

    let stopped = false;
    const failed = await runSync(
      input,
      deps({
        connect: async (target) =>
          faultBeforeApply(await connectCluster(target), 10, async () => {
            await cp.stopApiServer();
            stopped = true;
          }),
      }),
    );

    expect(stopped).toBe(true);
    expect(failed.record).toMatchObject({ app, revision: revision2, outcome: 'Failed' });
    expect(failed.record.error).toContain('API server unreachable');
    expect(failed.record.error).toContain(cp.server);
    expect(failed.result.outcome).toBe('Failed');
    // Nothing was pruned by the failed run.
    expect(failed.record.counts.pruned).toBeUndefined();
    // The failed run wrote an inventory that still holds revision 1's objects (so they can be
    // pruned later) and no revision (so the next run re-plans every object).
    const afterFailure = (await store.getState(key))?.state;
    expect(afterFailure?.revision).toBeUndefined();
    const keysAfterFailure = inventoryKeys(afterFailure?.inventory ?? []);
    expect(new Set(keysAfterFailure).size).toBe(keysAfterFailure.length);
    for (const i of range(20, 30)) expect(keysAfterFailure).toContain(`ConfigMap/${app}/${configMapName(i)}`);

    await cp.startApiServer();
    // What the failed run reported as written is really in the cluster.
    const midway = await observedConfigMaps(cp.kubeconfig, app);
    for (const r of failed.record.resources.filter(
      (r) => r.action === 'configured' || r.action === 'created',
    )) {
      if (r.kind === 'ConfigMap') expect(midway.get(r.name), r.name).toBe('two');
    }

    const recovered = await runSync(input, deps());
    expect(recovered.record).toMatchObject({ revision: revision2, outcome: 'Synced' });
    expect(recovered.record.error).toBeUndefined();
    const counts = recovered.record.counts;
    expect(counts.failed).toBeUndefined();
    expect(counts.pruned).toBe(10);
    // Every object of revision 2 was written by exactly one of the two runs, or found in place.
    expect((counts.created ?? 0) + (counts.configured ?? 0) + (counts.unchanged ?? 0)).toBe(31);

    expect(await observedConfigMaps(cp.kubeconfig, app)).toEqual(
      expectedConfigMaps([...range(0, 20), ...range(30, 40)], 'two'),
    );
    const state = (await store.getState(key))?.state;
    expect(state?.revision).toBe(revision2);
    expect(inventoryKeys(state?.inventory ?? [])).toEqual(
      [
        `Namespace//${app}`,
        ...[...range(0, 20), ...range(30, 40)].map((i) => `ConfigMap/${app}/${configMapName(i)}`),
      ].sort(),
    );
    const history = await store.listRuns({ app });
    expect(history.map((r) => r.outcome)).toEqual(['Synced', 'Failed', 'Synced']);
    expect(history[1]?.error).toContain('API server unreachable');
  });
});
