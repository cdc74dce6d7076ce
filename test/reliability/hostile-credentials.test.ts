/**
 * A repository URL with credentials in it (`https://user:pass@host/repo.git`): the password is
 * sent (the server requires it) but never shows: not in a log line, a result, an error, a stored
 * record, the CLI's output, or the clone cache on disk. Checked on success and on every failure a
 * user meets: wrong password, server down, server error.
 *
 * Matrix (case -> outcome):
 * - URL with user:password (percent-encoded `:`, `@`, `/`), good -> Synced; password absent everywhere
 * - wrong password in the URL      -> Failed: `credentials from the URL were rejected (HTTP 401 ...)`
 * - nobody listening               -> Failed: `cannot reach https://127.0.0.1:PORT/...: ECONNREFUSED`
 * - server answers 500             -> Failed: `the server answered HTTP 500 ...`
 * - the same URL through the CLI   -> Synced, exit 0; stdout, stderr and the history file clean
 * The server speaks HTTPS with a certificate of its own (driftless sends no credential over http):
 * in process through the source's `ca` option, in the CLI through `NODE_EXTRA_CA_CERTS`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { logSyncRun } from '../../lambda/log.ts';
import type { SyncInput } from '../../lambda/sync.ts';
import { type GitRepo, type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectlGet } from '../support/kubectl.ts';
import {
  type CliRun,
  driftlessCli,
  dumpTree,
  type HostileRun,
  type HostileStore,
  hostileSync,
  openHostileStore,
  runsOf,
} from './hostile-harness.ts';

const cp = inject('controlPlane');

const USER = 'deploy';
/** `:`, `@` and `/` must be percent-encoded in a URL: the encoded and decoded forms both count. */
const PASSWORD = 'pa:ss@w/rd-hostile-1f9e';
const WRONG = 'wrong:pa@ss-hostile-77c1';
const NEEDLES = [PASSWORD, WRONG].flatMap((secret) => [
  secret,
  encodeURIComponent(secret),
  Buffer.from(`${USER}:${secret}`).toString('base64'),
  secret.slice(-10),
]);

function expectNoPasswordIn(haystack: string, where: string): void {
  for (const needle of NEEDLES) {
    expect(haystack.includes(needle), `${where} contains "${needle}"`).toBe(false);
  }
}

function withCredentials(url: string, password: string): string {
  return url.replace('https://', `https://${USER}:${encodeURIComponent(password)}@`);
}

let git: GitServer;
let history: HostileStore;
let workDir: string;
let repo: GitRepo;
let cliRepo: GitRepo;
const runs: HostileRun[] = [];

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-hostile-credentials-'));
  git = await startGitServer({ auth: { username: USER, password: PASSWORD }, tls: true });
  history = await openHostileStore('sqlite', workDir);
  repo = await appRepo('hc-app');
  cliRepo = await appRepo('hc-cli');
});

/** A repository with a Namespace and a ConfigMap, both named after the app. */
async function appRepo(app: string): Promise<GitRepo> {
  const created = await git.createRepo(app);
  await created.commit({
    'namespace.yaml': `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${app}\n`,
    'settings.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: ${app}\ndata:\n  a: "1"\n`,
  });
  return created;
}

