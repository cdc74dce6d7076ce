/**
 * The checkout a renderer reads, against local repositories (real git, crafted trees): only a
 * well-formed tree is written, nothing is written through a symlink, and every symlink resolves
 * inside the checkout as the filesystem resolves it. The end-to-end attacks (Helm, Kustomize, the
 * cluster, canaries) are in test/reliability/hostile-repo-tree.test.ts.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SourceError } from '../../lambda/source/errors.ts';
import { DEFAULT_MANIFEST_LIMITS } from '../../lambda/source/manifests.ts';
import { checkout } from '../../lambda/source/render/checkout.ts';
import { readManifestFiles } from '../../lambda/source/tree.ts';
import { type CraftedEntry, craftCommit, writeBlob, writeTree } from '../reliability/crafted-tree.ts';

const exec = promisify(execFile);
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'driftless-checkout-test-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

let counter = 0;
/** A repository with `files` and `links` (path -> target) committed; resolves with its git dir and commit. */
async function repoWith(files: Record<string, string>, links: Record<string, string> = {}) {
  counter += 1;
  const tree = join(work, `repo-${counter}`);
  await exec('git', ['init', '--quiet', '--initial-branch=main', tree]);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(tree, path, '..'), { recursive: true });
    await writeFile(join(tree, path), content);
  }
  for (const [path, target] of Object.entries(links)) {
    await mkdir(join(tree, path, '..'), { recursive: true });
    await symlink(target, join(tree, path));
  }
  const git = (...args: string[]) => exec('git', ['-C', tree, ...args]);
  await git('add', '-A');
  await git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '--quiet', '--allow-empty', '-m', 'x');
  const gitdir = join(tree, '.git');
  const commit = (await git('rev-parse', 'HEAD')).stdout.trim();
  return { gitdir, commit, bare: { bareDir: gitdir } };
}

async function checkoutOf(gitdir: string, commit: string, limits?: { maxFiles: number; maxBytes: number }) {
  const dir = join(await mkdtemp(join(work, 'co-')), 'repo');
  const done = checkout({ gitdir, commit, cache: {}, dir, limits });
  return { dir, done };
}

async function refusal(gitdir: string, commit: string): Promise<{ error: SourceError; dir: string }> {
  const { dir, done } = await checkoutOf(gitdir, commit);
  const error = await done.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SourceError);
  return { error: error as SourceError, dir };
}

const DEEP = 'k/k/k/k/k/k/k/k/k/k/k/k';
const UPS = '../../../../../../../../../../../..';

describe('symlinks', () => {
  it('writes an in-repo chain (a file through a linked folder) that stays inside', async () => {
    const { gitdir, commit } = await repoWith(
      { 'releases/v2/values.yaml': 'greeting: hi\n', 'chart/Chart.yaml': 'name: c\n' },
      { 'config/current': '../releases/v2', 'chart/values.yaml': '../config/current/values.yaml' },
    );
    const { dir, done } = await checkoutOf(gitdir, commit);
    await done;
    expect(await readFile(join(dir, 'chart/values.yaml'), 'utf8')).toBe('greeting: hi\n');
  });

  it('keeps a dangling link that would resolve inside', async () => {
    const { gitdir, commit } = await repoWith(
      { 'a.yaml': 'x: 1\n' },
      { 'app/optional.yaml': '../missing/b.yaml' },
    );
    const { done } = await checkoutOf(gitdir, commit);
    await done;
  });

  it('refuses a chain whose every link normalises inside but that resolves to /', async () => {
    const { gitdir, commit } = await repoWith(
      {},
      { [`${DEEP}/up`]: UPS, [`${DEEP}/top`]: `up/${UPS}`, 'app/loot': `../${DEEP}/top/etc/passwd` },
    );
    const { error } = await refusal(gitdir, commit);
    expect(error.message).toBe(
      `commit ${commit.slice(0, 12)}: symlink app/loot -> "../${DEEP}/top/etc/passwd" resolves to /etc/passwd, ` +
        'outside the checkout; refusing to render the revision: link only to files of the repository',
    );
  });

  it.each([
    [
      'an absolute dangling link',
      { 'app/x': '/nonexistent-driftless/x' },
      /app\/x -> "\/nonexistent-driftless\/x" resolves to \/nonexistent-driftless\/x, outside/,
    ],
    [
      'a link through a missing folder past the root',
      { 'app/x': 'gone/../../..' },
      /app\/x -> "gone\/..\/..\/.." resolves to .*, outside/,
    ],
    ['a loop', { 'app/a': 'b', 'app/b': 'a' }, /app\/a -> "b" is a loop/],
    [
      'a link to the checkout itself, then up',
      { 'app/self': '..', 'app/out': 'self/..' },
      /app\/out -> "self\/.." resolves to .*, outside/,
    ],
  ])('refuses %s', async (_, links, message) => {
    const { gitdir, commit } = await repoWith({ 'a.yaml': 'x: 1\n' }, links);
    const { error } = await refusal(gitdir, commit);
    expect(error.message).toMatch(message);
  });
});

