import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { directorySize } from '../../lambda/source/cache.ts';
import { type LoadSourceOptions, loadSource, SourceError } from '../../lambda/source/source.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';

const configMap = (name: string, value = '1') =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

let server: GitServer;
let cacheDir: string;
let options: LoadSourceOptions;

beforeAll(async () => {
  // HTTPS: one test sends URL credentials, which driftless refuses over plain http.
  server = await startGitServer({ tls: true });
});
afterAll(async () => {
  await server.stop();
});
beforeEach(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'driftless-source-'));
  options = { cacheDir, ca: server.ca ? [server.ca] : [] };
  server.resetLog();
  return () => rm(cacheDir, { recursive: true, force: true });
});

const packRequests = () => server.requests.filter((r) => r.path.endsWith('/git-upload-pack'));

describe('loadSource from a remote repository', () => {
  it('loads the default branch and returns its commit SHA as the revision', async () => {
    const repo = await server.createRepo('default-branch');
    const sha = await repo.commit({ 'app/cm.yaml': configMap('a'), 'README.md': '# hi' });
    const loaded = await loadSource({ repo: repo.url }, options);
    expect(loaded.revision).toBe(sha);
    expect(loaded.fetched).toBe(true);
    expect(loaded.objects.map((o) => [o.origin.file, o.object.metadata.name])).toEqual([
      ['app/cm.yaml', 'a'],
    ]);
  });

  it('detects a moved branch on the next run and downloads no pack while the head stays put', async () => {
    const repo = await server.createRepo('moving');
    const first = await repo.commit({ 'cm.yaml': configMap('a', '1') });
    expect((await loadSource({ repo: repo.url, ref: 'main' }, options)).revision).toBe(first);

    server.resetLog();
    const unchanged = await loadSource({ repo: repo.url, ref: 'main' }, options);
    expect(unchanged).toMatchObject({ revision: first, fetched: false, requests: 1 });
    expect(packRequests()).toEqual([]);
    expect(server.requests.map((r) => r.path)).toEqual(['/moving.git/info/refs?service=git-upload-pack']);

    const second = await repo.commit({ 'cm.yaml': configMap('a', '2') });
    server.resetLog();
    const moved = await loadSource({ repo: repo.url, ref: 'main' }, options);
    expect(moved).toMatchObject({ revision: second, fetched: true, requests: 2 });
    expect(moved.objects[0]?.object.data).toEqual({ value: '2' });
    expect(packRequests()).toHaveLength(1);
  });

  it('loads a tag, annotated or not, as the commit it points to', async () => {
    const repo = await server.createRepo('tags');
    const tagged = await repo.commit({ 'cm.yaml': configMap('a', 'tagged') });
    await repo.git('tag', '-a', 'v1.0.0', '-m', 'release');
    await repo.git('tag', 'light');
    await repo.git('push', '--quiet', 'origin', 'v1.0.0', 'light');
    await repo.commit({ 'cm.yaml': configMap('a', 'later') });

    for (const ref of ['v1.0.0', 'light', 'refs/tags/v1.0.0']) {
      const loaded = await loadSource({ repo: repo.url, ref }, options);
      expect(loaded.revision).toBe(tagged);
      expect(loaded.objects[0]?.object.data).toEqual({ value: 'tagged' });
    }
  });

  it('loads a pinned commit SHA, and serves it from the cache without any request', async () => {
    const repo = await server.createRepo('pinned');
    const pinned = await repo.commit({ 'cm.yaml': configMap('a', 'old') });
    await repo.commit({ 'cm.yaml': configMap('a', 'new') });

    const loaded = await loadSource({ repo: repo.url, ref: pinned }, options);
    expect(loaded.revision).toBe(pinned);
    expect(loaded.objects[0]?.object.data).toEqual({ value: 'old' });

    server.resetLog();
    const again = await loadSource({ repo: repo.url, ref: pinned }, options);
    expect(again).toMatchObject({ revision: pinned, fetched: false, requests: 0 });
    expect(server.requests).toEqual([]);
  });

  it('reports a commit SHA the server does not have', async () => {
    const repo = await server.createRepo('pinned-missing');
    await repo.commit({ 'cm.yaml': configMap('a') });
    const missing = 'f'.repeat(40);
    await expect(loadSource({ repo: repo.url, ref: missing }, options)).rejects.toThrow(
      new SourceError(`commit ${missing} not found in ${repo.url}`),
    );
  });

  it('follows a force-push to the rewritten commit', async () => {
    const repo = await server.createRepo('force');
    await repo.commit({ 'cm.yaml': configMap('a', 'one') });
    const before = await repo.commit({ 'cm.yaml': configMap('a', 'two') });
    expect((await loadSource({ repo: repo.url }, options)).revision).toBe(before);

    await repo.git('reset', '--quiet', '--hard', 'HEAD~1');
    const rewritten = await repo.commit({ 'cm.yaml': configMap('a', 'rewritten') });
    const after = await loadSource({ repo: repo.url }, options);
    expect(after.revision).toBe(rewritten);
    expect(after.objects[0]?.object.data).toEqual({ value: 'rewritten' });
  });

  it('fails on a deleted branch instead of serving the cached commit', async () => {
    const repo = await server.createRepo('deleted');
    await repo.commit({ 'cm.yaml': configMap('a') });
    await repo.commit({ 'cm.yaml': configMap('b') }, { branch: 'feature' });
    await loadSource({ repo: repo.url, ref: 'feature' }, options);

    await repo.bareGit('branch', '-D', 'feature');
    await expect(loadSource({ repo: repo.url, ref: 'feature' }, options)).rejects.toThrow(
      `ref "feature" not found in ${repo.url}: no such branch or tag (deleted?)`,
    );
  });

  it('names a missing folder', async () => {
    const repo = await server.createRepo('nopath');
    await repo.commit({ 'a/cm.yaml': configMap('a') });
    await expect(loadSource({ repo: repo.url, path: 'b' }, options)).rejects.toThrow(/path "b" not found in/);
  });

  it('loads only the folder given as path, recursively', async () => {
    const repo = await server.createRepo('subpath');
    await repo.commit({
      'deploy/base/a.yaml': configMap('a'),
      'deploy/overlay/b.yml': configMap('b'),
      'other/c.yaml': configMap('c'),
    });
    const loaded = await loadSource({ repo: repo.url, path: './deploy/' }, options);
    expect(loaded.objects.map((o) => o.origin.file)).toEqual(['deploy/base/a.yaml', 'deploy/overlay/b.yml']);
  });

  it('gives a clear message for a remote whose HEAD points to a missing branch', async () => {
    const repo = await server.createRepo('headless', { initialBranch: 'master' });
    await repo.commit({ 'cm.yaml': configMap('a') }, { branch: 'main' });
    await expect(loadSource({ repo: repo.url, ref: 'main' }, options)).rejects.toThrow(
      /the remote's HEAD points to a branch that does not exist.*git symbolic-ref HEAD/,
    );
    await expect(loadSource({ repo: repo.url }, options)).rejects.toThrow(/the remote has no default branch/);
  });

  it('never writes the URL credentials into the cache', async () => {
    const repo = await server.createRepo('no-leak');
    await repo.commit({ 'cm.yaml': configMap('a') });
    const withUser = repo.url.replace('https://', 'https://someone:hunter2-secret@');
    await loadSource({ repo: withUser }, options);
    for (const file of await readdir(cacheDir, { recursive: true, withFileTypes: true })) {
      if (!file.isFile()) continue;
      const content = await readFile(join(file.parentPath, file.name), 'latin1');
      expect(content).not.toContain('hunter2-secret');
    }
  });

  it('serialises parallel loads of one repository on its cache entry', async () => {
    const repo = await server.createRepo('parallel');
    const sha = await repo.commit({ 'a/cm.yaml': configMap('a'), 'b/cm.yaml': configMap('b') });
    const [a, b] = await Promise.all([
      loadSource({ repo: repo.url, path: 'a' }, options),
      loadSource({ repo: repo.url, path: 'b' }, options),
    ]);
    expect([a.revision, b.revision]).toEqual([sha, sha]);
    expect([a.fetched, b.fetched].sort()).toEqual([false, true]);
    expect(packRequests()).toHaveLength(1);
  });

  it('keeps the cache under its bound by wiping and re-cloning', async () => {
    const repo = await server.createRepo('bounded');
    // Incompressible content, so each revision adds a pack of about 64 KiB.
    const noise = () => Buffer.from(crypto.getRandomValues(new Uint8Array(48 * 1024))).toString('base64');
    const bound = { ...options, maxCacheBytes: 200 * 1024 };
    let last = '';
    for (let i = 0; i < 5; i++) {
      last = await repo.commit({ 'cm.yaml': configMap('a', String(i)), 'blob.bin': noise() });
      await loadSource({ repo: repo.url }, bound);
      expect(await directorySize(cacheDir)).toBeLessThan(200 * 1024 + 100 * 1024);
    }
    const loaded = await loadSource({ repo: repo.url }, bound);
    expect(loaded.revision).toBe(last);
  });

  it('re-clones when the cached object store is corrupt', async () => {
    const repo = await server.createRepo('corrupt');
    const sha = await repo.commit({ 'cm.yaml': configMap('a') });
    await loadSource({ repo: repo.url }, options);
    // The clone is the folder holding objects/pack, inside the app's folder of the cache.
    const packDir = join(
      cacheDir,
      (await readdir(cacheDir, { recursive: true })).find((name) => name.endsWith('objects/pack')) ?? '',
    );
    for (const file of await readdir(packDir)) {
      if (file.endsWith('.pack')) await rm(join(packDir, file));
    }
    const loaded = await loadSource({ repo: repo.url }, options);
    expect(loaded).toMatchObject({ revision: sha, fetched: true });
  });
});
