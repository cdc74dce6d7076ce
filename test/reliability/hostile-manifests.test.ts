/**
 * Hostile manifests, end to end: a good first sync, then a commit that is a YAML bomb, nests
 * 10,000 deep, holds a 50 MB file or 20,000 objects, smuggles in a symlink, or defines an object
 * twice. That commit also deletes a manifest, so a wrong prune would show. Every time: the run is
 * recorded `Failed` naming the file, nothing is applied or pruned (prune is on), the stored state
 * stays at the good revision, and the next good commit recovers.
 *
 * Matrix (case -> outcome):
 * - billion laughs (aliases)     -> Failed, `bomb.yaml document 0 (line 1): YAML aliases expand too much`, < 1 s
 * - 99 aliases of a 2.9 MB anchor (under the alias count and maxDocumentBytes) -> Failed, `YAML aliases expand the document
 *   to more than the limit of 4194304 bytes per file (maxFileBytes)`
 * - 500 documents, each expanding within that -> Failed, `... expand the manifests to more than the
 *   limit of 33554432 bytes (maxTotalBytes)`
 * - 10,000 nested lists / maps   -> Failed, `deep.yaml document 0 (line 8): nested too deeply to load (the parser ran out of stack)`
 * - 50 MB file                   -> Failed, `big.yaml: 52428800 bytes, more than the limit of 4194304 bytes per file (maxFileBytes)`
 * - 20,000 tiny objects          -> Failed, `objects.yaml: more than the limit of 10000 objects (maxObjects)`
 * - 20,000 objects, limit raised -> a plan lists all 20,001 as `created`, writes nothing, the record holds them all
 * - symlink to /etc/passwd, to ../.., a symlinked folder, `path` through a symlink or `../..`
 *                                -> Failed naming the link and its target; no file outside the repo is read
 * - same object twice (two files, one file, implicit vs explicit namespace)
 *                                -> Failed naming both places; nothing applied
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SyncInput } from '../../lambda/sync.ts';
import { appKey } from '../support/app-key.ts';
import { type GitRepo, type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import {
  type HostileRun,
  type HostileStore,
  type HostileSyncOptions,
  hostileSync,
  openHostileStore,
  runsOf,
  symlinkInRepo,
} from './hostile-harness.ts';

const cp = inject('controlPlane');

let git: GitServer;
let history: HostileStore;
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-hostile-manifests-'));
  git = await startGitServer();
  history = await openHostileStore('sqlite', workDir);
});

afterAll(async () => {
  await history?.close();
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

function sync(input: Pick<SyncInput, 'app' | 'source'> & Partial<SyncInput>, options?: HostileSyncOptions) {
  return hostileSync(
    input,
    { store: history.store, cacheDir: join(workDir, 'cache'), kubeconfig: cp.kubeconfig },
    options,
  );
}

const configMap = (namespace: string, name: string, text: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\ndata:\n  text: ${text}\n`;

/** The good revision every case starts from: a Namespace and two ConfigMaps. */
function goodFiles(namespace: string): Record<string, string> {
  return {
    'namespace.yaml': `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${namespace}\n`,
    'keep.yaml': configMap(namespace, 'keep', 'one'),
    'extra.yaml': configMap(namespace, 'extra', 'two'),
  };
}

interface App {
  app: string;
  namespace: string;
  repo: GitRepo;
  goodRevision: string;
  keepVersion: string;
}

let counter = 0;
/** A fresh app, synced once from the good revision. */
async function syncedApp(label: string): Promise<App> {
  counter += 1;
  const app = `hm-${label}-${counter}`;
  const repo = await git.createRepo(app);
  const goodRevision = await repo.commit(goodFiles(app));
  const { run } = await sync({ app, source: { repo: repo.url } });
  expect(run.record).toMatchObject({ outcome: 'Synced', revision: goodRevision, counts: { created: 3 } });
  const keep = await kubectlGet(cp.kubeconfig, 'configmap', 'keep', app);
  return { app, namespace: app, repo, goodRevision, keepVersion: keep?.metadata.resourceVersion };
}

