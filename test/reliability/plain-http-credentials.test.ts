/**
 * Credentials never travel over plain `http://`, not even to this machine: a Basic header is
 * readable by anyone on the path (and by any local process that can sniff loopback). Plain HTTP
 * without credentials stays allowed for a loopback server (a test server, a port-forward).
 * Each refusal names the setting and the URL, points to https://, sends nothing and shows no secret.
 *
 * Matrix (where -> case -> outcome):
 * - source  `http://127.0.0.1/...` without credentials        -> loaded
 * - source  `http://user:pass@127.0.0.1/...`                  -> SourceError, no request
 * - config  `credentialsSecret` with an `http://` repo        -> ConfigError on apps[i].credentialsSecret
 * - CLI     `--repo http://user:pass@127.0.0.1/...`           -> exit 2, no request, history clean
 * - Lambda  bundled config with `credentialsSecret` over http -> Failed run, secret never read
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { ConfigError, type DriftlessConfig, parseConfig } from '../../lambda/config.ts';
import { createHandler } from '../../lambda/handler.ts';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import { loadSource, SourceError } from '../../lambda/source/source.ts';
import { type GitRepo, type GitServer, startGitServer } from '../support/git-server.ts';
import { driftlessCli } from './hostile-harness.ts';

const cp = inject('controlPlane');
const PLANTED = 'planted-git-token-5e8d1a7c33';

const secrets = mockClient(SecretsManagerClient);
let git: GitServer;
let repo: GitRepo;
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-plain-http-'));
  git = await startGitServer();
  repo = await git.createRepo('plain-app');
  await repo.commit({
    'cm.yaml':
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n  namespace: default\ndata:\n  a: "1"\n',
  });
});

afterAll(async () => {
  secrets.restore();
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

beforeEach(() => {
  git.resetLog();
  secrets.reset();
  secrets.on(GetSecretValueCommand).resolves({ SecretString: PLANTED });
});

afterEach(() => {
  vi.restoreAllMocks();
});

function expectNoSecret(haystack: string, where: string): void {
  expect(haystack.includes(PLANTED), `${where} contains the planted secret`).toBe(false);
  expect(haystack.includes(PLANTED.slice(-10)), `${where} contains part of the planted secret`).toBe(false);
}

const withPassword = (url: string) => url.replace('http://', `http://deploy:${PLANTED}@`);
const httpsOf = (url: string) => url.replace('http://', 'https://');

describe('the source over plain http:// to this machine', () => {
  it('loads a repository that needs no credentials', async () => {
    const loaded = await loadSource({ repo: repo.url }, { cacheDir: join(workDir, 'source-cache') });
    expect(loaded.objects).toHaveLength(1);
  });

  it('refuses credentials in the URL or from a secret before any request, naming the setting', async () => {
    const cases = [
      {
        settings: { repo: withPassword(repo.url) },
        setting: 'the credentials in the repository URL (user:password@)',
      },
      {
        settings: { repo: repo.url, credentialsSecret: 'git/plain' },
        setting: 'the credentials of credentialsSecret git/plain',
      },
    ];
    for (const { settings, setting } of cases) {
      const error = await loadSource(settings, {
        cacheDir: join(workDir, 'source-cache'),
        secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SourceError);
      const message = (error as Error).message;
      expect(message).toContain(`${repo.url}: refusing to send ${setting} over plain http://`);
      expect(message).toContain(`serve the repository over ${httpsOf(repo.url)}`);
      expectNoSecret(message, 'the error');
    }
    expect(git.requests).toEqual([]);
    expect(secrets.commandCalls(GetSecretValueCommand)).toEqual([]);
  });
});

describe('the deploy config', () => {
  it('refuses credentialsSecret with an http:// repo, even on this machine, and keeps plain loopback http', () => {
    const config = (repo: string, credentialsSecret?: string) => ({
      apps: [{ name: 'web', repo, credentialsSecret, cluster: { name: 'c', region: 'eu-west-1' } }],
    });
    let message = '';
    try {
      parseConfig(
        config('http://127.0.0.1:8080/team/app.git', 'git/web'),
        'config file driftless.config.yaml',
      );
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toMatch(
      /driftless\.config\.yaml:\n {2}apps\[0\]\.credentialsSecret: refusing to send the credentials over plain http:\/\/.* https:\/\/127\.0\.0\.1:8080\/team\/app\.git/,
    );
    expect(() => parseConfig(config('http://127.0.0.1:8080/team/app.git'))).not.toThrow();
    expect(() => parseConfig(config('https://127.0.0.1:8080/team/app.git', 'git/web'))).not.toThrow();
  });
});

describe('the CLI', () => {
  it('refuses user:password@ in an http:// --repo to this machine: exit 2, nothing sent, no secret anywhere', async () => {
    const historyFile = join(workDir, 'cli', 'history.db');
    const cli = await driftlessCli(
      [
        'sync',
        '--repo',
        withPassword(repo.url),
        '--app',
        'plain-cli',
        '--kubeconfig',
        cp.kubeconfig,
        '--output',
        'json',
        '--history',
        `sqlite:${historyFile}`,
      ],
      { DRIFTLESS_DEBUG: '1', DRIFTLESS_CACHE_DIR: join(workDir, 'cli-cache') },
    );
    expect(cli.code).toBe(2);
    const result = JSON.parse(cli.stdout);
    expect(result.error).toContain(
      `${repo.url}: refusing to send the credentials in the repository URL (user:password@) over plain http://`,
    );
    expect(result.error).toContain(httpsOf(repo.url));
    expect(git.requests).toEqual([]);
    expectNoSecret(cli.stdout + cli.stderr, 'the CLI output');
    expectNoSecret((await readFile(historyFile)).toString('latin1'), 'the history file');
  });
});

describe('the Lambda', () => {
  it('fails the run of a bundled config that pairs credentialsSecret with http://, without reading the secret', async () => {
    // A config bundled before this check (or built by a library user) reaches the source stage as is.
    const bundled = parseConfig({
      apps: [
        {
          name: 'plain-lambda',
          repo: httpsOf(repo.url),
          credentialsSecret: 'git/plain-lambda',
          cluster: { name: 'prod', region: 'eu-west-1' },
        },
      ],
    });
    const config: DriftlessConfig = {
      ...bundled,
      apps: bundled.apps.map((app) => ({ ...app, repo: repo.url })),
    };
    const logged: string[] = [];
    for (const stream of [process.stdout, process.stderr]) {
      vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
        logged.push(String(chunk));
        return true;
      });
    }
    vi.stubEnv('DRIFTLESS_CACHE_DIR', join(workDir, 'lambda-cache'));
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    const historyFile = join(workDir, 'lambda', 'history.db');
    const store = await openHistoryStore(`sqlite:${historyFile}`);
    try {
      const summary = await createHandler({
        loadConfig: async () => config,
        openStore: async () => store,
        connect: () => connectCluster({ type: 'kubeconfig', kubeconfig: cp.kubeconfig }),
      })({ app: 'plain-lambda' });
      vi.restoreAllMocks();
      expect(summary.outcome).toBe('Failed');
      expect(summary.error).toContain(
        `${repo.url}: refusing to send the credentials of credentialsSecret git/plain-lambda over plain http://`,
      );
      expect(summary.error).toContain(httpsOf(repo.url));
      expect(secrets.commandCalls(GetSecretValueCommand)).toEqual([]);
      expect(git.requests).toEqual([]);
      const [record] = await store.listRuns({ app: 'plain-lambda' });
      expect(record?.outcome).toBe('Failed');
      expectNoSecret(JSON.stringify(summary), 'the summary');
      expectNoSecret(logged.join(''), 'the log');
    } finally {
      vi.unstubAllEnvs();
      await store.close();
    }
  });
});
