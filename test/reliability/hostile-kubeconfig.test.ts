/**
 * Secrets that sit next to the settings a user gets wrong: a malformed kubeconfig holding a bearer
 * token, a repository URL with a password over plain http or with no path, a deploy config with a
 * password in `repo`. Each is refused with a message that names the file, line or setting, and
 * the planted secret shows in no output, log line or stored record.
 *
 * Matrix (case -> outcome):
 * - kubeconfig with a YAML error on the token's line -> Failed: `line L, column C`, token nowhere
 * - kubeconfig over 4 MiB                            -> Failed naming the limit, file never parsed
 * - `http://user:pass@remote-host/...`               -> Failed: use https://, nothing sent
 * - `https://user:pass@host` (no path), no --app     -> usage error, the password is never the app name
 * - deploy config `repo` with user:password@         -> ConfigError pointing to credentialsSecret
 * - deploy config `repo` over http:// to another host -> ConfigError naming https://
 */
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConfigError, parseConfig } from '../../lambda/config.ts';
import { logSyncRun } from '../../lambda/log.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';
import { driftlessCli, type HostileStore, hostileSync, openHostileStore, runsOf } from './hostile-harness.ts';

const cp = inject('controlPlane');
const PLANTED = 'planted-bearer-9c41e7d2b8';

let workDir: string;
let git: GitServer;
let repoUrl: string;
let dynamo: HostileStore;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-hostile-kubeconfig-'));
  git = await startGitServer();
  const repo = await git.createRepo('hk-app');
  await repo.commit({
    'cm.yaml':
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hk\n  namespace: default\ndata:\n  a: "1"\n',
  });
  repoUrl = repo.url;
  dynamo = await openHostileStore('dynamodb', workDir);
});