/** The cluster and the state are exactly as the good revision left them. */
async function expectUntouched(target: App): Promise<void> {
  const keep = await kubectlGet(cp.kubeconfig, 'configmap', 'keep', target.namespace);
  expect(keep?.metadata.resourceVersion, 'keep was rewritten').toBe(target.keepVersion);
  const extra = await kubectlGet(cp.kubeconfig, 'configmap', 'extra', target.namespace);
  expect(extra?.metadata.labels?.['driftless.dev/app'], 'extra was pruned').toBe(target.app);
  expect((await history.store.getState(await appKey(cp.kubeconfig, target.app)))?.state.revision).toBe(
    target.goodRevision,
  );
}

/** A refused run: Failed with `error`, recorded, no object listed, nothing applied or pruned. */
async function expectRefused(target: App, hostile: HostileRun, error: RegExp): Promise<void> {
  const { record } = hostile.run;
  expect(record.outcome).toBe('Failed');
  expect(record.error).toMatch(error);
  expect(record.resources).toEqual([]);
  expect(hostile.run.result).toMatchObject({ outcome: 'Failed', error: record.error });
  const runs = await runsOf(history.store, target.app);
  expect(runs.map((r) => r.outcome)).toEqual(['Synced', 'Failed']);
  expect(runs[1]).toMatchObject({ runId: record.runId, error: record.error });
  expect(hostile.logs.lines).toContainEqual(
    expect.objectContaining({ level: 'error', message: 'sync failed' }),
  );
  await expectUntouched(target);
}

/** The hostile file removed (and `extra` still gone): Synced, `extra` pruned now, `keep` untouched. */
async function expectRecovery(target: App, remove: Record<string, null>): Promise<void> {
  const revision = await target.repo.commit({ ...remove, 'extra.yaml': null }, { message: 'recover' });
  const { run } = await sync({ app: target.app, source: { repo: target.repo.url } });
  expect(run.record).toMatchObject({ outcome: 'Synced', revision, counts: { pruned: 1, unchanged: 2 } });
  expect(await kubectlGet(cp.kubeconfig, 'configmap', 'extra', target.namespace)).toBeUndefined();
  const keep = await kubectlGet(cp.kubeconfig, 'configmap', 'keep', target.namespace);
  expect(keep?.metadata.resourceVersion).toBe(target.keepVersion);
  expect((await runsOf(history.store, target.app)).map((r) => r.outcome)).toEqual([
    'Synced',
    'Failed',
    'Synced',
  ]);
}

/** A document that expands to 10^9 strings through nine levels of ten aliases each. */
function billionLaughs(namespace: string): string {
  const lines = [
    'apiVersion: v1',
    'kind: ConfigMap',
    `metadata: {name: lol, namespace: ${namespace}}`,
    'a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]',
  ];
  for (let level = 1; level <= 9; level++) {
    lines.push(
      `a${level}: &a${level} [${Array(10)
        .fill(`*a${level - 1}`)
        .join(', ')}]`,
    );
  }
  lines.push('data: {text: *a9}');
  return `${lines.join('\n')}\n`;
}

