/**
 * `pin --app NAME --revision SHA` with neither `--repo` nor `--config`: the commit is checked
 * against the source the history stored at the app's last run.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { localRepo } from '../reliability/cli-repo.ts';
import { type CliRun, runDriftless } from '../support/driftless-cli.ts';

const _exec = promisify(execFile);
const cp = inject('controlPlane');
const APP = 'pin-stored';

let workDir: string;
let repo: string;
const revisions: string[] = [];

function driftless(...args: string[]): Promise<CliRun> {
  return runDriftless(
    args,
    {
      XDG_STATE_HOME: join(workDir, 'state'),
      XDG_CACHE_HOME: join(workDir, 'cache'),
      DRIFTLESS_CACHE_DIR: undefined,
    },
    'node',
    workDir,
  );
}

async function commit(value: string): Promise<string> {
  return (await localRepo(repo)).commit({
    'cm.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${APP}\n  namespace: default\ndata: {value: "${value}"}\n`,
  });
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-pin-stored-'));
  repo = join(workDir, 'repo');
  revisions.push(await commit('one'), await commit('two'));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe('pin without --repo or --config', () => {
  it('says what to pass when the app has no run in the history', async () => {
    const run = await driftless('pin', '--app', 'never-synced', '--revision', revisions[0]!);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /app never-synced has no stored source in the history .*: pass --repo URL\|PATH/,
    );
  });

  it("checks the commit against the app's stored source, and the next sync uses it", async () => {
    const sync = await driftless('sync', '--app', APP, '--repo', repo, '--kubeconfig', cp.kubeconfig);
    expect(sync.code, sync.stderr).toBe(0);

    const pin = await driftless('pin', '--app', APP, '--revision', revisions[0]!);
    expect(pin.code, pin.stderr).toBe(0);
    expect(pin.stdout).toContain(revisions[0]);

    const pinned = await driftless(
      'sync',
      '--app',
      APP,
      '--repo',
      repo,
      '--kubeconfig',
      cp.kubeconfig,
      '-o',
      'json',
    );
    expect(pinned.code, pinned.stderr).toBe(0);
    expect(JSON.parse(pinned.stdout)).toMatchObject({ revision: revisions[0], pinned: revisions[0] });
  });

  it('refuses a commit that is not in the stored source', async () => {
    const missing = 'deadbeef'.repeat(5);
    const pin = await driftless('pin', '--app', APP, '--revision', missing);
    expect(pin.code).toBe(2);
    expect(pin.stderr).toMatch(new RegExp(`refusing to pin app ${APP} to ${missing}`));
  });
});
