/**
 * Where a CLI run leaves files: the history in the user's state folder, clones and renders in the
 * cache folder, nothing in the working folder (which may be a repository's work tree), so
 * `status` and `history` answer the same from any folder. An old `.driftless/history.db` of the
 * working folder is still read, with a note.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { localRepo } from '../reliability/cli-repo.ts';
import { runDriftless } from '../support/driftless-cli.ts';

const _exec = promisify(execFile);
const cp = inject('controlPlane');

let workDir: string;
let repo: string;
let env: NodeJS.ProcessEnv;

/** The CLI run from `cwd`, with the state and cache folders of this file. */
const driftless = (cwd: string, ...args: string[]) => runDriftless(args, env, 'node', cwd);
const folder = async (name: string) => {
  const dir = join(workDir, name);
  await mkdir(dir, { recursive: true });
  return dir;
};

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-locations-'));
  env = {
    XDG_STATE_HOME: join(workDir, 'state'),
    XDG_CACHE_HOME: join(workDir, 'cache'),
    DRIFTLESS_CACHE_DIR: undefined,
  };
  repo = join(workDir, 'repo');
  await (await localRepo(repo)).commit({
    'cm.yaml':
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: locations\n  namespace: default\ndata: {a: "1"}\n',
  });
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe('the files of a CLI run', () => {
  it('leaves no .driftless/ in the working folder: history in XDG_STATE_HOME, clones in XDG_CACHE_HOME', async () => {
    const cwd = await folder('run-here');
    const sync = await driftless(cwd, 'sync', '--app', 'loc', '--repo', repo, '--kubeconfig', cp.kubeconfig);
    expect(sync.code, sync.stderr).toBe(0);
    expect(readdirSync(cwd)).toEqual([]);
    expect(existsSync(join(workDir, 'state', 'driftless', 'history.db'))).toBe(true);
    expect(readdirSync(join(workDir, 'cache', 'driftless', 'git')).length).toBeGreaterThan(0);

    // Another folder reads the same history.
    const elsewhere = await folder('somewhere-else');
    const history = await driftless(elsewhere, 'history', '--app', 'loc', '-o', 'json');
    expect(history.code).toBe(0);
    expect(JSON.parse(history.stdout)).toMatchObject({ app: 'loc', outcome: 'Synced' });
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('--history overrides the state folder', async () => {
    const cwd = await folder('override');
    const file = join(workDir, 'chosen.db');
    const plan = await driftless(
      cwd,
      'plan',
      ...['--app', 'loc', '--repo', repo, '--kubeconfig', cp.kubeconfig, '--history', `sqlite:${file}`],
    );
    expect(plan.code, plan.stderr).toBe(0);
    expect(existsSync(file)).toBe(true);
    const history = await driftless(cwd, 'history', '--history', `sqlite:${file}`, '-o', 'json');
    expect(history.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('still reads an existing .driftless/history.db of the working folder, saying so in one line', async () => {
    const cwd = await folder('legacy');
    const recorded = await driftless(
      cwd,
      'plan',
      ...[
        '--app',
        'loc',
        '--repo',
        repo,
        '--kubeconfig',
        cp.kubeconfig,
        '--history',
        'sqlite:.driftless/history.db',
      ],
    );
    expect(recorded.code, recorded.stderr).toBe(0);
    const history = await driftless(cwd, 'history', '-o', 'json');
    expect(history.code).toBe(0);
    expect(JSON.parse(history.stdout)).toMatchObject({ app: 'loc', dryRun: true });
    const notes = history.stderr.split('\n').filter((line) => line.includes('.driftless'));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/reading the history in .*legacy\/\.driftless\/history\.db.*--history/);
  });
});
