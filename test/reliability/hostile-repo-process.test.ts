/**
 * The process never dies on bad input: a failure during the checkout that nothing awaits (a
 * promise rejected and never awaited, an exception thrown in a timer, as a refused symlink or an
 * EEXIST once caused) ends as a run recorded `Failed`, never as a crash that leaves it `Running`.
 *
 * Matrix (shell, failure -> outcome):
 * - CLI, stray rejection at the first Git request -> exit 2, one error line (no stack), the run
 *   `Failed` in the history, `--output json` still prints its one `Failed` object
 * - CLI, exception thrown in a timer                -> the same
 * - Lambda handler, stray rejection in the loader   -> the run `Failed` in the history first, then
 *   the runtime's own listener gets the masked error (it fails the invocation)
 * Everything a run left (stdout, stderr, the history file) is grepped for planted canaries: a fake
 * AWS secret key in the environment, another app's Secret value and the password in the error's URL.
 * The Git server hangs, so the run cannot end on its own: only the last resort can finish it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SyncRecord } from '../../lambda/history/store.ts';
import { describeFailure } from '../../lambda/last-resort.ts';
import { projectRoot, runDriftless } from '../support/driftless-cli.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectl } from '../support/kubectl.ts';
import { type HostileStore, openHostileStore, runsOf } from './hostile-harness.ts';

const cp = inject('controlPlane');

const AWS_CANARY = 'FAKECANARYAWSKEY0hostile0process0k3y';
const OTHER_APP_SECRET = 'other-app-secret-value-9c41e7';
const URL_PASSWORD = 'FAKECANARYGITPASSWORD';
const CANARIES = [AWS_CANARY, OTHER_APP_SECRET, URL_PASSWORD];
const PRELOAD = join(projectRoot, 'test/reliability/fixtures/stray-failure.ts');
const LAMBDA_ENTRY = join(projectRoot, 'test/reliability/fixtures/lambda-stray-failure.ts');

let git: GitServer;
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-hostile-process-'));
  git = await startGitServer();
  await kubectl(cp.kubeconfig, 'create', 'namespace', 'proc-other');
  await kubectl(
    cp.kubeconfig,
    ...[
      'create',
      'secret',
      'generic',
      'db',
      '-n',
      'proc-other',
      `--from-literal=password=${OTHER_APP_SECRET}`,
    ],
  );
});

afterAll(async () => {
  await git?.stop();
  await kubectl(cp.kubeconfig, 'delete', 'namespace', 'proc-other', '--wait=false').catch(() => {});
  await rm(workDir, { recursive: true, force: true });
});

/** A repo of one ConfigMap, with the Git server set to hang once the checkout asks for it. */
async function hangingRepo(app: string): Promise<string> {
  const repo = await git.createRepo(app);
  await repo.commit({
    'configmap.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: ${app}\n`,
  });
  git.setFault('hang');
  return repo.url;
}

function expectNoCanaryIn(haystack: string, where: string): void {
  for (const canary of CANARIES) expect(haystack.includes(canary), `${where} holds ${canary}`).toBe(false);
}

/** The run as the history holds it, plus everything the history file holds, for the canaries. */
async function recorded(history: HostileStore, app: string): Promise<SyncRecord> {
  const runs = await runsOf(history.store, app);
  expectNoCanaryIn(await history.dump(), 'the history file');
  expect(runs).toHaveLength(1);
  return runs[0]!;
}

function expectFailedByStrayFailure(run: SyncRecord): void {
  expect(run.outcome).toBe('Failed');
  expect(run.finishedAt).not.toBe('');
  expect(run.error).toMatch(/^unexpected failure, the run was stopped: EEXIST: file already exists, symlink/);
  expect(run.error).toContain('https://***@git.example.com/app.git');
  expect(run.error).not.toMatch(/\n|\bat .*\.ts:\d+/);
}