describe('crafted trees', () => {
  it.each([
    ['symlink first', ['120000', '40000']],
    ['folder first', ['40000', '120000']],
  ])('refuses "z" twice (%s) before writing anything', async (_, modes) => {
    const { gitdir, bare } = await repoWith({ 'a.yaml': 'x: 1\n' });
    const outside = await mkdtemp(join(work, 'outside-'));
    const link = await writeBlob(bare, outside);
    const folder = await writeTree(bare, [
      { mode: '100644', name: 'evil.yaml', oid: await writeBlob(bare, 'x') },
    ]);
    const entries = modes.map((mode) => ({ mode, name: 'z', oid: mode === '40000' ? folder : link }));
    const commit = await craftCommit(bare, entries);
    const { error, dir } = await refusal(gitdir, commit);
    expect(error.message).toMatch(
      new RegExp(`^commit ${commit.slice(0, 12)}: "z" appears twice in one folder`),
    );
    expect(await readdir(outside)).toEqual([]);
    await expect(readdir(dir)).rejects.toThrow(/ENOENT/);
  });

  it.each(['.GIT', '.git', '.Git', '.git.', '', '.', '..', 'a\\b', 'a/b'])(
    'refuses an entry named "%s"',
    async (name) => {
      const { gitdir, bare } = await repoWith({ 'a.yaml': 'x: 1\n' });
      const inner = await writeTree(bare, [
        { mode: '100644', name: 'config', oid: await writeBlob(bare, 'x') },
      ]);
      const commit = await craftCommit(bare, [{ mode: '40000', name, oid: inner }]);
      const { error, dir } = await refusal(gitdir, commit);
      expect(error.message).toContain(
        `commit ${commit.slice(0, 12)}: tree entry "${name}" is not a valid file name`,
      );
      await expect(readdir(dir)).rejects.toThrow(/ENOENT/);
      // Plain mode reads the same tree and refuses it the same way.
      const plain = readManifestFiles({
        gitdir,
        commit,
        path: '.',
        repo: 'r',
        cache: {},
        limits: DEFAULT_MANIFEST_LIMITS,
      });
      await expect(plain).rejects.toThrow(`tree entry "${name}" is not a valid file name`);
    },
  );

  it('refuses a gitlink (submodule)', async () => {
    const { gitdir, commit: head, bare } = await repoWith({ 'a.yaml': 'x: 1\n' });
    const entry: CraftedEntry = { mode: '160000', name: 'vendor', oid: head };
    const commit = await craftCommit(bare, [entry]);
    const { error } = await refusal(gitdir, commit);
    expect(error.message).toMatch(new RegExp(`^commit ${commit.slice(0, 12)}: vendor is a submodule`));
  });
});

describe('failures while writing', () => {
  it('a file already in the folder is one SourceError, not a crash, and writes end first', async () => {
    const files = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`f/${i}.yaml`, `i: ${i}\n`]));
    const { gitdir, commit } = await repoWith(files);
    const dir = join(await mkdtemp(join(work, 'co-')), 'repo');
    await mkdir(join(dir, 'f'), { recursive: true });
    await writeFile(join(dir, 'f', '0.yaml'), 'there already');
    const error = await checkout({ gitdir, commit, cache: {}, dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as Error).message).toMatch(/cannot write f\/|EEXIST/);
  });

  it('past maxBytes, every write started has settled when the error arrives', async () => {
    const files = Object.fromEntries(
      Array.from({ length: 200 }, (_, i) => [`f/${i}.yaml`, 'x'.repeat(1000)]),
    );
    const { gitdir, commit } = await repoWith(files);
    const { dir, done } = await checkoutOf(gitdir, commit, { maxFiles: 1000, maxBytes: 50_000 });
    await expect(done).rejects.toThrow('more than 50000 bytes');
    const written = (await readdir(join(dir, 'f'))).length;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await readdir(join(dir, 'f'))).length).toBe(written);
  });
});
