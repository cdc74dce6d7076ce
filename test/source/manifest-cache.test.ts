/** Parsed manifests are reused by commit: an unchanged revision is neither read nor parsed again. */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSource } from '../../lambda/source/source.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';

const configMap = (name: string, value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

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
});
