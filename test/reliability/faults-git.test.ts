/**
 * Fault: the Git server fails while an app with prune on has a new revision waiting that would
 * change and prune objects. A failed fetch must not apply or prune anything.
 *
 *   git server answers 500          -> run Failed ("fetch source: cannot fetch <repo>: ... HTTP 500"),
 *                                      nothing applied or pruned, state untouched
 *   git server hangs past timeoutMs -> run Failed ("... <repo>: no response within N ms"), same
 *   git server back                 -> next run Synced: the waiting revision applied and pruned
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import type { HistoryStore } from '../../lambda/history/store.ts';
import { loadSource } from '../../lambda/source/source.ts';
import { runSync, type SyncDeps, type SyncInput } from '../../lambda/sync.ts';
import { appKey } from '../support/app-key.ts';
import { type GitFault, type GitServer, startGitServer } from '../support/git-server.ts';
import {
  appManifests,
  configMapName,
  expectedConfigMaps,
  inventoryKeys,
  observedConfigMaps,
  range,
} from './fault-app.ts';

const cp = inject('controlPlane');
/** Short, so the hang case fails fast; the real default is 30 s. */
const FETCH_TIMEOUT_MS = 1_500;

let git: GitServer;
let store: HistoryStore;
let workDir: string;

beforeAll(async () => {
  git = await startGitServer();
  workDir = await mkdtemp(join(tmpdir(), 'driftless-faults-git-'));
  store = await openHistoryStore(`sqlite:${join(workDir, 'history.db')}`);
});

afterAll(async () => {
  git?.setFault('none');
  await store?.close();
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

const deps = (): SyncDeps => ({
  store,
  loadSource: (settings) =>
    loadSource(settings, { cacheDir: join(workDir, 'git'), timeoutMs: FETCH_TIMEOUT_MS }),
  connect: (target) => connectCluster(target),
});

describe.each([
  ['answering 500', 'error500', /cannot fetch (\S+): the server answered HTTP 500/],
  ['hanging past the timeout', 'hang', /cannot fetch (\S+): no response within 1500 ms/],
] as const)('git server %s', (_label, fault: GitFault, message) => {
  it('records the run Failed naming the repo, applies and prunes nothing; the next good run applies the waiting revision', async () => {
    const app = `faults-git-${fault.toLowerCase()}`;
    const repo = await git.createRepo(app);
    const input: SyncInput = {
      app,
      source: { repo: repo.url },
      target: { type: 'kubeconfig', kubeconfig: cp.kubeconfig },
      namespace: app,
      prune: true,
      trigger: 'test',
    };
    const revision1 = await repo.commit(appManifests(app, range(0, 5), 'one'));
    expect((await runSync(input, deps())).record.outcome).toBe('Synced');
    const stateBefore = await store.getState(await appKey(cp.kubeconfig, app));
    // Revision 2 would change 0-2 and prune 3-4.
    const revision2 = await repo.commit({
      ...appManifests(app, range(0, 3), 'two'),
      [`config/${configMapName(3)}.yaml`]: null,
      [`config/${configMapName(4)}.yaml`]: null,
    });

    git.setFault(fault);
    let failed: Awaited<ReturnType<typeof runSync>>;
    try {
      failed = await runSync(input, deps());
    } finally {
      git.setFault('none');
    }

    expect(failed.record).toMatchObject({ app, outcome: 'Failed', revision: '', resources: [] });
    expect(failed.record.error).toMatch(/^fetch source: /);
    expect(failed.record.error).toMatch(message);
    expect(failed.record.error?.match(message)?.[1]).toBe(repo.url);
    expect(await observedConfigMaps(cp.kubeconfig, app)).toEqual(expectedConfigMaps(range(0, 5), 'one'));
    expect(await store.getState(await appKey(cp.kubeconfig, app))).toEqual(stateBefore);
    expect(stateBefore?.state.revision).toBe(revision1);
    const [stored] = await store.listRuns({ app, limit: 1 });
    expect(stored).toMatchObject({
      runId: failed.record.runId,
      outcome: 'Failed',
      error: failed.record.error,
    });

    const recovered = await runSync(input, deps());
    expect(recovered.record).toMatchObject({ revision: revision2, outcome: 'Synced' });
    expect(recovered.record.counts).toEqual({ configured: 3, unchanged: 1, pruned: 2 });
    expect(await observedConfigMaps(cp.kubeconfig, app)).toEqual(expectedConfigMaps(range(0, 3), 'two'));
    expect(
      inventoryKeys((await store.getState(await appKey(cp.kubeconfig, app)))?.state.inventory ?? []),
    ).toHaveLength(4);
    expect((await store.listRuns({ app })).map((r) => r.outcome)).toEqual(['Synced', 'Failed', 'Synced']);
  });
});
