/**
 * `driftless` as users run it: a child process (`node lambda/cli.ts`, Node 24 from
 * node_modules/.bin) against the local API server and a local Git repository.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openHistoryStore } from '../lambda/history/open-store.ts';
import type { SyncRecord } from '../lambda/history/store.ts';
import { type CliRun, runDriftless } from './support/driftless-cli.ts';
import { kubectl, kubectlGet } from './support/kubectl.ts';

const exec = promisify(execFile);
const cp = inject('controlPlane');

let workDir: string;
let repo: string;
let history: string;

/** Runs the CLI like `npm run driftless --` does, with this file's Git cache. */
function driftless(args: string[], env: NodeJS.ProcessEnv = {}, command = 'node'): Promise<CliRun> {
  return runDriftless(args, { DRIFTLESS_CACHE_DIR: join(workDir, 'cache'), ...env }, command);
}

async function commit(files: Record<string, string | null>, message: string): Promise<string> {
  for (const [file, content] of Object.entries(files)) {
    if (content === null) await rm(join(repo, file));
    else await writeFile(join(repo, file), content);
  }
  const git = (...args: string[]) => exec('git', ['-C', repo, ...args]);
  await git('add', '-A');
  await git('-c', 'user.name=t', '-c', 'user.email=t@driftless.dev', 'commit', '--quiet', '-m', message);
  return (await git('rev-parse', 'HEAD')).stdout.trim();
}

const NS = 'cli-test';
const namespaceYaml = `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${NS}\n`;
const configMapYaml = (text: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: ${NS}\ndata:\n  text: ${text}\n`;
const secondYaml = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: ${NS}\ndata:\n  x: "1"\n`;

function common(): string[] {
  return [
    '--repo',
    repo,
    '--app',
    'cli-app',
    '--kubeconfig',
    cp.kubeconfig,
    '--history',
    `sqlite:${history}`,
  ];
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-cli-test-'));
  repo = join(workDir, 'repo');
  history = join(workDir, 'history.db');
  await exec('git', ['init', '--quiet', '--initial-branch=main', repo]);
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe('driftless sync, plan and history (one app, in order)', () => {
  let firstRevision: string;

  it('sync --output json prints exactly one contract object, progress on stderr, and exits 0', async () => {
    firstRevision = await commit(
      { 'configmap.yaml': configMapYaml('one'), 'namespace.yaml': namespaceYaml, 'extra.yaml': secondYaml },
      'first',
    );
    const run = await driftless(['sync', ...common(), '--output', 'json']);
    expect(run.stderr).toMatch(/driftless: /);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const result = JSON.parse(lines[0]!);
    expect(Object.keys(result).sort()).toEqual(
      expect.arrayContaining([
        'app',
        'dryRun',
        'durationMs',
        'finishedAt',
        'outcome',
        'resources',
        'revision',
        'startedAt',
      ]),
    );
    expect(result).toMatchObject({
      app: 'cli-app',
      revision: firstRevision,
      outcome: 'Synced',
      dryRun: false,
    });
    expect(result).not.toHaveProperty('runId');
    expect(result.resources).toHaveLength(3);
    for (const resource of result.resources) {
      expect(resource).toMatchObject({ apiVersion: 'v1', action: 'created', name: expect.any(String) });
    }
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'settings', NS))?.data.text).toBe('one');
  });

  it('plan exits 0 and reports unchanged when the cluster matches Git', async () => {
    const run = await driftless(['plan', ...common(), '--output', 'json']);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ outcome: 'Synced', dryRun: true });
    expect(result.resources.map((r: { action: string }) => r.action)).toEqual([
      'unchanged',
      'unchanged',
      'unchanged',
    ]);
  });

  it('plan exits 1 and shows the diff of a manual change; sync without self-heal reports drifted, exit 1', async () => {
    await kubectl(
      cp.kubeconfig,
      'patch',
      'configmap',
      'settings',
      '-n',
      NS,
      '--type=merge',
      '-p',
      '{"data":{"text":"edited"}}',
    );
    const plan = await driftless(['plan', ...common()]);
    expect(plan.code).toBe(1);
    expect(plan.stdout).toMatch(/^ACTION\s+KIND\s+NAMESPACE\s+NAME/m);
    expect(plan.stdout).toMatch(/drifted\s+ConfigMap\s+cli-test\s+settings/);
    expect(plan.stdout).toMatch(/-\s+text: edited/);
    expect(plan.stdout).toMatch(/\+\s+text: one/);
    expect(plan.stdout).toMatch(/^OutOfSync: plan of cli-app at [0-9a-f]{7}: /m);

    const sync = await driftless(['sync', ...common(), '--output', 'json']);
    expect(sync.code).toBe(1);
    expect(JSON.parse(sync.stdout).outcome).toBe('OutOfSync');
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'settings', NS))?.data.text).toBe('edited');
  });

  it('sync --self-heal restores Git and exits 0', async () => {
    const run = await driftless(['sync', ...common(), '--self-heal']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Synced: sync of cli-app/m);
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'settings', NS))?.data.text).toBe('one');
  });

  it('reports a removed object as orphaned (exit 1) and deletes it with --prune (exit 0)', async () => {
    await commit({ 'extra.yaml': null }, 'drop extra');
    const orphaned = await driftless(['sync', ...common(), '--output', 'json']);
    expect(orphaned.code).toBe(1);
    expect(JSON.parse(orphaned.stdout).resources).toContainEqual(
      expect.objectContaining({ kind: 'ConfigMap', name: 'extra', action: 'orphaned' }),
    );
    const pruned = await driftless(['sync', ...common(), '--prune', '--output', 'json']);
    expect(pruned.code).toBe(0);
    expect(JSON.parse(pruned.stdout).resources).toContainEqual(
      expect.objectContaining({ kind: 'ConfigMap', name: 'extra', action: 'pruned' }),
    );
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'extra', NS)).toBeUndefined();
  });

  it('exits 2 with outcome Failed and the error when a manifest is invalid, and applies nothing', async () => {
    await commit({ 'broken.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: [oops\n' }, 'broken');
    const run = await driftless(['sync', ...common(), '--output', 'json']);
    expect(run.code).toBe(2);
    const result = JSON.parse(run.stdout);
    expect(result.outcome).toBe('Failed');
    expect(result.error).toMatch(/broken\.yaml/);
    await commit({ 'broken.yaml': null }, 'fixed');
  });

  it('history --output json prints one record per line, newest first', async () => {
    const run = await driftless([
      'history',
      '--app',
      'cli-app',
      '--history',
      `sqlite:${history}`,
      '--output',
      'json',
    ]);
    expect(run.code).toBe(0);
    const records = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(records.map((r) => [r.outcome, r.dryRun])).toEqual([
      ['Failed', false],
      ['Synced', false],
      ['OutOfSync', false],
      ['Synced', false],
      ['OutOfSync', false],
      ['OutOfSync', true],
      ['Synced', true],
      ['Synced', false],
    ]);
    expect(records.at(-1)).toMatchObject({
      app: 'cli-app',
      revision: firstRevision,
      status: 'Synced',
      runId: expect.any(String),
      trigger: 'cli',
    });
    expect(records.at(-1).resources).toHaveLength(3);
    // Only the contract's fields and the three history extras: no store internals.
    for (const record of records) {
      expect(Object.keys(record)).not.toContain('counts');
      expect(Object.keys(record)).not.toContain('cluster');
    }
    const limited = await driftless(['history', '--limit', '2', '--history', `sqlite:${history}`]);
    expect(limited.code).toBe(0);
    expect(limited.stdout).toMatch(/^STARTED\s+APP\s+CLUSTER\s+REVISION\s+OUTCOME/);
    expect(limited.stdout.trim().split('\n')).toHaveLength(3);
  });
});

