import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type LoadSourceOptions, loadSource, SourceError } from '../../lambda/source/source.ts';
import { type GitRepo, type GitServer, startGitServer } from '../support/git-server.ts';

let server: GitServer;
let repo: GitRepo;
let sha: string;
let cacheDir: string;
let options: LoadSourceOptions;

async function failure(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SourceError);
  return (error as Error).message;
}

/** A port that was just free: nothing listens on it. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

beforeAll(async () => {
  server = await startGitServer();
  repo = await server.createRepo('net');
  sha = await repo.commit({ 'cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n' });
});
afterAll(async () => {
  await server.stop();
});
beforeEach(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'driftless-net-'));
  options = { cacheDir, timeoutMs: 1_000 };
  return () => rm(cacheDir, { recursive: true, force: true });
});
afterEach(() => {
  server.setFault('none');
});

describe('loadSource when the git server misbehaves', () => {
  it('names the repo when nothing listens on the port', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/gone.git`;
    expect(await failure(loadSource({ repo: url }, options))).toBe(`cannot reach ${url}: ECONNREFUSED`);
  });

  it('names the repo, without credentials, when the host does not resolve', async () => {
    const url = 'https://user:tok3n-value@driftless-test.invalid/x.git';
    const message = await failure(loadSource({ repo: url }, options));
    expect(message).toMatch(
      /^cannot reach https:\/\/driftless-test\.invalid\/x\.git: (ENOTFOUND|EAI_AGAIN)$/,
    );
  });

  it('reports a server answering 500', async () => {
    server.setFault('error500');
    expect(await failure(loadSource({ repo: repo.url }, options))).toBe(
      `cannot fetch ${repo.url}: the server answered HTTP 500 Internal Server Error`,
    );
  });

  it('gives up on a server that never answers after timeoutMs', async () => {
    server.setFault('hang');
    expect(await failure(loadSource({ repo: repo.url }, options))).toBe(
      `cannot fetch ${repo.url}: no response within 1000 ms (timeoutMs)`,
    );
  });

  it('fails with the server down even when an older revision is cached', async () => {
    await loadSource({ repo: repo.url }, options);
    server.setFault('error500');
    await expect(loadSource({ repo: repo.url }, options)).rejects.toThrow(/HTTP 500/);
    server.setFault('none');
    expect((await loadSource({ repo: repo.url }, options)).revision).toBe(sha);
  });

  it('says a repository that does not exist was not found, and to check the URL and credentials', async () => {
    const url = server.url('no-such-repo');
    expect(await failure(loadSource({ repo: url }, options))).toBe(
      `${url}: repository not found (HTTP 404 Not Found); check the URL, and the credentials (none are set): private repositories answer 404 to missing or rejected credentials`,
    );
  });

  it('refuses SSH URLs', async () => {
    expect(await failure(loadSource({ repo: 'git@github.com:org/repo.git' }, options))).toBe(
      'git@github.com:org/repo.git: only https:// URLs and local paths are supported (no SSH)',
    );
  });

  it('refuses a URL that does not parse, without echoing it', async () => {
    expect(await failure(loadSource({ repo: 'https://user:secret@' }, options))).toBe(
      'the repo setting is not a valid URL: give https://host/path or a local path',
    );
  });

  it('bounds a download by maxCacheBytes', async () => {
    const big = await server.createRepo('big');
    const noise = Buffer.from(crypto.getRandomValues(new Uint8Array(60_000))).toString('base64');
    await big.commit({ 'blob.bin': noise });
    expect(await failure(loadSource({ repo: big.url }, { ...options, maxCacheBytes: 20_000 }))).toBe(
      `${big.url}: download exceeds 20000 bytes (maxCacheBytes); the repository is too large for the cache`,
    );
  });
});