describe('a YAML bomb', () => {
  it('fails the run at once naming the file, applies and prunes nothing, then recovers', async () => {
    const target = await syncedApp('bomb');
    await target.repo.commit({ 'bomb.yaml': billionLaughs(target.namespace), 'extra.yaml': null });
    const started = performance.now();
    const hostile = await sync({ app: target.app, source: { repo: target.repo.url } });
    const elapsedMs = performance.now() - started;

    await expectRefused(
      target,
      hostile,
      /^fetch source: bomb\.yaml document 0 \(line 1\): YAML aliases expand too much \(more than 100 alias resolutions, maxAliasCount\)$/,
    );
    // The whole run (fetch, parse, record) is bounded; the expansion never happens.
    expect(elapsedMs).toBeLessThan(5_000);
    console.info(`[hostile] billion laughs refused in ${Math.round(elapsedMs)} ms (whole run)`);
    await expectRecovery(target, { 'bomb.yaml': null });
  });

  it('under the alias count, 99 aliases of a 2.9 MB anchor fail on the per-file size limit', async () => {
    const target = await syncedApp('amplify');
    const keys = Array.from({ length: 99 }, (_, i) => `  k${i}: *big`).join('\n');
    const amplified = `${configMap(target.namespace, 'amp', 'x')}  big: &big ${'x'.repeat(2_900_000)}\n${keys}\n`;
    await target.repo.commit({ 'amp.yaml': amplified, 'extra.yaml': null });
    const rssBefore = process.memoryUsage().rss;
    let peakRss = rssBefore;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 20);
    const hostile = await sync({ app: target.app, source: { repo: target.repo.url } });
    clearInterval(sampler);

    // Without the bound a 3.9 MB anchor became a 390 MB apply body (about 1.2 GB peak RSS); 2.9 MB stays under maxDocumentBytes.
    await expectRefused(
      target,
      hostile,
      /^fetch source: amp\.yaml document 0 \(line 1\): YAML aliases expand the document to more than the limit of 4194304 bytes per file \(maxFileBytes\)$/,
    );
    console.info(
      `[hostile] 2.9 MB anchor x 99 aliases refused; rss ${mb(rssBefore)} -> peak ${mb(peakRss)} MB`,
    );
    await expectRecovery(target, { 'amp.yaml': null });
  });

  it('500 documents that each expand within the per-file limit fail on the total size limit', async () => {
    const target = await syncedApp('amplify-many');
    const keys = Array.from({ length: 99 }, (_, i) => `  k${i}: *big`).join('\n');
    const docs = Array.from(
      { length: 500 },
      (_, i) =>
        `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: amp${i}, namespace: ${target.namespace}}\ndata:\n  big: &big ${'y'.repeat(6_000)}\n${keys}\n`,
    );
    await target.repo.commit({ 'amp.yaml': docs.join('---\n'), 'extra.yaml': null });
    const hostile = await sync({ app: target.app, source: { repo: target.repo.url } });

    await expectRefused(
      target,
      hostile,
      /^fetch source: amp\.yaml document \d+ \(line \d+\): YAML aliases expand the manifests to more than the limit of 33554432 bytes \(maxTotalBytes\)$/,
    );
    await expectRecovery(target, { 'amp.yaml': null });
  });
});