describe('driftless history --output json keeps the contract for runs that did not finish', () => {
  it('reports Running, Interrupted and Skipped runs as outcome Failed with an error, the stored status beside it', async () => {
    const file = join(workDir, 'unfinished.db');
    const store = await openHistoryStore(`sqlite:${file}`);
    const base = (runId: string, outcome: SyncRecord['outcome'], startedAt: string): SyncRecord => ({
      app: 'cli-unfinished',
      runId,
      outcome,
      revision: '',
      dryRun: false,
      trigger: 'schedule',
      startedAt,
      finishedAt: '',
      durationMs: 0,
      resources: [],
      counts: {},
    });
    try {
      await store.startRun(base('a-interrupted', 'Running', '2026-01-01T00:00:00.000Z'));
      await store.markInterrupted(
        { app: 'cli-unfinished', cluster: 'uid:any' },
        'none',
        '2026-01-01T00:05:00.000Z',
      );
      await store.startRun({
        ...base('b-skipped', 'Skipped', '2026-01-01T00:10:00.000Z'),
        error: 'another sync of app "cli-unfinished" holds the lease; skipped',
      });
      await store.startRun(base('c-running', 'Running', '2026-01-01T00:15:00.000Z'));
    } finally {
      await store.close();
    }

    const run = await driftless(['history', '--history', `sqlite:${file}`, '--output', 'json']);
    expect(run.code).toBe(0);
    const records = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(records.map((r) => [r.runId, r.status, r.outcome, r.trigger])).toEqual([
      ['c-running', 'Running', 'Failed', 'schedule'],
      ['b-skipped', 'Skipped', 'Failed', 'schedule'],
      ['a-interrupted', 'Interrupted', 'Failed', 'schedule'],
    ]);
    expect(records[0].error).toMatch(/not finished/);
    expect(records[1].error).toMatch(/holds the lease/);
    expect(records[2].error).toMatch(/interrupted: it stopped/);
  });
});

