/**
 * Hostile changes to what an app owns, end to end: a commit that claims another app's object, an
 * object of ours relabelled by another app, a commit that deletes every manifest, and a commit
 * that deletes the manifest folder. Prune is on throughout; nothing that is not provably the
 * app's is ever written or deleted.
 *
 * Matrix (case -> outcome):
 * - object already labelled `driftless.dev/app=other`  -> Failed: `failed` naming app "other",
 *   left untouched; nothing applied or pruned this run (`orphaned`); recovers when dropped
 * - our object relabelled to another app, then removed from Git -> OutOfSync: `orphaned` naming
 *   the new owner, left in place, dropped from the inventory; the next run is Synced
 * - every manifest deleted, prune on             -> Failed: `refusing to prune all 3 objects`, 3 `orphaned`, nothing deleted
 * - every manifest deleted, prune off            -> OutOfSync: 3 `orphaned`, nothing deleted
 * - every manifest deleted, prune + allowEmpty   -> Synced: 3 `pruned` (Namespace last)
 * - the same through the CLI                     -> exit 2 without --allow-empty, exit 0 with it
 * - the manifest folder (`path`) deleted         -> Failed: `path "deploy" not found`, nothing pruned
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SyncInput } from '../../lambda/sync.ts';
import { appKey } from '../support/app-key.ts';
import { type GitRepo, type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import { driftlessCli, type HostileStore, hostileSync, openHostileStore, runsOf } from './hostile-harness.ts';

const cp = inject('controlPlane');

let git: GitServer;
let history: HostileStore;
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-hostile-ownership-'));
  git = await startGitServer();
  history = await openHostileStore('sqlite', workDir);
});

afterAll(async () => {
  await history?.close();
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

function sync(input: Pick<SyncInput, 'app' | 'source'> & Partial<SyncInput>) {
  return hostileSync(input, {
    store: history.store,
    cacheDir: join(workDir, 'cache'),
    kubeconfig: cp.kubeconfig,
  });
}

const namespaceYaml = (name: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`;
const configMap = (namespace: string, name: string, text: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\ndata:\n  text: ${text}\n`;

function goodFiles(namespace: string, dir = ''): Record<string, string> {
  return {
    [`${dir}namespace.yaml`]: namespaceYaml(namespace),
    [`${dir}keep.yaml`]: configMap(namespace, 'keep', 'one'),
    [`${dir}extra.yaml`]: configMap(namespace, 'extra', 'two'),
  };
}

let counter = 0;
async function syncedApp(label: string, dir = ''): Promise<{ app: string; repo: GitRepo; revision: string }> {
  counter += 1;
  const app = `ho-${label}-${counter}`;
  const repo = await git.createRepo(app);
  const revision = await repo.commit({ 'README.md': 'manifests\n', ...goodFiles(app, dir) });
  const { run } = await sync({ app, source: { repo: repo.url, path: dir || undefined } });
  expect(run.record).toMatchObject({ outcome: 'Synced', revision, counts: { created: 3 } });
  return { app, repo, revision };
}

async function get(kind: string, name: string, namespace?: string) {
  return kubectlGet(cp.kubeconfig, kind, name, namespace);
}

async function createOwnedBy(owner: string, namespace: string, name: string, text: string): Promise<void> {
  const file = join(workDir, `${namespace}-${name}.yaml`);
  const labelled = configMap(namespace, name, text).replace(
    `  name: ${name}\n`,
    `  name: ${name}\n  labels:\n    driftless.dev/app: ${owner}\n`,
  );
  await writeFile(file, labelled);
  await kubectl(cp.kubeconfig, 'create', '-f', file);
}

describe("another app's objects", () => {
  it('fails the object naming the owner, leaves it untouched, prunes nothing that run, then recovers', async () => {
    const { app, repo, revision: good } = await syncedApp('claim');
    await createOwnedBy('other', app, 'shared', 'theirs');
    const theirs = await get('configmap', 'shared', app);

    await repo.commit({ 'shared.yaml': configMap(app, 'shared', 'ours'), 'extra.yaml': null });
    const { run, logs } = await sync({ app, source: { repo: repo.url } });

    expect(run.record.outcome).toBe('Failed');
    const byName = new Map(run.record.resources.map((r) => [r.name, r]));
    expect(byName.get('shared')).toMatchObject({
      action: 'failed',
      message: `ConfigMap ${app}/shared is owned by app "other" (label driftless.dev/app=other); driftless does not modify another app's objects`,
    });
    expect(byName.get('extra')).toMatchObject({
      action: 'orphaned',
      message: 'not pruned: the run applied nothing (objects failed before the first write)',
    });
    expect(byName.get('keep')?.action).toBe('unchanged');
    expect(logs.lines).toContainEqual(expect.objectContaining({ level: 'warn', message: 'object failed' }));
    const after = await get('configmap', 'shared', app);
    expect(after?.metadata.resourceVersion).toBe(theirs?.metadata.resourceVersion);
    expect(after?.data).toEqual({ text: 'theirs' });
    expect(after?.metadata.labels).toEqual({ 'driftless.dev/app': 'other' });
    expect((await get('configmap', 'extra', app))?.metadata.labels?.['driftless.dev/app']).toBe(app);
    const state = (await history.store.getState(await appKey(cp.kubeconfig, app)))?.state;
    expect(state?.revision).toBe(good);
    expect(state?.inventory.map((e) => e.name).sort()).toEqual([app, 'extra', 'keep'].sort());
    const runs = await runsOf(history.store, app);
    expect(runs.map((r) => r.outcome)).toEqual(['Synced', 'Failed']);
    expect(runs[1]?.resources.find((r) => r.name === 'shared')?.message).toMatch(/owned by app "other"/);

    const recovered = await repo.commit({ 'shared.yaml': null });
    const next = await sync({ app, source: { repo: repo.url } });
    expect(next.run.record).toMatchObject({
      outcome: 'Synced',
      revision: recovered,
      counts: { unchanged: 2, pruned: 1 },
    });
    expect(await get('configmap', 'extra', app)).toBeUndefined();
    expect((await get('configmap', 'shared', app))?.metadata.resourceVersion).toBe(
      theirs?.metadata.resourceVersion,
    );
  });

  it('never prunes an object of ours that another app has since labelled as its own', async () => {
    const { app, repo } = await syncedApp('hijack');
    await kubectl(
      cp.kubeconfig,
      'label',
      '--overwrite',
      'configmap',
      'extra',
      '-n',
      app,
      'driftless.dev/app=other',
    );

    await repo.commit({ 'extra.yaml': null });
    const { run } = await sync({ app, source: { repo: repo.url } });
    expect(run.record.outcome).toBe('OutOfSync');
    expect(run.record.resources.find((r) => r.name === 'extra')).toMatchObject({
      action: 'orphaned',
      message: `ConfigMap ${app}/extra no longer carries driftless.dev/app=${app} (owned by app "other"); left in place and dropped from the inventory`,
    });
    expect((await get('configmap', 'extra', app))?.metadata.labels?.['driftless.dev/app']).toBe('other');
    const inventory = (await history.store.getState(await appKey(cp.kubeconfig, app)))?.state.inventory
      .map((e) => e.name)
      .sort();
    expect(inventory).toEqual([app, 'keep'].sort());

    const again = await sync({ app, source: { repo: repo.url } });
    expect(again.run.record).toMatchObject({ outcome: 'Synced', counts: { unchanged: 2 } });
    expect(await get('configmap', 'extra', app)).toBeDefined();
  });
});

describe('a commit that deletes every manifest', () => {
  it('with prune and without allowEmpty fails, deletes nothing; with allowEmpty prunes everything', async () => {
    const { app, repo, revision: good } = await syncedApp('empty');
    const empty = await repo.commit({ 'namespace.yaml': null, 'keep.yaml': null, 'extra.yaml': null });

    const refused = await sync({ app, source: { repo: repo.url } });
    expect(refused.run.record).toMatchObject({
      outcome: 'Failed',
      revision: empty,
      error: `refusing to prune all 3 objects of app "${app}": the desired set is empty (set allowEmpty to allow it)`,
      counts: { orphaned: 3 },
    });
    expect(
      refused.run.record.resources.every((r) => r.message === 'not pruned: the desired set is empty'),
    ).toBe(true);
    expect(await get('configmap', 'keep', app)).toBeDefined();
    expect(await get('configmap', 'extra', app)).toBeDefined();
    expect((await get('namespace', app))?.metadata.deletionTimestamp).toBeUndefined();
    expect((await history.store.getState(await appKey(cp.kubeconfig, app)))?.state.revision).toBe(good);

    const noPrune = await sync({ app, source: { repo: repo.url }, prune: false });
    expect(noPrune.run.record).toMatchObject({ outcome: 'OutOfSync', counts: { orphaned: 3 } });
    expect(await get('configmap', 'keep', app)).toBeDefined();

    const allowed = await sync({ app, source: { repo: repo.url }, allowEmpty: true });
    expect(allowed.run.record).toMatchObject({ outcome: 'Synced', revision: empty, counts: { pruned: 3 } });
    expect(allowed.run.record.resources.map((r) => r.kind)).toEqual(['ConfigMap', 'ConfigMap', 'Namespace']);
    expect(await get('configmap', 'keep', app)).toBeUndefined();
    expect(await get('configmap', 'extra', app)).toBeUndefined();
    // No namespace controller runs locally: a deleted Namespace stays Terminating.
    expect((await get('namespace', app))?.metadata.deletionTimestamp).toBeDefined();
    expect(await history.store.getState(await appKey(cp.kubeconfig, app))).toMatchObject({
      state: { revision: empty, inventory: [] },
    });
    expect((await runsOf(history.store, app)).map((r) => r.outcome)).toEqual([
      'Synced',
      'Failed',
      'OutOfSync',
      'Synced',
    ]);
  });

  it('through the CLI exits 2 without --allow-empty and 0 with it', async () => {
    counter += 1;
    const app = `ho-cli-empty-${counter}`;
    const repo = await git.createRepo(app);
    await repo.commit({ 'README.md': 'x\n', ...goodFiles(app) });
    const args = [
      'sync',
      '--repo',
      repo.workTree,
      '--app',
      app,
      '--prune',
      '--kubeconfig',
      cp.kubeconfig,
      '--history',
      `sqlite:${join(workDir, 'cli-history.db')}`,
      '--output',
      'json',
    ];
    const env = { DRIFTLESS_CACHE_DIR: join(workDir, 'cli-cache') };
    expect((await driftlessCli(args, env)).code).toBe(0);
    await repo.commit({ 'namespace.yaml': null, 'keep.yaml': null, 'extra.yaml': null });

    const refused = await driftlessCli(args, env);
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.stdout)).toMatchObject({
      outcome: 'Failed',
      error: expect.stringMatching(/^refusing to prune all 3 objects/),
    });
    expect(await get('configmap', 'keep', app)).toBeDefined();

    const allowed = await driftlessCli([...args, '--allow-empty'], env);
    expect(allowed.code).toBe(0);
    expect(JSON.parse(allowed.stdout).resources.map((r: { action: string }) => r.action)).toEqual([
      'pruned',
      'pruned',
      'pruned',
    ]);
    expect(await get('configmap', 'keep', app)).toBeUndefined();
  });

  it('deleting the manifest folder itself fails naming the path and prunes nothing', async () => {
    const { app, repo, revision: good } = await syncedApp('folder', 'deploy/');
    await repo.commit({ deploy: null });
    const { run } = await sync({ app, source: { repo: repo.url, path: 'deploy' } });
    expect(run.record).toMatchObject({ outcome: 'Failed', resources: [] });
    expect(run.record.error).toMatch(
      /^fetch source: path "deploy" not found in http:\/\/127\.0\.0\.1:\d+\/.+ at [0-9a-f]{12}$/,
    );
    expect(await get('configmap', 'keep', app)).toBeDefined();
    expect(await get('configmap', 'extra', app)).toBeDefined();
    expect((await history.store.getState(await appKey(cp.kubeconfig, app)))?.state.revision).toBe(good);
  });
});
