/**
 * Cache entries are trusted only when sealed with the cache's secret for the app that reads them.
 *
 * Matrix (case -> outcome):
 * - key file in the state folder -> made 0600 in a 0700 folder, one key for processes racing on it;
 *   a key file others can read -> refused, naming the file and `chmod 600`
 * - manifest entry forged (plain digest), copied from another app's folder, or sealed by another
 *   key (a cold start) -> discarded with one warning naming the entry, parsed again, then served
 * - object store with a file added, or its seal removed -> wiped with a warning, cloned again
 * - isomorphic-git reading a pack whose index claims another object's SHA -> returns it unchecked
 *   (why stores are sealed); a loose object under a wrong SHA -> refused
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { init, readBlob } from 'isomorphic-git';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readOrCreateKeyFile, stateCacheKeyPath } from '../../lambda/source/cache-key.ts';
import { type LoadSourceOptions, loadSource } from '../../lambda/source/source.ts';
import { runDriftless } from '../support/driftless-cli.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';

const exec = promisify(execFile);
const configMap = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n`;

let server: GitServer;
let workDir: string;
let cacheDir: string;
let warnings: { message: string; fields: Record<string, unknown> }[];
const key = randomBytes(32);
const options = (app: string, cacheKey: Buffer = key): LoadSourceOptions => ({
  cacheDir,
  cacheKey,
  partition: { app, cluster: 'uid-1' },
  logger: { info: () => undefined, warn: (message, fields = {}) => warnings.push({ message, fields }) },
});

beforeAll(async () => {
  server = await startGitServer();
  workDir = await mkdtemp(join(tmpdir(), 'driftless-cache-integrity-'));
});
afterAll(async () => {
  await server.stop();
  await rm(workDir, { recursive: true, force: true });
});
beforeEach(async () => {
  cacheDir = await mkdtemp(join(workDir, 'cache-'));
  warnings = [];
});

const filesNamed = async (pattern: RegExp) =>
  (await readdir(cacheDir, { recursive: true })).filter((name) => pattern.test(basename(name)));

describe('the cache key file', () => {
  it('lives in the state folder, made 0600 in a 0700 folder, one key for every racing process', async () => {
    const state = join(workDir, 'state');
    const path = stateCacheKeyPath({ XDG_STATE_HOME: state });
    expect(path).toBe(join(state, 'driftless', 'cache.key'));
    expect(stateCacheKeyPath({ HOME: '/users/u' })).toMatch(/\.local\/state\/driftless\/cache\.key$/);
    const module = new URL('../../lambda/source/cache-key.ts', import.meta.url).href;
    const script = `const { readOrCreateKeyFile } = await import(${JSON.stringify(module)});
      console.log((await readOrCreateKeyFile(${JSON.stringify(path)})).toString('hex'));`;
    const run = () =>
      exec(process.execPath, ['--input-type=module', '-e', script]).then(({ stdout }) => stdout.trim());
    const keys = await Promise.all([run(), run(), run(), run(), run(), run()]);
    expect(new Set(keys).size).toBe(1);
    expect((await readOrCreateKeyFile(path)).toString('hex')).toBe(keys[0]);
    expect(((await stat(path)).mode & 0o777).toString(8)).toBe('600');
    expect(((await stat(dirname(path))).mode & 0o777).toString(8)).toBe('700');
    expect(await readdir(dirname(path))).toEqual(['cache.key']); // no partial file left behind
  });

  it('is where `driftless render` keeps its key, outside the cache folder', async () => {
    const repo = await server.createRepo('integrity-cli');
    await repo.commit({ 'cm.yaml': configMap('cli') });
    const state = join(workDir, 'cli-state');
    const cache = join(workDir, 'cli-cache');
    const env = { XDG_STATE_HOME: state, DRIFTLESS_CACHE_DIR: cache };
    const run = await runDriftless(['render', '--repo', repo.workTree], env);
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.stdout).toContain('name: cli');
    expect(((await stat(join(state, 'driftless', 'cache.key'))).mode & 0o777).toString(8)).toBe('600');
    const inCache = await readdir(cache, { recursive: true });
    expect(inCache.some((name) => basename(name).startsWith('manifests-'))).toBe(true);
    expect(inCache.filter((name) => /key/.test(basename(name)))).toEqual([]);
    // The second render is served from the cache the key sealed.
    const again = await runDriftless(['render', '--repo', repo.workTree], env);
    expect(again.stderr).toMatch(/cached[=:]\s*"?true/);
  });

  it('refuses a key file others can read', async () => {
    const path = join(workDir, 'loose', 'cache.key');
    await mkdir(dirname(path));
    await writeFile(path, randomBytes(32), { mode: 0o644 });
    await chmod(path, 0o644);
    await expect(readOrCreateKeyFile(path)).rejects.toThrow(`chmod 600 ${path}`);
  });
});

describe('parsed-manifest entries', () => {
  it('discards a forged, another app’s, or another key’s entry, parses again, and serves its own', async () => {
    const repo = await server.createRepo('integrity-manifests');
    await repo.commit({ 'cm.yaml': configMap('genuine') });
    await loadSource({ repo: repo.workTree }, options('a'));
    await loadSource({ repo: repo.workTree }, options('b'));
    const all = await filesNamed(/^manifests-/);
    expect(all).toHaveLength(2); // same commit and path: same name, in a folder per app
    expect(dirname(all[0] ?? '')).not.toBe(dirname(all[1] ?? ''));
    expect(basename(all[0] ?? '')).toBe(basename(all[1] ?? ''));

    // Both forged with a plain SHA-256 where the HMAC goes; the warning says which one was B's.
    const object = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'forged' } };
    const body = JSON.stringify({ files: 1, objects: [{ object, origin: { file: 'x.yaml', document: 0 } }] });
    const forged = `${createHash('sha256').update(body).digest('hex')}\n${body}`;
    for (const file of all) await writeFile(join(cacheDir, file), forged);
    const b = await loadSource({ repo: repo.workTree }, options('b'));
    expect(b.cached).toBe(false);
    expect(b.objects.map((d) => d.object.metadata.name)).toEqual(['genuine']);
    expect(warnings).toHaveLength(1);
    const discarded = String(warnings[0]?.fields.entry);
    expect(all).toContain(discarded);
    expect(JSON.stringify(warnings)).not.toContain('forged');
    expect(await loadSource({ repo: repo.workTree }, options('b'))).toMatchObject({ cached: true });

    // B's genuine entry, copied over A's: sealed for B, so worthless to A.
    const ofA = all.find((file) => file !== discarded) ?? '';
    await copyFile(join(cacheDir, discarded), join(cacheDir, ofA));
    warnings = [];
    expect(await loadSource({ repo: repo.workTree }, options('a'))).toMatchObject({ cached: false });
    expect(warnings.map((w) => w.fields.entry)).toEqual([ofA]);

    // A new process (a cold start) has a new key: the old entry is parsed again, then served.
    warnings = [];
    const coldKey = randomBytes(32);
    const cold = options('a', coldKey);
    expect(await loadSource({ repo: repo.workTree }, cold)).toMatchObject({ cached: false });
    expect(await loadSource({ repo: repo.workTree }, cold)).toMatchObject({ cached: true });
    expect(warnings).toHaveLength(0); // a new key names a new folder: nothing of the old one is read
  });
});

describe('cached object stores', () => {
  it('wipes and clones again a store with a planted file or without its seal', async () => {
    const repo = await server.createRepo('integrity-store');
    const sha = await repo.commit({ 'cm.yaml': configMap('genuine') });
    expect(await loadSource({ repo: repo.url }, options('b'))).toMatchObject({
      revision: sha,
      fetched: true,
    });
    expect(await loadSource({ repo: repo.url }, options('b'))).toMatchObject({
      fetched: false,
      cached: true,
    });
    expect(warnings).toEqual([]);

    const [seal] = await filesNamed(/^driftless\.seal$/);
    const store = dirname(seal ?? '');
    await writeFile(join(cacheDir, store, 'objects', 'pack', 'pack-planted.idx'), 'planted');
    const planted = await loadSource({ repo: repo.url }, options('b'));
    expect(planted).toMatchObject({ revision: sha, fetched: true });
    expect(warnings.map((w) => w.fields)).toEqual([{ entry: store, reason: 'seal does not match' }]);
    expect(await filesNamed(/^pack-planted/)).toEqual([]);

    warnings = [];
    await rm(join(cacheDir, store, 'driftless.seal'));
    expect(await loadSource({ repo: repo.url }, options('b'))).toMatchObject({
      revision: sha,
      fetched: true,
    });
    expect(warnings.map((w) => w.fields)).toEqual([{ entry: store, reason: 'no seal' }]);
  });

  it('needs the seal: isomorphic-git returns a packed object under whatever SHA its index claims', async () => {
    const src = join(workDir, 'forge-src');
    await exec('git', ['init', '-q', src]);
    await writeFile(join(src, 'blob'), 'the attacker wrote this');
    const real = (await exec('git', ['-C', src, 'hash-object', '-w', 'blob'])).stdout.trim();
    const claimed = 'ab'.repeat(20); // the SHA a genuine object of the victim has
    const gitdir = join(workDir, 'forge.git');
    await init({ fs, gitdir, bare: true });
    const packDir = join(gitdir, 'objects', 'pack');
    const { stdout } = await exec('sh', ['-c', `echo ${real} | git -C ${src} pack-objects ${packDir}/pack`]);
    const idxPath = join(packDir, `pack-${stdout.trim()}.idx`);
    // Rewrite the one-object index: the fan-out table and the SHA, then its own checksum.
    const idx = Buffer.from(await readFile(idxPath));
    for (let i = 0; i < 256; i++) idx.writeUInt32BE(i >= 0xab ? 1 : 0, 8 + i * 4);
    Buffer.from(claimed, 'hex').copy(idx, 8 + 1024);
    createHash('sha1')
      .update(idx.subarray(0, -20))
      .digest()
      .copy(idx, idx.length - 20);
    await writeFile(idxPath, idx);
    const read = await readBlob({ fs, gitdir, oid: claimed });
    expect(Buffer.from(read.blob).toString()).toBe('the attacker wrote this');

    // A loose object is checked: the same lie is refused.
    const lie = join(gitdir, 'objects', 'cd', 'cd'.repeat(19));
    await mkdir(dirname(lie), { recursive: true });
    await copyFile(join(src, '.git', 'objects', real.slice(0, 2), real.slice(2)), lie);
    await expect(readBlob({ fs, gitdir, oid: 'cd'.repeat(20) })).rejects.toThrow(/SHA check failed/);
  });
});
