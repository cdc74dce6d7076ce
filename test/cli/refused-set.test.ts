/**
 * A refused set through the CLI, as a user sees it: what it did not write is `skipped` (shown by
 * `--quiet`, never hidden as `unchanged`), in a plan as in a sync, and the failed run's health is
 * `Unknown` in the JSON contract and the text summary.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type CliRun, runDriftless } from '../support/driftless-cli.ts';
import { kubectl } from '../support/kubectl.ts';

const exec = promisify(execFile);
const cp = inject('controlPlane');
const APP = 'refused-cli';

let workDir: string;
let repo: string;

function driftless(verb: string, ...extra: string[]): Promise<CliRun> {
  const args = [verb, '--repo', repo, '--app', APP, '--namespace', APP, '--kubeconfig', cp.kubeconfig];
  return runDriftless([...args, '--history', `sqlite:${join(workDir, 'history.db')}`, ...extra], {
    DRIFTLESS_CACHE_DIR: join(workDir, 'cache'),
  });
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-refused-cli-'));
  repo = join(workDir, 'repo');
  await exec('git', ['init', '--quiet', '--initial-branch=main', repo]);
  await kubectl(cp.kubeconfig, 'create', 'namespace', APP);
  await writeFile(
    join(repo, 'config.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: good}\ndata: {a: "1"}\n',
  );
  await writeFile(
    join(repo, 'service.yaml'),
    'apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec: {ports: [{port: 99999}]}\n',
  );
  const git = (...argv: string[]) => exec('git', ['-C', repo, ...argv]);
  await git('add', '-A');
  await git('-c', 'user.name=t', '-c', 'user.email=t@driftless.dev', 'commit', '--quiet', '-m', 'bad set');
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe('a refused set in the CLI', () => {
  it.each(['plan', 'sync'])('%s --quiet lists what it did not write as skipped', async (verb) => {
    const run = await driftless(verb, '--quiet');
    expect(run.code).toBe(2);
    expect(run.stdout).toMatch(/^skipped\s+ConfigMap\s+refused-cli\s+good/m);
    expect(run.stdout).not.toMatch(/^(created|unchanged)\s/m);
    // A plan of objects that do not exist yet names no health; a failed sync's is Unknown.
    expect(run.stdout).not.toMatch(/health Healthy/);
    if (verb === 'sync') expect(run.stdout).toMatch(/; health Unknown$/m);
  });

  it('sync -o json reports the object skipped and the health Unknown', async () => {
    const run = await driftless('sync', '-o', 'json');
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ outcome: 'Failed', health: 'Unknown' });
    expect(result.resources.find((r: { name: string }) => r.name === 'good')?.action).toBe('skipped');
  });
});
