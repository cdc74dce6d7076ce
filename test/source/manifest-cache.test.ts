/** Parsed manifests are reused by commit: an unchanged revision is neither read nor parsed again. */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheEntry, enforceCacheBound } from '../../lambda/source/cache.ts';
import { loadSource } from '../../lambda/source/source.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';

const configMap = (name: string, value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

let server: GitServer;
let cacheDir: string;
/** Manifest entries anywhere in the cache (each app has a folder of its own), as paths relative to it. */
const entries = async () =>
  (await readdir(cacheDir, { recursive: true })).filter((name) => basename(name).startsWith('manifests-'));

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

  it('bounds the cache by app folder: the least recently used app first, then the current app’s other entries', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'driftless-cache-apps-'));
    try {
      const file = async (path: string, kib: number, ageMs: number) => {
        await mkdir(join(dir, path, '..'), { recursive: true });
        await writeFile(join(dir, path), Buffer.alloc(kib * 1024));
        const at = new Date(Date.now() - ageMs);
        await utimes(join(dir, path), at, at);
        await utimes(join(dir, path, '..'), at, at);
      };
      await file('app-old/clone/pack', 200, 120_000);
      await file('app-recent/clone/pack', 200, 60_000);
      await file('app-current/stale/pack', 200, 90_000);
      await file('app-current/clone/pack', 100, 0);
      await utimes(join(dir, 'app-current'), new Date(), new Date());
      const current = join(dir, 'app-current', 'clone');
      expect(await enforceCacheBound(dir, current, 550 * 1024)).toEqual([join(dir, 'app-old')]);
      expect(await enforceCacheBound(dir, current, 150 * 1024)).toEqual([
        join(dir, 'app-recent'),
        join(dir, 'app-current', 'stale'),
      ]);
      expect(await enforceCacheBound(dir, current, 50 * 1024)).toEqual([current]);
      expect(await readdir(dir)).toEqual(['app-current']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names clone folders by an HMAC with the cache secret, and keeps no key in the cache folder', async () => {
    const auth = `Basic ${Buffer.from('deploy:hunter2').toString('base64')}`;
    const [one, two] = [randomBytes(32), randomBytes(32)];
    const a = cacheEntry(cacheDir, 'https://git.example/x.git', auth, one);
    expect(basename(a)).not.toBe(basename(cacheEntry(cacheDir, 'https://git.example/x.git', auth, two)));
    expect(cacheEntry(cacheDir, 'https://git.example/x.git', auth, one)).toBe(a);
    expect(basename(a)).not.toContain('hunter2');
    const names = await readdir(cacheDir, { recursive: true });
    expect(names.filter((name) => /(^|\/)\.key|cache\.key/.test(name))).toEqual([]);
  });
});
