/**
 * `status`, `suspend`/`resume` and `pin`/`unpin` through the CLI, against both history stores:
 * the embedded SQLite file and DynamoDB (dynalite). Each sync is a real one against the local
 * API server; kubectl observes what was (not) written.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type CliRun, runDriftless } from '../support/driftless-cli.ts';
import { type LocalDynamo, startDynamo } from '../support/dynamodb.ts';
import { kubectlGet } from '../support/kubectl.ts';

const exec = promisify(execFile);
const cp = inject('controlPlane');

let workDir: string;
let dynamo: LocalDynamo;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-controls-test-'));
  dynamo = await startDynamo({ table: 'controls-history' });
});

afterAll(async () => {
  await dynamo?.stop();
  await rm(workDir, { recursive: true, force: true });
});

const stores = [
  { kind: 'sqlite', spec: () => `sqlite:${join(workDir, 'history.db')}` },
  { kind: 'dynamodb', spec: () => 'dynamodb:controls-history' },
] as const;

describe.each(stores)('operator controls with the $kind history store', ({ kind, spec }) => {
  const app = `ctl-${kind}`;
  const ns = `ctl-${kind}`;
  let repo: string;
  const revisions: string[] = [];

  function driftless(args: string[]): Promise<CliRun> {
    return runDriftless(args, {
      DRIFTLESS_CACHE_DIR: join(workDir, 'cache'),
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    });
  }
  /** `sync` or `plan` of the app, with these extra arguments. */
  const syncOrPlan = (verb: 'sync' | 'plan', ...extra: string[]) =>
    driftless([
      verb,
      '--repo',
      repo,
      '--app',
      app,
      '--kubeconfig',
      cp.kubeconfig,
      '--history',
      spec(),
      ...extra,
    ]);
  const sync = () => syncOrPlan('sync', '-o', 'json');
  const lastRun = async () => {
    const run = await driftless(['history', '--app', app, '--limit', '1', '--history', spec(), '-o', 'json']);
    return JSON.parse(run.stdout);
  };
  const mode = async () => (await kubectlGet(cp.kubeconfig, 'configmap', 'settings', ns))?.data.mode;

  async function commit(value: string): Promise<string> {
    await writeFile(
      join(repo, 'app.yaml'),
      `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n---\n` +
        `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: ${ns}\ndata:\n  mode: ${value}\n`,
    );
    const git = (...args: string[]) => exec('git', ['-C', repo, ...args]);
    await git('add', '-A');
    await git('-c', 'user.name=t', '-c', 'user.email=t@driftless.dev', 'commit', '--quiet', '-m', value);
    const sha = (await git('rev-parse', 'HEAD')).stdout.trim();
    revisions.push(sha);
    return sha;
  }

  beforeAll(async () => {
    repo = join(workDir, `repo-${kind}`);
    await exec('git', ['init', '--quiet', '--initial-branch=main', repo]);
    await commit('one');
  });

  it('status shows each app with its cluster, outcome, health, revision and ages', async () => {
    expect((await sync()).code).toBe(0);
    const text = await driftless(['status', '--history', spec()]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^APP\s+CLUSTER\s+OUTCOME\s+HEALTH\s+REVISION\s+LAST RUN\s+LAST SYNCED\s+CONTROLS/,
    );
    const row = text.stdout.split('\n').find((line) => line.startsWith(app));
    expect(row).toMatch(
      new RegExp(`^${app}\\s+admin\\s+Synced\\s+Healthy\\s+${revisions[0]!.slice(0, 7)}\\s+\\d+s\\s+\\d+s`),
    );

    const json = await driftless(['status', '--app', app, '--history', spec(), '-o', 'json']);
    const lines = json.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      app,
      cluster: 'admin',
      outcome: 'Synced',
      health: 'Healthy',
      revision: revisions[0],
      lastSyncedAt: expect.any(String),
    });
  });

  it('suspend skips the next sync (recorded Skipped with the reason, nothing fetched or written) until resume', async () => {
    const suspend = await driftless([
      'suspend',
      '--app',
      app,
      '--reason',
      'incident 42',
      '--history',
      spec(),
    ]);
    expect(suspend.code).toBe(0);
    expect(suspend.stdout).toMatch(/suspended/);
    const status = JSON.parse(
      (await driftless(['status', '--app', app, '--history', spec(), '-o', 'json'])).stdout,
    );
    expect(status.suspended).toMatchObject({ reason: 'incident 42', at: expect.any(String) });
    expect((await driftless(['status', '--history', spec()])).stdout).toMatch(
      new RegExp(`^${app}\\s.*suspended`, 'm'),
    );

    await commit('two');
    const skipped = await sync();
    expect(skipped.code).toBe(2);
    expect(JSON.parse(skipped.stdout)).toMatchObject({
      outcome: 'Failed',
      revision: '',
      error: expect.stringMatching(/suspended.*incident 42/),
    });
    expect(skipped.stderr).not.toMatch(/fetching source/);
    expect(await mode()).toBe('one');
    expect(await lastRun()).toMatchObject({
      status: 'Skipped',
      error: expect.stringMatching(/is suspended/),
    });
    const text = await syncOrPlan('sync');
    expect(text.code).toBe(2);
    expect(text.stdout).toMatch(new RegExp(`^Skipped: sync of ${app} `, 'm'));

    const resume = await driftless(['resume', '--app', app, '--history', spec()]);
    expect(resume.code).toBe(0);
    const synced = await sync();
    expect(synced.code).toBe(0);
    expect(JSON.parse(synced.stdout).revision).toBe(revisions[1]);
    expect(await mode()).toBe('two');
    const after = JSON.parse(
      (await driftless(['status', '--app', app, '--history', spec(), '-o', 'json'])).stdout,
    );
    expect(after.suspended).toBeUndefined();
  });

  it('pin syncs that commit instead of the branch head until unpin, and history and status show it', async () => {
    await commit('three');
    const short = revisions[0]!.slice(0, 7);
    const pin = await driftless([
      'pin',
      '--app',
      app,
      '--revision',
      short,
      '--repo',
      repo,
      '--history',
      spec(),
    ]);
    expect(pin.code, pin.stderr).toBe(0);
    expect(pin.stdout).toContain(revisions[0]);
    expect((await driftless(['status', '--history', spec()])).stdout).toMatch(
      new RegExp(`^${app}\\s.*pinned ${short}`, 'm'),
    );

    const pinned = await sync();
    expect(pinned.code).toBe(0);
    expect(JSON.parse(pinned.stdout)).toMatchObject({ revision: revisions[0], pinned: revisions[0] });
    expect(await mode()).toBe('one');
    // The next run does not undo the rollback.
    expect(JSON.parse((await sync()).stdout).revision).toBe(revisions[0]);
    expect(await lastRun()).toMatchObject({ pinned: revisions[0] });
    const history = await driftless(['history', '--app', app, '--limit', '1', '--history', spec()]);
    expect(history.stdout).toContain(`${short} (pinned)`);

    const unpin = await driftless(['unpin', '--app', app, '--history', spec()]);
    expect(unpin.code).toBe(0);
    const head = await sync();
    expect(JSON.parse(head.stdout).revision).toBe(revisions[2]);
    expect(await mode()).toBe('three');
  });

  it('refuses to pin a revision that is not in the repository, and stores nothing', async () => {
    const missing = 'deadbeef'.repeat(5);
    const pin = await driftless([
      'pin',
      '--app',
      app,
      '--revision',
      missing,
      '--repo',
      repo,
      '--history',
      spec(),
    ]);
    expect(pin.code).toBe(2);
    expect(pin.stderr).toMatch(/refusing to pin/);
    expect(pin.stderr).toContain(missing);
    const status = JSON.parse(
      (await driftless(['status', '--app', app, '--history', spec(), '-o', 'json'])).stdout,
    );
    expect(status.pinned).toBeUndefined();
    expect(JSON.parse((await sync()).stdout).revision).toBe(revisions[2]);
  });

  it('plans still run while an app is suspended (they write nothing)', async () => {
    await driftless(['suspend', '--app', app, '--history', spec()]);
    const plan = await syncOrPlan('plan', '-o', 'json');
    expect(plan.code).toBe(0);
    expect(JSON.parse(plan.stdout)).toMatchObject({ outcome: 'Synced', dryRun: true });
    await driftless(['resume', '--app', app, '--history', spec()]);
  });
});

describe('status and history read a history that does not exist without creating it', () => {
  it('prints an empty answer and leaves no file or folder behind', async () => {
    const folder = join(workDir, 'never', 'made');
    for (const command of ['status', 'history']) {
      const run = await runDriftless([command, '--history', `sqlite:${join(folder, 'history.db')}`]);
      expect(run.code, command).toBe(0);
      expect(run.stdout).toMatch(/^no (apps|runs) recorded/);
    }
    expect(existsSync(join(workDir, 'never'))).toBe(false);
  });
});