describe('driftless failures and usage', () => {
  it('exits 2 with a Failed JSON object when the repository does not exist', async () => {
    const run = await driftless([
      'sync',
      '--repo',
      join(workDir, 'no-such-repo'),
      '--app',
      'cli-missing',
      '--kubeconfig',
      cp.kubeconfig,
      '--history',
      `sqlite:${history}`,
      '--output',
      'json',
    ]);
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout)).toMatchObject({
      app: 'cli-missing',
      outcome: 'Failed',
      error: expect.stringMatching(/no-such-repo/),
    });
  });

  it('exits 2 for usage errors: a missing --app, an unknown command, a bad --output', async () => {
    for (const args of [
      ['sync', '--repo', '.'],
      ['deploy'],
      ['plan', '--app', 'x', '--repo', '.', '--output', 'xml'],
    ]) {
      const run = await driftless(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/error/);
    }
  });

  it("with --output json, a usage error prints exactly one Failed object (commander's message) and exits 2", async () => {
    const cases: [string[], { app: string; dryRun: boolean; error: RegExp }][] = [
      [['sync', '--output', 'json'], { app: '', dryRun: false, error: /required option '--app/ }],
      [
        ['sync', '--repo', 'https://git.example.com/team/web-app.git', '--output', 'json'],
        { app: '', dryRun: false, error: /required option '--app/ },
      ],
      [
        ['sync', '--app', 'cli-usage', '--output', 'json'],
        {
          app: 'cli-usage',
          dryRun: false,
          error: /--repo URL\|PATH, or an app of a deploy config with --config FILE/,
        },
      ],
      [
        [
          'sync',
          '--app',
          'web-app',
          '--repo',
          'https://git.example.com/team/web-app.git',
          '--bogus',
          '-o',
          'json',
        ],
        { app: 'web-app', dryRun: false, error: /unknown option '--bogus'/ },
      ],
      [
        ['plan', '--repo', repo, '--app', 'cli-usage', '--output=json', 'extra'],
        { app: 'cli-usage', dryRun: true, error: /unexpected argument "extra".*--repo extra/ },
      ],
      [['history', '-ojson', '--limit', '0'], { app: '', dryRun: false, error: /--limit.*positive integer/ }],
    ];
    for (const [args, expected] of cases) {
      const run = await driftless(args);
      expect(run.code, args.join(' ')).toBe(2);
      const lines = run.stdout.trim().split('\n');
      expect(lines, args.join(' ')).toHaveLength(1);
      const result = JSON.parse(lines[0]!);
      expect(result, args.join(' ')).toMatchObject({
        app: expected.app,
        outcome: 'Failed',
        dryRun: expected.dryRun,
        revision: '',
        resources: [],
        error: expect.stringMatching(expected.error),
      });
      expect(result.error).not.toMatch(/^error:/);
      expect(run.stderr).toMatch(/error/);
    }
  });

  it('exits 2 with a JSON error when the history store cannot be opened', async () => {
    const run = await driftless([
      'plan',
      '--repo',
      repo,
      '--app',
      'cli-app',
      '--history',
      'nowhere',
      '--output',
      'json',
    ]);
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout)).toMatchObject({
      outcome: 'Failed',
      error: expect.stringMatching(/--history/),
    });
  });

  it('prints --help on stdout and exits 0', async () => {
    const run = await driftless(['sync', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/--self-heal/);
  });

  it('runs as an executable through its shebang, like the package bin', async () => {
    const run = await driftless(['./lambda/cli.ts', '--help'], {}, 'env');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/sync \[options\]/);
  });

  it('token prints an ExecCredential like aws eks get-token, signed offline', async () => {
    const run = await driftless(['token', '--cluster', 'prod', '--region', 'eu-west-1'], {
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
      AWS_CONFIG_FILE: join(workDir, 'none'),
      AWS_SHARED_CREDENTIALS_FILE: join(workDir, 'none'),
    });
    expect(run.code).toBe(0);
    const credential = JSON.parse(run.stdout);
    expect(credential).toMatchObject({
      apiVersion: 'client.authentication.k8s.io/v1beta1',
      kind: 'ExecCredential',
      status: { token: expect.stringMatching(/^k8s-aws-v1\./) },
    });
    expect(run.stdout).not.toContain('wJalrXUtnFEMI');
  });

  it('token answers in the ExecCredential version kubectl asks for, and validates --region like sync', async () => {
    const aws = {
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
      AWS_CONFIG_FILE: join(workDir, 'none'),
      AWS_SHARED_CREDENTIALS_FILE: join(workDir, 'none'),
    };
    const v1 = await driftless(['token', '--cluster', 'prod', '--region', 'eu-west-1'], {
      ...aws,
      KUBERNETES_EXEC_INFO: JSON.stringify({
        kind: 'ExecCredential',
        apiVersion: 'client.authentication.k8s.io/v1',
        spec: { interactive: false },
      }),
    });
    expect(v1.code).toBe(0);
    expect(JSON.parse(v1.stdout).apiVersion).toBe('client.authentication.k8s.io/v1');

    for (const args of [
      ['token', '--cluster', 'prod', '--region', 'evil.example.com/x'],
      ['sync', '--repo', repo, '--app', 'cli-app', '--cluster', 'prod', '--region', 'evil.example.com/x'],
    ]) {
      const run = await driftless(args, aws);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/--region must be an AWS region such as eu-west-1/);
    }
  });
});
