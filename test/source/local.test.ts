import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LoadSourceOptions, loadSource, SourceError } from '../../lambda/source/source.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';

const exec = promisify(execFile);
const configMap = (name: string, value = '1') =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

// The git server only creates repositories here: these tests read them from disk, as the CLI does.
let server: GitServer;
let options: LoadSourceOptions;

async function failure(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SourceError);
  return (error as Error).message;
}

beforeAll(async () => {
  server = await startGitServer();
  options = { cacheDir: await mkdtemp(join(tmpdir(), 'driftless-local-')) };
});
afterAll(async () => {
  await server.stop();
  await rm(options.cacheDir, { recursive: true, force: true });
});

describe('loadSource from a local repository', () => {
  it('reads the committed files of HEAD, not the work tree', async () => {
    const repo = await server.createRepo('local-head');
    const sha = await repo.commit({ 'deploy/cm.yaml': configMap('a', 'committed') });
    await writeFile(join(repo.workTree, 'deploy/cm.yaml'), configMap('a', 'edited'));
    await writeFile(join(repo.workTree, 'deploy/new.yaml'), configMap('b'));

    const loaded = await loadSource({ repo: repo.workTree, path: 'deploy' }, options);
    expect(loaded).toMatchObject({ revision: sha, fetched: false, requests: 0 });
    expect(loaded.objects.map((o) => o.object.data)).toEqual([{ value: 'committed' }]);
  });

  it('resolves a branch, a tag and a full SHA, in a work tree or a bare repository', async () => {
    const repo = await server.createRepo('local-refs');
    const first = await repo.commit({ 'cm.yaml': configMap('a', 'first') });
    await repo.git('tag', '-a', 'v1', '-m', 'v1');
    const feature = await repo.commit({ 'cm.yaml': configMap('a', 'feature') }, { branch: 'feature' });
    await repo.git('push', '--quiet', 'origin', 'v1');

    for (const dir of [repo.workTree, repo.bareDir, `file://${repo.bareDir}`]) {
      expect((await loadSource({ repo: dir, ref: 'v1' }, options)).revision).toBe(first);
      expect((await loadSource({ repo: dir, ref: 'feature' }, options)).revision).toBe(feature);
      expect((await loadSource({ repo: dir, ref: first }, options)).revision).toBe(first);
    }
  });

  it('names a missing ref and a folder that is not a repository', async () => {
    const repo = await server.createRepo('local-missing');
    await repo.commit({ 'cm.yaml': configMap('a') });
    expect(await failure(loadSource({ repo: repo.workTree, ref: 'nope' }, options))).toBe(
      `ref "nope" not found in ${repo.workTree}: no such branch or tag`,
    );
    const plain = await mkdtemp(join(tmpdir(), 'driftless-plain-'));
    expect(await failure(loadSource({ repo: plain }, options))).toMatch(/is not a git repository/);
    expect(await failure(loadSource({ repo: join(plain, 'nothing') }, options))).toMatch(/does not exist/);
    await rm(plain, { recursive: true });
  });

  it('fails the whole load on one bad manifest, naming file and document', async () => {
    const repo = await server.createRepo('local-bad');
    await repo.commit({ 'a.yaml': configMap('a'), 'b.yaml': `${configMap('b')}---\nkind: ConfigMap\n` });
    expect(await failure(loadSource({ repo: repo.workTree }, options))).toBe(
      'b.yaml document 1 (line 8): missing apiVersion',
    );
  });

  it('loads a single manifest file given as path', async () => {
    const repo = await server.createRepo('local-file');
    await repo.commit({ 'one.yaml': configMap('one'), 'two.yaml': configMap('two') });
    const loaded = await loadSource({ repo: repo.workTree, path: 'two.yaml' }, options);
    expect(loaded.objects.map((o) => o.object.metadata.name)).toEqual(['two']);
  });
});

describe('loadSource refuses unsafe repository content', () => {
  it('refuses a path setting that leaves the repository', async () => {
    const repo = await server.createRepo('escape-path');
    await repo.commit({ 'cm.yaml': configMap('a') });
    for (const path of ['../other', '/etc', 'a/../../x']) {
      expect(await failure(loadSource({ repo: repo.workTree, path }, options))).toBe(
        `path "${path}" escapes the repository: give a folder inside it`,
      );
    }
  });

  it('refuses a symlink to a file outside the repository', async () => {
    const repo = await server.createRepo('symlink-out');
    await repo.commit({ 'cm.yaml': configMap('a') });
    await symlink('/etc/passwd', join(repo.workTree, 'passwd'));
    await repo.commit({});
    expect(await failure(loadSource({ repo: repo.workTree }, options))).toBe(
      'passwd is a symlink to "/etc/passwd", outside the repository; refusing the revision',
    );
  });

  it('refuses symlinked manifests and folders inside the repository rather than skip them', async () => {
    const repo = await server.createRepo('symlink-in');
    await repo.commit({ 'base/cm.yaml': configMap('a') });
    await symlink('base', join(repo.workTree, 'linked'));
    await repo.commit({});
    expect(await failure(loadSource({ repo: repo.workTree }, options))).toBe(
      'linked is a symlink to "base"; symlinks are not followed, commit the files themselves',
    );
    expect(await failure(loadSource({ repo: repo.workTree, path: 'linked' }, options))).toBe(
      'path "linked": linked is a symlink; symlinks are not followed',
    );
    expect((await loadSource({ repo: repo.workTree, path: 'base' }, options)).objects).toHaveLength(1);
  });

  it('refuses a crafted tree entry named ".."', async () => {
    const repo = await server.createRepo('crafted');
    await repo.commit({ 'cm.yaml': configMap('a') });
    const run = async (args: string[], input?: string) => {
      const child = exec('git', ['-C', repo.workTree, ...args]);
      if (input !== undefined) child.child.stdin?.end(input);
      return (await child).stdout.trim();
    };
    const blob = await run(['hash-object', '-w', '--stdin'], configMap('evil'));
    const tree = await run(['mktree'], `100644 blob ${blob}\t..\n`);
    const commit = await run(['commit-tree', tree, '-m', 'crafted']);
    // isomorphic-git's tree parser refuses it first; its refusal becomes ours, naming the commit.
    expect(await failure(loadSource({ repo: repo.workTree, ref: commit }, options))).toBe(
      `commit ${commit.slice(0, 12)}: tree entry ".." is not a valid file name (".git" in any case, ".", "..", empty, or holding "/", "\\" or NUL); refusing the revision`,
    );
  });

  it('enforces file count and size limits while reading the tree', async () => {
    const repo = await server.createRepo('limits');
    await repo.commit({ 'a.yaml': configMap('a'), 'b.yaml': configMap('b'), 'c.yaml': configMap('c') });
    expect(await failure(loadSource({ repo: repo.workTree }, { ...options, limits: { maxFiles: 2 } }))).toBe(
      'found more than the limit of 2 manifest files (maxFiles) under .',
    );
    expect(
      await failure(loadSource({ repo: repo.workTree }, { ...options, limits: { maxFileBytes: 10 } })),
    ).toMatch(/^a\.yaml: \d+ bytes, more than the limit of 10 bytes per file \(maxFileBytes\)$/);
    expect(
      await failure(loadSource({ repo: repo.workTree }, { ...options, limits: { maxTotalBytes: 100 } })),
    ).toBe('b.yaml: manifests add up to more than the limit of 100 bytes (maxTotalBytes)');
  });
});
