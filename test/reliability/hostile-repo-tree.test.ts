/**
 * Hostile repository trees, end to end with the real `helm` and `kubectl kustomize`: app A's
 * repository (the attacker's) and app B's share one cache folder, as apps of one Lambda share
 * `/tmp/driftless`. Every attack is a Failed run naming the link or entry, writes nothing to the
 * cluster, keeps the process alive, and leaves neither B's Secret value nor the agent's (fake)
 * AWS key in the logs, the history or the run record.
 *
 * Matrix (attack -> outcome):
 * - chained symlinks (`up -> ../..`, `root -> up/../..`) to B's cached git objects, Helm and
 *   Kustomize                                 -> Failed, `symlink chart/loot ... outside the checkout`
 * - the same chain to /proc/self/environ, /proc/<renderer's parent>/environ, /proc/<agent>/environ
 *                                             -> Failed, same message; the key is printed nowhere
 * - `z` twice in one tree (symlink + folder)  -> Failed `"z" twice`, nothing written outside
 * - `.GIT` / `.git` folders (and a link into one), a gitlink -> Failed naming the entry
 * - a dangling absolute link, a loop          -> Failed naming the link
 * - an in-repo chain (values.yaml -> ../config/current/values.yaml, current -> ../releases/v2)
 *                                             -> Synced
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SyncInput } from '../../lambda/sync.ts';
import { type GitRepo, type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import { craftCommit, writeBlob, writeTree } from './crafted-tree.ts';
import {
  type HostileRun,
  type HostileStore,
  hostileSync,
  openHostileStore,
  symlinkInRepo,
} from './hostile-harness.ts';

const cp = inject('controlPlane');
const AWS_CANARY = 'FAKECANARYAWSKEYhostileTree0x5ec4e7';
const B_CANARY = 'canary-b-secret-value-3f9a1c';

let git: GitServer;
let history: HostileStore;
let workDir: string;
let cacheDir: string;
/** B's entry in the shared cache: a bare git repository holding its Secret. */
let bCache: string;
/** A stand-in for the agent: a process started with the AWS key in its environment. */
let agent: ChildProcess;
const previousKey = process.env.AWS_SECRET_ACCESS_KEY;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-hostile-tree-'));
  cacheDir = join(workDir, 'driftless');
  git = await startGitServer();
  history = await openHostileStore('sqlite', workDir);
  process.env.AWS_SECRET_ACCESS_KEY = AWS_CANARY;
  agent = spawn('sleep', ['600'], { env: { ...process.env, AWS_SECRET_ACCESS_KEY: AWS_CANARY } });

  const b = await git.createRepo('tree-b');
  await b.commit({
    'secret.yaml': `apiVersion: v1\nkind: Secret\nmetadata: {name: b-secret, namespace: tree-b}\nstringData: {password: ${B_CANARY}}\n`,
    'namespace.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata: {name: tree-b}\n',
  });
  const { run } = await sync({ app: 'tree-b', source: { repo: b.url } });
  expect(run.record.outcome).toBe('Synced');
  // B's git dir, wherever the cache keeps it: the folder holding HEAD and objects/.
  const found = (await readdir(cacheDir, { recursive: true, withFileTypes: true })).filter(
    (e) => e.name === 'objects' && e.isDirectory(),
  );
  expect(found).toHaveLength(1);
  bCache = (found[0] as { parentPath: string }).parentPath;
});