describe('a failure nothing awaits during the checkout', () => {
  for (const form of ['rejection', 'throw'] as const) {
    it(`ends a CLI sync as a recorded Failed run with exit code 2 and one error line (${form})`, async () => {
      const app = `proc-cli-${form}`;
      const dir = await mkdtemp(join(workDir, `${form}-`));
      const repo = await hangingRepo(app);
      try {
        const run = await runDriftless(
          [
            ...['sync', '--app', app, '--repo', repo, '--namespace', app],
            ...['--kubeconfig', cp.kubeconfig, '--history', `sqlite:${join(dir, 'history.db')}`],
            ...['--output', 'json'],
          ],
          {
            NODE_OPTIONS: `--import=${PRELOAD}`,
            DRIFTLESS_TEST_STRAY_FAILURE: form,
            DRIFTLESS_CACHE_DIR: join(dir, 'cache'),
            AWS_SECRET_ACCESS_KEY: AWS_CANARY,
          },
        );
        expect(run.code, run.stderr).toBe(2);
        const errors = run.stderr.split('\n').filter((line) => /error/i.test(line));
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatch(/^driftless: error: unexpected failure: EEXIST: .*recorded=Failed/);
        expect(run.stderr).not.toMatch(/^\s+at /m);
        const result = JSON.parse(run.stdout);
        expect(result).toMatchObject({ app, outcome: 'Failed' });
        expectNoCanaryIn(run.stdout + run.stderr, 'the CLI output');

        const history = await openHostileStore('sqlite', dir);
        try {
          expectFailedByStrayFailure(await recorded(history, app));
        } finally {
          await history.close();
        }
      } finally {
        git.setFault('none');
      }
    });
  }

  it('ends a Lambda invocation with the run recorded Failed, then hands the masked error to the runtime', async () => {
    const app = 'proc-lambda';
    const dir = await mkdtemp(join(workDir, 'lambda-'));
    const run = await runDriftless(
      [LAMBDA_ENTRY],
      {
        APP: app,
        REPO: `https://git.example.com/${app}.git`,
        HISTORY_DB: join(dir, 'history.db'),
        KUBECONFIG_FILE: cp.kubeconfig,
        AWS_SECRET_ACCESS_KEY: AWS_CANARY,
        AWS_REGION: 'eu-west-1',
      },
      process.execPath,
    );
    // The runtime's stand-in exits 128 after it saw the error: the handler did not end the process itself.
    expect(run.code, run.stderr).toBe(128);
    expect(run.stderr).toMatch(
      /^runtime: invocation failed: DriftlessUnexpectedFailure: EEXIST: file already exists, symlink .*https:\/\/\*\*\*@git\.example\.com/m,
    );
    expect(run.stderr).not.toContain('the invocation returned');
    // Powertools writes JSON lines, errors to stderr and the rest to stdout.
    const lines = `${run.stdout}\n${run.stderr}`
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line));
    const fatal = lines.filter((line) => line.level === 'ERROR');
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatchObject({
      message: expect.stringMatching(/^unexpected failure: EEXIST/),
      app,
      recorded: 'Failed',
    });
    expect(run.stdout + run.stderr).not.toMatch(/^\s+at /m);
    expectNoCanaryIn(run.stdout + run.stderr, 'the Lambda output');

    const history = await openHostileStore('sqlite', dir);
    try {
      expectFailedByStrayFailure(await recorded(history, app));
    } finally {
      await history.close();
    }
  });
});

describe('the message the last resort records', () => {
  it('is the message on one line with URL credentials masked; a thrown non-Error shows only its type', () => {
    expect(
      describeFailure(new Error(`clone failed:\n  https://git:${URL_PASSWORD}@git.example.com/a.git`)),
    ).toBe('clone failed: https://***@git.example.com/a.git');
    expect(describeFailure({ token: OTHER_APP_SECRET })).toBe('a value of type object was thrown');
    expect(describeFailure(null)).toBe('a value of type null was thrown');
    expect(describeFailure('x'.repeat(2000))).toHaveLength(501);
  });
});