describe('deep nesting', () => {
  it.each([
    ['lists', (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`],
    ['maps', (depth: number) => `${'{a: '.repeat(depth)}x${'}'.repeat(depth)}`],
  ])(
    '10,000 nested %s fail the run naming the file and line, then a good commit recovers',
    async (shape, nest) => {
      const target = await syncedApp(`deep-${shape}`);
      const deep = `${configMap(target.namespace, 'deep', 'x')}  nested: ${nest(10_000)}\n`;
      await target.repo.commit({ 'deep.yaml': deep, 'extra.yaml': null });
      const hostile = await sync({ app: target.app, source: { repo: target.repo.url } });

      await expectRefused(
        target,
        hostile,
        /^fetch source: deep\.yaml document 0 \(line 8\): nested too deeply to load \(the parser ran out of stack\)$/,
      );
      await expectRecovery(target, { 'deep.yaml': null });
    },
  );
});

describe('a 50 MB file', () => {
  it('fails on the per-file size limit before parsing, naming the file and the limit, then recovers', async () => {
    const target = await syncedApp('big');
    // Incompressible-ish content, so the pack is as large as an attacker would make it.
    const size = 50 * 1024 * 1024;
    const head = `${configMap(target.namespace, 'big', 'x')}  blob: `;
    const filler = Buffer.alloc(size - head.length - 1);
    for (let i = 0; i < filler.length; i++) filler[i] = 97 + ((i * 7919) % 26);
    await target.repo.commit({ 'big.yaml': `${head}${filler.toString('latin1')}\n`, 'extra.yaml': null });

    const rssBefore = process.memoryUsage().rss;
    let peakRss = rssBefore;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 20);
    const started = performance.now();
    const hostile = await sync({ app: target.app, source: { repo: target.repo.url } });
    const elapsedMs = performance.now() - started;
    clearInterval(sampler);

    await expectRefused(
      target,
      hostile,
      /^fetch source: big\.yaml: 52428800 bytes, more than the limit of 4194304 bytes per file \(maxFileBytes\)$/,
    );
    console.info(
      `[hostile] 50 MB file refused in ${Math.round(elapsedMs)} ms; rss ${mb(rssBefore)} -> peak ${mb(peakRss)} MB`,
    );
    await expectRecovery(target, { 'big.yaml': null });
  });
});

function mb(bytes: number): number {
  return Math.round(bytes / 1024 / 1024);
}

/** `count` ConfigMaps in one multi-document file. */
function manyObjects(namespace: string, count: number): string {
  const docs: string[] = [];
  for (let i = 0; i < count; i++) {
    docs.push(`apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c${i}, namespace: ${namespace}}\n`);
  }
  return docs.join('---\n');
}

describe('20,000 tiny objects', () => {
  it('fail on the object limit naming the file and the limit, applying nothing, then recover', async () => {
    const target = await syncedApp('many');
    await target.repo.commit({ 'objects.yaml': manyObjects(target.namespace, 20_000), 'extra.yaml': null });
    const started = performance.now();
    const hostile = await sync({ app: target.app, source: { repo: target.repo.url } });
    const elapsedMs = performance.now() - started;

    await expectRefused(
      target,
      hostile,
      /^fetch source: objects\.yaml: more than the limit of 10000 objects \(maxObjects\)$/,
    );
    const listed = await kubectl(cp.kubeconfig, 'get', 'configmaps', '-n', target.namespace, '-o', 'name');
    // kube-root-ca.crt is the controller manager's, in every namespace.
    const apps = listed
      .trim()
      .split('\n')
      .filter((name) => name !== 'configmap/kube-root-ca.crt');
    expect(apps.sort()).toEqual(['configmap/extra', 'configmap/keep']);
    console.info(`[hostile] 20,000 objects refused in ${Math.round(elapsedMs)} ms`);
    await expectRecovery(target, { 'objects.yaml': null });
  });

  it('with the limit raised, a plan lists all of them as to be created and writes nothing', async () => {
    counter += 1;
    const app = `hm-many-raised-${counter}`;
    const repo = await git.createRepo(app);
    const namespace = `${app}-ns`;
    const revision = await repo.commit({
      'namespace.yaml': `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${namespace}\n`,
      'objects.yaml': manyObjects(namespace, 20_000),
    });
    const started = performance.now();
    const { run } = await sync(
      { app, source: { repo: repo.url }, dryRun: true },
      { limits: { maxObjects: 25_000 } },
    );
    const elapsedMs = performance.now() - started;

    expect(run.record).toMatchObject({ outcome: 'OutOfSync', revision, dryRun: true });
    expect(run.record.counts).toEqual({ created: 20_001 });
    expect(await kubectlGet(cp.kubeconfig, 'namespace', namespace)).toBeUndefined();
    const [stored] = await runsOf(history.store, app);
    expect(stored).toMatchObject({ outcome: 'OutOfSync', counts: { created: 20_001 } });
    expect(stored?.resources).toHaveLength(20_001);
    expect(await history.store.getState(await appKey(cp.kubeconfig, app))).toBeUndefined();
    console.info(`[hostile] plan of 20,001 objects under a raised limit in ${Math.round(elapsedMs)} ms`);
  });
});

describe('symlinks committed to the repository', () => {
  it.each([
    [
      'a file link to /etc/passwd',
      'passwd.yaml',
      '/etc/passwd',
      /passwd\.yaml is a symlink to "\/etc\/passwd", outside the repository; refusing the revision/,
    ],
    [
      'a file link to ../..',
      'up.yaml',
      '../../etc/hostname',
      /up\.yaml is a symlink to "\.\.\/\.\.\/etc\/hostname", outside the repository/,
    ],
    ['a folder link to ..', 'more', '..', /more is a symlink to "\.\.", outside the repository/],
    [
      'a link inside the repository',
      'alias.yaml',
      'keep.yaml',
      /alias\.yaml is a symlink to "keep\.yaml"; symlinks are not followed/,
    ],
  ])(
    '%s fails the run naming the link and never reads its target',
    async (_case, link, linkTarget, error) => {
      const target = await syncedApp('link');
      await symlinkInRepo(target.repo.workTree, linkTarget, link);
      await target.repo.commit({ 'extra.yaml': null });
      const hostile = await sync({ app: target.app, source: { repo: target.repo.url } });

      await expectRefused(target, hostile, error);
      const everything = `${hostile.logs.text()}\n${await history.dump()}`;
      expect(everything).not.toMatch(/root:x:0:0/);
      await expectRecovery(target, { [link]: null });
    },
  );

  it('a path setting that goes through a symlink or out of the repository fails naming the setting', async () => {
    const target = await syncedApp('path');
    await symlinkInRepo(target.repo.workTree, '/etc', 'etc');
    await target.repo.commit({ 'extra.yaml': null });

    const through = await sync({ app: target.app, source: { repo: target.repo.url, path: 'etc' } });
    expect(through.run.record).toMatchObject({
      outcome: 'Failed',
      error: 'fetch source: path "etc": etc is a symlink; symlinks are not followed',
      resources: [],
    });
    const out = await sync({ app: target.app, source: { repo: target.repo.url, path: '../..' } });
    expect(out.run.record).toMatchObject({
      outcome: 'Failed',
      error: 'fetch source: path "../.." escapes the repository: give a folder inside it',
    });
    expect((await runsOf(history.store, target.app)).map((r) => r.outcome)).toEqual([
      'Synced',
      'Failed',
      'Failed',
    ]);
    await expectUntouched(target);
  });
});

describe('an object defined twice', () => {
  it.each([
    [
      'in two files',
      (ns: string) => ({ 'twice.yaml': configMap(ns, 'keep', 'other') }),
      /^fetch source: twice\.yaml document 0: ConfigMap .+\/keep is already defined in keep\.yaml document 0$/,
    ],
    [
      'in one file',
      (ns: string) => ({ 'twice.yaml': `${configMap(ns, 'dup', 'a')}---\n${configMap(ns, 'dup', 'b')}` }),
      /^fetch source: twice\.yaml document 1: ConfigMap .+\/dup is already defined in twice\.yaml document 0$/,
    ],
    [
      'once with its namespace and once defaulted into it',
      (_ns: string) => ({
        'twice.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\ndata:\n  text: other\n`,
      }),
      /invalid manifests, nothing was applied:\n {2}twice\.yaml \(document 0\): duplicate ConfigMap .+\/keep, already defined in keep\.yaml \(document 0\)$/,
    ],
  ])('%s fails the run naming both places, applies and prunes nothing', async (_case, files, error) => {
    const target = await syncedApp('dup');
    await target.repo.commit({ ...files(target.namespace), 'extra.yaml': null });
    const hostile = await sync({
      app: target.app,
      source: { repo: target.repo.url },
      namespace: target.namespace,
    });

    const { record } = hostile.run;
    expect(record.outcome).toBe('Failed');
    expect(record.error).toMatch(error);
    expect(record.resources).toEqual([]);
    expect((await runsOf(history.store, target.app)).map((r) => r.outcome)).toEqual(['Synced', 'Failed']);
    await expectUntouched(target);
    await expectRecovery(target, { 'twice.yaml': null });
  });
});