afterAll(async () => {
  agent?.kill();
  if (previousKey === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
  else process.env.AWS_SECRET_ACCESS_KEY = previousKey;
  await history?.close();
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

function sync(input: Pick<SyncInput, 'app' | 'source'> & Partial<SyncInput>): Promise<HostileRun> {
  return hostileSync(input, { store: history.store, cacheDir, kubeconfig: cp.kubeconfig });
}

type Mode = 'helm' | 'kustomize';
let counter = 0;
async function newRepo(label: string): Promise<{ app: string; repo: GitRepo }> {
  counter += 1;
  const app = `tree-${label}-${counter}`;
  return { app, repo: await git.createRepo(app) };
}

function renderSource(repo: GitRepo, mode: Mode) {
  return { repo: repo.url, path: 'app', render: { mode, namespace: 'default' } };
}

/** A chart (or kustomization) in `app/` that prints whatever `app/loot` leads to into a ConfigMap. */
function lootApp(mode: Mode, app: string, lootFile: string): Record<string, string> {
  if (mode === 'helm') {
    return {
      'app/Chart.yaml': `apiVersion: v2\nname: ${app}\nversion: 0.1.0\n`,
      'app/templates/loot.yaml': [
        'apiVersion: v1',
        'kind: ConfigMap',
        `metadata: {name: ${app}-loot}`,
        'data:',
        '  file: {{ .Files.Get "loot" | toJson }}',
        '{{- range $path, $_ := .Files.Glob "loot/**" }}',
        '  {{ $path | replace "/" "." }}: {{ $.Files.Get $path | b64enc | quote }}',
        '{{- end }}',
        '',
      ].join('\n'),
    };
  }
  return {
    'app/kustomization.yaml': [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'configMapGenerator:',
      `  - name: ${app}-loot`,
      `    files: [${lootFile}]`,
      '',
    ].join('\n'),
  };
}

const DEPTH = 12;
const DEEP = Array(DEPTH).fill('k').join('/');

/**
 * `app/loot` -> `target` (absolute) through two links that each normalise inside the repository:
 * `k/.../k/up -> ../..` (the repository root) and `k/.../k/root -> up/../..` (past `/`).
 */
async function chainedLoot(repo: GitRepo, target: string): Promise<void> {
  await mkdir(join(repo.workTree, DEEP), { recursive: true });
  const ups = Array(DEPTH).fill('..').join('/');
  await symlinkInRepo(repo.workTree, ups, `${DEEP}/up`);
  await symlinkInRepo(repo.workTree, `up/${ups}`, `${DEEP}/root`);
  await symlinkInRepo(repo.workTree, `../${DEEP}/root${target}`, 'app/loot');
}

/** Failed naming `error`, nothing of A in the cluster, no canary in what the run left behind. */
async function expectRefused(app: string, hostile: HostileRun, error: RegExp): Promise<void> {
  const { record } = hostile.run;
  expect(record.outcome).toBe('Failed');
  expect(record.error).toMatch(error);
  expect(record.resources).toEqual([]);
  const owned = await kubectl(
    cp.kubeconfig,
    'get',
    'configmaps',
    '-A',
    '-l',
    `driftless.dev/app=${app}`,
    '-o',
    'name',
  );
  expect(owned.trim()).toBe('');
  expect(await kubectlGet(cp.kubeconfig, 'configmap', `${app}-loot`, 'default')).toBeUndefined();
  const leftBehind = [hostile.logs.text(), await history.dump(), JSON.stringify(hostile.run)].join('\n');
  expect(leftBehind).not.toContain(AWS_CANARY);
  expect(leftBehind).not.toContain(B_CANARY);
}

describe.each<Mode>(['helm', 'kustomize'])('%s: a symlink chain that leaves the checkout', (mode) => {
  it("is refused when it reaches another app's cached repository", async () => {
    const { app, repo } = await newRepo(`${mode}-cache`);
    await repo.commit(lootApp(mode, app, 'loot/config'));
    await chainedLoot(repo, bCache);
    await repo.commit({});
    const hostile = await sync({ app, source: renderSource(repo, mode) });
    await expectRefused(
      app,
      hostile,
      /symlink app\/loot -> "\.\.\/k\/.*" resolves to .*driftless.*, outside the checkout/,
    );
    expect(hostile.run.record.error).toMatch(/^fetch source: commit [0-9a-f]{12}: /);
  });

  it.each([
    ['self', () => '/proc/self/environ'],
    ["renderer's parent", () => `/proc/${process.pid}/environ`],
    ['agent', () => `/proc/${agent.pid}/environ`],
  ])('is refused when it reaches /proc/<%s>/environ', async (_, target) => {
    const { app, repo } = await newRepo(`${mode}-proc`);
    await repo.commit(lootApp(mode, app, 'loot'));
    await chainedLoot(repo, target());
    await repo.commit({});
    const hostile = await sync({ app, source: renderSource(repo, mode) });
    await expectRefused(
      app,
      hostile,
      /symlink app\/loot -> .* resolves to \/proc\/.*environ, outside the checkout/,
    );
  });
});

describe('a crafted tree', () => {
  it('holding "z" twice, as a symlink and as a folder, is refused before anything is written', async () => {
    const { app, repo } = await newRepo('dup');
    await repo.commit(lootApp('helm', app, 'loot'));
    const outside = join(workDir, `escape-${app}`);
    await mkdir(outside);
    const link = await writeBlob(repo, outside);
    const evil = await writeBlob(repo, 'written through the link\n');
    const folder = await writeTree(repo, [{ mode: '100644', name: 'evil.yaml', oid: evil }]);
    // Both orders: whichever the reader meets first, neither may be written.
    const commit = await craftCommit(repo, [
      { mode: '120000', name: 'z', oid: link },
      { mode: '40000', name: 'z', oid: folder },
    ]);
    const hostile = await sync({ app, source: renderSource(repo, 'helm') });
    await expectRefused(app, hostile, new RegExp(`commit ${commit.slice(0, 12)}: "z" appears twice`));
    expect(await readdir(outside)).toEqual([]);
  });

  it.each([
    ['.GIT', '.GIT'],
    ['.git', '.git'],
    ['.Git', '.Git'],
  ])('holding a %s folder (and a link into it) is refused', async (_, name) => {
    const { app, repo } = await newRepo('dotgit');
    await repo.commit(lootApp('helm', app, 'loot'));
    const hook = await writeBlob(repo, '#!/bin/sh\necho pwned\n');
    const hooks = await writeTree(repo, [{ mode: '100755', name: 'post-checkout', oid: hook }]);
    const dotgit = await writeTree(repo, [{ mode: '40000', name: 'hooks', oid: hooks }]);
    const into = await writeBlob(repo, `${name}/hooks/post-checkout`);
    const commit = await craftCommit(repo, [
      { mode: '40000', name, oid: dotgit },
      { mode: '120000', name: 'hook', oid: into },
    ]);
    const refused = new RegExp(
      `commit ${commit.slice(0, 12)}: tree entry "\\${name}" is not a valid file name`,
    );
    await expectRefused(app, await sync({ app, source: renderSource(repo, 'helm') }), refused);
    // Plain mode reads the same tree: refused the same way.
    const plain = `${app}-plain`;
    await expectRefused(plain, await sync({ app: plain, source: { repo: repo.url, path: '.' } }), refused);
  });

  it('holding a gitlink (submodule) is refused', async () => {
    const { app, repo } = await newRepo('gitlink');
    const head = await repo.commit(lootApp('helm', app, 'loot'));
    const commit = await craftCommit(repo, [{ mode: '160000', name: 'vendor', oid: head }]);
    const hostile = await sync({ app, source: renderSource(repo, 'helm') });
    await expectRefused(app, hostile, new RegExp(`commit ${commit.slice(0, 12)}: vendor is a submodule`));
  });
});

describe('a symlink that cannot be resolved inside', () => {
  it('dangling, to an absolute path, is refused', async () => {
    const { app, repo } = await newRepo('dangling');
    await repo.commit(lootApp('helm', app, 'loot'));
    await symlinkInRepo(repo.workTree, '/nonexistent-driftless/loot', 'app/loot');
    await repo.commit({});
    const hostile = await sync({ app, source: renderSource(repo, 'helm') });
    await expectRefused(
      app,
      hostile,
      /symlink app\/loot -> "\/nonexistent-driftless\/loot" resolves to .*outside/,
    );
  });

  it('a loop, is refused', async () => {
    const { app, repo } = await newRepo('loop');
    await repo.commit(lootApp('helm', app, 'loot'));
    await symlinkInRepo(repo.workTree, 'b', 'app/a');
    await symlinkInRepo(repo.workTree, 'a', 'app/b');
    await repo.commit({});
    const hostile = await sync({ app, source: renderSource(repo, 'helm') });
    await expectRefused(app, hostile, /symlink app\/[ab] -> "[ab]" is a loop/);
  });
});

it('an in-repo symlink chain that stays inside still renders', async () => {
  const { app, repo } = await newRepo('inside');
  await repo.commit({
    'releases/v2/values.yaml': 'greeting: from-a-linked-folder\n',
    'app/Chart.yaml': `apiVersion: v2\nname: ${app}\nversion: 0.1.0\n`,
    'app/templates/greeting.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${app}-greeting}\ndata: {greeting: {{ .Values.greeting | quote }}}\n`,
  });
  await mkdir(join(repo.workTree, 'config'));
  await symlinkInRepo(repo.workTree, '../releases/v2', 'config/current');
  await symlinkInRepo(repo.workTree, '../config/current/values.yaml', 'app/values.yaml');
  await repo.commit({});
  const { run } = await sync({ app, source: renderSource(repo, 'helm') });
  expect(run.record).toMatchObject({ outcome: 'Synced', counts: { created: 1 } });
  const greeting = await kubectlGet(cp.kubeconfig, 'configmap', `${app}-greeting`, 'default');
  expect(greeting?.data).toEqual({ greeting: 'from-a-linked-folder' });
});