afterAll(async () => {
  await history?.close();
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

async function sync(input: Pick<SyncInput, 'app' | 'source'> & Partial<SyncInput>): Promise<HostileRun> {
  const done = await hostileSync(
    input,
    {
      store: history.store,
      cacheDir: join(workDir, 'cache'),
      kubeconfig: cp.kubeconfig,
    },
    { ca: [git.ca ?? ''] },
  );
  logSyncRun(done.logs, done.run);
  runs.push(done);
  return done;
}

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('credentials embedded in the repo URL', () => {
  it('authenticate the fetch and never appear in logs, results, errors, records or the cache', async () => {
    const good = await sync({ app: 'hc-app', source: { repo: withCredentials(repo.url, PASSWORD) } });
    expect(good.run.record).toMatchObject({ outcome: 'Synced', counts: { created: 2 } });
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'settings', 'hc-app'))?.data).toEqual({ a: '1' });
    expect(good.logs.lines).toContainEqual(
      expect.objectContaining({
        message: 'source loaded',
        attributes: expect.objectContaining({ repo: repo.url }),
      }),
    );

    const wrong = await sync({ app: 'hc-app', source: { repo: withCredentials(repo.url, WRONG) } });
    expect(wrong.run.record).toMatchObject({
      outcome: 'Failed',
      error: `fetch source: ${repo.url}: credentials from the URL were rejected (HTTP 401 Unauthorized)`,
    });

    const port = await closedPort();
    const down = await sync({
      app: 'hc-app',
      source: { repo: withCredentials(`https://127.0.0.1:${port}/hc-app.git`, PASSWORD) },
    });
    expect(down.run.record).toMatchObject({
      outcome: 'Failed',
      error: `fetch source: cannot reach https://127.0.0.1:${port}/hc-app.git: ECONNREFUSED`,
    });

    git.setFault('error500');
    try {
      const broken = await sync({ app: 'hc-app', source: { repo: withCredentials(repo.url, PASSWORD) } });
      expect(broken.run.record).toMatchObject({
        outcome: 'Failed',
        error: `fetch source: cannot fetch ${repo.url}: the server answered HTTP 500 Internal Server Error`,
      });
    } finally {
      git.setFault('none');
    }

    const recorded = await runsOf(history.store, 'hc-app');
    expect(recorded.map((r) => r.outcome)).toEqual(['Synced', 'Failed', 'Failed', 'Failed']);
    expectNoPasswordIn(runs.map((r) => r.logs.text()).join('\n'), 'the log');
    expectNoPasswordIn(JSON.stringify(runs.map((r) => r.run.result)), 'a sync result');
    expectNoPasswordIn(JSON.stringify(recorded), 'a stored record');
    expectNoPasswordIn(await history.dump(), 'the raw history');
    const cache = await dumpTree(join(workDir, 'cache'));
    expect(cache).toContain('objects');
    expectNoPasswordIn(cache, 'the clone cache');
  });

  it('mask a password written with an unencoded @ or / in every log line and error', async () => {
    // Not valid URL syntax, but users paste such URLs: the greedy masking must hide all of it.
    const unencoded = ['at@sign-hostile-3d2a', 'sl/ash-hostile-5b7c'];
    for (const password of unencoded) {
      const done = await sync({
        app: 'hc-app',
        source: { repo: repo.url.replace('https://', `https://${USER}:${password}@`) },
      });
      const everything = [done.logs.text(), JSON.stringify(done.run.result), JSON.stringify(done.run.record)];
      for (const text of everything) {
        expect(text.includes(password.slice(-10)), `"${password}" leaked: ${text.slice(0, 300)}`).toBe(false);
      }
      expect(done.logs.text()).toContain('***@');
    }
  });

  it('through the CLI sync and history print no password on stdout or stderr', async () => {
    const historySpec = `sqlite:${join(workDir, 'cli', 'history.db')}`;
    const env = {
      DRIFTLESS_DEBUG: '1',
      DRIFTLESS_CACHE_DIR: join(workDir, 'cli-cache'),
      NODE_EXTRA_CA_CERTS: git.caFile,
    };
    const outputs: CliRun[] = [];
    const cli = async (args: string[]) => {
      const run = await driftlessCli(args, env);
      outputs.push(run);
      return run;
    };
    const sync = (password: string, output: string) =>
      cli([
        'sync',
        '--repo',
        withCredentials(cliRepo.url, password),
        '--app',
        'hc-cli',
        '--kubeconfig',
        cp.kubeconfig,
        '--history',
        historySpec,
        '--output',
        output,
      ]);

    const json = await sync(PASSWORD, 'json');
    expect(json.code, json.stdout).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ app: 'hc-cli', outcome: 'Synced' });
    expect((await sync(PASSWORD, 'text')).code).toBe(0);
    const rejected = await sync(WRONG, 'json');
    expect(rejected.code).toBe(2);
    expect(JSON.parse(rejected.stdout).error).toBe(
      `fetch source: ${cliRepo.url}: credentials from the URL were rejected (HTTP 401 Unauthorized)`,
    );
    expect((await sync(WRONG, 'text')).code).toBe(2);
    expect((await cli(['history', '--history', historySpec])).code).toBe(0);
    expect((await cli(['history', '--history', historySpec, '--output', 'json'])).code).toBe(0);

    const printed = outputs.map((o) => `${o.stdout}\n${o.stderr}`).join('\n');
    expect(printed).toContain(cliRepo.url);
    expectNoPasswordIn(printed, 'CLI output');
    const raw = await openHostileStore('sqlite', join(workDir, 'cli'));
    try {
      expectNoPasswordIn(await raw.dump(), 'the CLI history file');
    } finally {
      await raw.close();
    }
    expectNoPasswordIn(await dumpTree(join(workDir, 'cli-cache')), 'the CLI clone cache');
  });
});