afterAll(async () => {
  await dynamo?.close();
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

function expectNoSecret(haystack: string, where: string): void {
  expect(haystack.includes(PLANTED), `${where} contains the planted secret`).toBe(false);
  expect(haystack.includes(PLANTED.slice(-10)), `${where} contains part of the planted secret`).toBe(false);
}

/** A kubeconfig whose user line is not valid YAML: `token: a: b` (a mapping value where none may be). */
const brokenKubeconfig = [
  'apiVersion: v1',
  'kind: Config',
  'current-context: c',
  'contexts: [{ name: c, context: { cluster: c, user: u } }]',
  `clusters: [{ name: c, cluster: { server: "${cp.server}" } }]`,
  'users:',
  '  - name: u',
  '    user:',
  `      token: ${PLANTED}: oops`,
  '',
].join('\n');

describe('a malformed kubeconfig', () => {
  it('fails naming the line and column, and its token reaches no output or stored record', async () => {
    const kubeconfig = join(workDir, 'broken.yaml');
    await writeFile(kubeconfig, brokenKubeconfig);
    const history = join(workDir, 'cli');
    await rm(history, { recursive: true, force: true });
    const cli = await driftlessCli(
      [
        'sync',
        '--repo',
        repoUrl,
        '--app',
        'hk-app',
        '--kubeconfig',
        kubeconfig,
        '--output',
        'json',
        '--history',
        `sqlite:${join(history, 'history.db')}`,
      ],
      { DRIFTLESS_CACHE_DIR: join(workDir, 'cache') },
    );
    expect(cli.code).toBe(2);
    const result = JSON.parse(cli.stdout);
    expect(result.outcome).toBe('Failed');
    expect(result.error).toMatch(
      new RegExp(`kubeconfig ${kubeconfig} is not valid YAML \\(line 9, column \\d+\\)`),
    );
    expectNoSecret(cli.stdout, 'stdout');
    expectNoSecret(cli.stderr, 'stderr');
    const sqlite = await openHostileStore('sqlite', history);
    try {
      expect((await runsOf(sqlite.store, 'hk-app')).at(-1)?.outcome).toBe('Failed');
      expectNoSecret(await sqlite.dump(), 'the SQLite history');
    } finally {
      await sqlite.close();
    }

    // As the Lambda records it: DynamoDB, and the structured log line of the run.
    const { run, logs } = await hostileSync(
      { app: 'hk-app', source: { repo: repoUrl } },
      { store: dynamo.store, cacheDir: join(workDir, 'cache'), kubeconfig },
    );
    logSyncRun(logs, run);
    expect(run.record.outcome).toBe('Failed');
    expect(run.record.error).toMatch(/line 9, column/);
    expectNoSecret(logs.text(), 'the log lines');
    expectNoSecret(await dynamo.dump(), 'the DynamoDB history');
  });

  it('in a KUBECONFIG list (read by client-node) is reported the same way', async () => {
    const broken = join(workDir, 'listed.yaml');
    await writeFile(broken, brokenKubeconfig);
    const cli = await driftlessCli(
      [
        'sync',
        '--repo',
        repoUrl,
        '--app',
        'hk-list',
        '--output',
        'json',
        '--history',
        `sqlite:${join(workDir, 'list', 'history.db')}`,
      ],
      { DRIFTLESS_CACHE_DIR: join(workDir, 'cache'), KUBECONFIG: `${broken}${delimiter}${cp.kubeconfig}` },
    );
    expect(cli.code).toBe(2);
    expect(JSON.parse(cli.stdout).error).toMatch(/is not valid YAML \(line 9, column \d+\)/);
    expectNoSecret(cli.stdout + cli.stderr, 'the CLI output');
  });

  it('over 4 MiB is refused before it is read, naming the limit', async () => {
    const kubeconfig = join(workDir, 'huge.yaml');
    await writeFile(kubeconfig, `# ${PLANTED}\n`);
    await truncate(kubeconfig, 100 * 1024 * 1024);
    const cli = await driftlessCli(
      [
        'sync',
        '--repo',
        repoUrl,
        '--app',
        'hk-huge',
        '--kubeconfig',
        kubeconfig,
        '--output',
        'json',
        '--history',
        `sqlite:${join(workDir, 'huge', 'history.db')}`,
      ],
      { DRIFTLESS_CACHE_DIR: join(workDir, 'cache') },
    );
    expect(cli.code).toBe(2);
    expect(JSON.parse(cli.stdout).error).toMatch(
      /is 104857600 bytes, over the 4194304-byte limit for a kubeconfig/,
    );
    expectNoSecret(cli.stdout + cli.stderr, 'the CLI output');
  });
});

describe('repository URLs with credentials', () => {
  it('refuses http:// to a host other than this machine before sending anything', async () => {
    const cli = await driftlessCli(
      [
        'sync',
        '--repo',
        `http://deploy:${PLANTED}@git.example.com/team/app.git`,
        '--app',
        'hk-http',
        '--kubeconfig',
        cp.kubeconfig,
        '--output',
        'json',
        '--history',
        `sqlite:${join(workDir, 'http', 'history.db')}`,
      ],
      { DRIFTLESS_CACHE_DIR: join(workDir, 'cache') },
    );
    expect(cli.code).toBe(2);
    const result = JSON.parse(cli.stdout);
    expect(result.error).toMatch(
      /http:\/\/git\.example\.com\/team\/app\.git: plain http:\/\/ .* use https:\/\/git\.example\.com\/team\/app\.git/,
    );
    expectNoSecret(cli.stdout + cli.stderr, 'the CLI output');
  });

  it('never takes the app name from the user info of a URL without a path', async () => {
    const cli = await driftlessCli(
      [
        'sync',
        '--repo',
        `https://deploy:${PLANTED}@git.example.com`,
        '--kubeconfig',
        cp.kubeconfig,
        '--output',
        'json',
        '--history',
        `sqlite:${join(workDir, 'nopath', 'history.db')}`,
      ],
      { DRIFTLESS_CACHE_DIR: join(workDir, 'cache') },
    );
    expect(cli.code).toBe(2);
    expect(JSON.parse(cli.stdout).error).toMatch(/--app/);
    expectNoSecret(cli.stdout + cli.stderr, 'the CLI output');
  });

  it('the deploy config refuses a password in repo (pointing to credentialsSecret) and http:// to another host', () => {
    const config = (repo: string) => ({
      apps: [{ name: 'web', repo, cluster: { name: 'c', region: 'eu-west-1' } }],
    });
    const refusal = (repo: string) => {
      try {
        parseConfig(config(repo), 'config file driftless.config.yaml');
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error(`${repo} was accepted`);
    };
    const withPassword = refusal(`https://deploy:${PLANTED}@git.example.com/team/app.git`);
    expect(withPassword).toMatch(/apps\[0\]\.repo: must not carry credentials .* credentialsSecret/);
    expectNoSecret(withPassword, 'the config error');
    expect(refusal('http://git.example.com/team/app.git')).toMatch(
      /apps\[0\]\.repo: plain http:\/\/ .* use https:\/\//,
    );
    expect(() => parseConfig(config('http://127.0.0.1:8080/app.git'))).not.toThrow();
    expect(() => parseConfig(config('https://git.example.com/team/app.git'))).not.toThrow();
  });
});
