/** Parsed manifests are reused by commit: an unchanged revision is neither read nor parsed again. */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheEntry, enforceCacheBound } from '../../lambda/source/cache.ts';
import { loadSource } from '../../lambda/source/source.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';

const configMap = (name: string, value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

const exec = promisify(execFile);
let server: GitServer;
let cacheDir: string;
const entries = async () => (await readdir(cacheDir)).filter((name) => name.startsWith('manifests-'));

beforeAll(async () => {
  server = await startGitServer();
  cacheDir = await mkdtemp(join(tmpdir(), 'driftless-manifest-cache-'));
});
afterAll(async () => {
  await server.stop();
  await rm(cacheDir, { recursive: true, force: true });
});

describe('the parsed-manifest cache', () => {
  it('serves an unchanged commit from the cache, and parses a new commit', async () => {
    const repo = await server.createRepo('cache-local');
    const first = await repo.commit({ 'a.yaml': configMap('a', '1'), 'b.yaml': configMap('b', '1') });
    const cold = await loadSource({ repo: repo.workTree }, { cacheDir });
    const warm = await loadSource({ repo: repo.workTree }, { cacheDir });
    expect(cold).toMatchObject({ revision: first, cached: false, files: 2 });
    expect(warm).toMatchObject({ revision: first, cached: true, files: 2 });
    expect(warm.objects).toEqual(cold.objects);

    const second = await repo.commit({ 'b.yaml': configMap('b', '2') });
    const changed = await loadSource({ repo: repo.workTree }, { cacheDir });
    expect(changed).toMatchObject({ revision: second, cached: false });
    expect(changed.objects.map((d) => d.object.data)).toEqual([{ value: '1' }, { value: '2' }]);
  });

  it('keys entries by path and limits too, and works over HTTP', async () => {
    const repo = await server.createRepo('cache-remote');
    await repo.commit({ 'apps/a.yaml': configMap('a', '1'), 'other/b.yaml': configMap('b', '1') });
    const apps = await loadSource({ repo: repo.url, path: 'apps' }, { cacheDir });
    const other = await loadSource({ repo: repo.url, path: 'other' }, { cacheDir });
    expect(other).toMatchObject({ cached: false });
    expect(other.objects.map((d) => d.object.metadata.name)).toEqual(['b']);
    expect(await loadSource({ repo: repo.url, path: 'apps' }, { cacheDir })).toMatchObject({
      cached: true,
      revision: apps.revision,
    });
    const limited = loadSource({ repo: repo.url, path: 'apps' }, { cacheDir, limits: { maxObjects: 0 } });
    await expect(limited).rejects.toThrow(/maxObjects/);
  });

  it('parses again when an entry is unreadable', async () => {
    const repo = await server.createRepo('cache-corrupt');
    await repo.commit({ 'a.yaml': configMap('a', '1') });
    const before = new Set(await entries());
    await loadSource({ repo: repo.workTree }, { cacheDir });
    const added = (await entries()).filter((name) => !before.has(name));
    expect(added).toHaveLength(1);
    await writeFile(join(cacheDir, added[0]!), '{ not json');
    const again = await loadSource({ repo: repo.workTree }, { cacheDir });
    expect(again).toMatchObject({ cached: false });
    expect(again.objects.map((d) => d.object.metadata.name)).toEqual(['a']);
  });

  it('never writes a set that holds a Secret to the cache', async () => {
    const repo = await server.createRepo('cache-secret');
    await repo.commit({
      'secret.yaml':
        'apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  password: hunter2-cache\n',
    });
    const before = await entries();
    await loadSource({ repo: repo.workTree }, { cacheDir });
    expect(await loadSource({ repo: repo.workTree }, { cacheDir })).toMatchObject({ cached: false });
    expect(await entries()).toEqual(before);
  });

  it('bounds the cache by wiping stale parsed-manifest files first, for local repositories too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'driftless-cache-bound-'));
    try {
      await mkdir(join(dir, 'clone'));
      await writeFile(join(dir, 'clone', 'pack'), Buffer.alloc(100 * 1024));
      await writeFile(join(dir, 'manifests-stale.json'), Buffer.alloc(500 * 1024));
      const past = new Date(Date.now() - 60_000);
      await utimes(join(dir, 'manifests-stale.json'), past, past);
      expect(await enforceCacheBound(dir, join(dir, 'clone'), 300 * 1024)).toEqual([
        join(dir, 'manifests-stale.json'),
      ]);
      expect(await readdir(join(dir, 'clone'))).toEqual(['pack']);

      await writeFile(join(dir, 'manifests-stale.json'), Buffer.alloc(500 * 1024));
      const repo = await server.createRepo('cache-bound-local');
      await repo.commit({ 'a.yaml': configMap('a', '1') });
      await loadSource({ repo: repo.workTree }, { cacheDir: dir, maxCacheBytes: 300 * 1024 });
      expect((await readdir(dir)).filter((name) => name === 'manifests-stale.json')).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names clone folders by an HMAC with a key of its own, not a plain hash of the credentials', async () => {
    const [one, two] = [
      await mkdtemp(join(tmpdir(), 'driftless-key-')),
      await mkdtemp(join(tmpdir(), 'driftless-key-')),
    ];
    try {
      const auth = `Basic ${Buffer.from('deploy:hunter2').toString('base64')}`;
      const a = await cacheEntry(one, 'https://git.example/x.git', auth);
      const b = await cacheEntry(two, 'https://git.example/x.git', auth);
      expect(basename(a)).not.toBe(basename(b));
      expect(await cacheEntry(one, 'https://git.example/x.git', auth)).toBe(a);
      const key = await stat(join(one, '.key'));
      expect(key.size).toBe(32);
      expect(key.mode & 0o077).toBe(0);
    } finally {
      await rm(one, { recursive: true, force: true });
      await rm(two, { recursive: true, force: true });
    }
  });

  it('gives every process racing on a fresh cache the same key, so they share one clone folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'driftless-key-race-'));
    try {
      const module = new URL('../../lambda/source/cache.ts', import.meta.url).href;
      const script = `const { cacheEntry } = await import(${JSON.stringify(module)});
        console.log(await cacheEntry(${JSON.stringify(dir)}, 'https://git.example/x.git', 'Basic abc'));`;
      const run = () =>
        exec(process.execPath, ['--input-type=module', '-e', script]).then(({ stdout }) => stdout.trim());
      const entries = await Promise.all([run(), run(), run(), run(), run(), run()]);
      expect(new Set(entries).size).toBe(1);
      expect(await cacheEntry(dir, 'https://git.example/x.git', 'Basic abc')).toBe(entries[0]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
