/**
 * An app is its name, its source and its cluster. Through the CLI, against the real API server:
 *
 * - `sync`/`plan` without `--app`                      -> usage error: exit 2, one Failed JSON object
 * - a second repo (or another `--path`) under one app  -> refused before any write (exit 2), naming
 *   both sources and `--move-source`; the first source's objects stay
 * - `--move-source`                                    -> the app moves: the new source is synced
 * - one app on two clusters through one history store  -> a first sync on each, then `unchanged`
 *   on each; neither touches the other's state
 * - a fresh history store, an object removed from Git  -> reported `orphaned` (not in the stored
 *   inventory), left in place; pruned by the next run from the same source
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ControlPlane, startControlPlane } from '../support/control-plane.ts';
import { runDriftless } from '../support/driftless-cli.ts';
import { kubectlGet } from '../support/kubectl.ts';
import { actions, configMapYaml, driftlessJson, localRepo, namespaceYaml, resourceOf } from './cli-repo.ts';

const cp = inject('controlPlane');
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-identity-'));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

function sync(args: string[], history = 'history.db', kubeconfig = cp.kubeconfig) {
  return driftlessJson(workDir, [
    'sync',
    ...args,
    '--kubeconfig',
    kubeconfig,
    '--history',
    `sqlite:${join(workDir, history)}`,
  ]);
}

describe('app identity', () => {
  it('refuses sync and plan without --app as a usage error: exit 2 and one Failed JSON object', async () => {
    const repo = await localRepo(join(workDir, 'noapp'));
    await repo.commit({ 'ns.yaml': namespaceYaml('id-noapp') });
    for (const verb of ['sync', 'plan']) {
      const run = await runDriftless([
        verb,
        '--repo',
        repo.dir,
        '--kubeconfig',
        cp.kubeconfig,
        '--output',
        'json',
      ]);
      expect(run.code, verb).toBe(2);
      const lines = run.stdout.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({
        app: '',
        outcome: 'Failed',
        error: expect.stringMatching(/--app/),
      });
    }
    expect(await kubectlGet(cp.kubeconfig, 'namespace', 'id-noapp')).toBeUndefined();
  });

  it("refuses a second repository under the same app name before any write, naming both sources and --move-source; the first repository's objects stay", async () => {
    const first = await localRepo(join(workDir, 'team-a', 'deploy'));
    const second = await localRepo(join(workDir, 'team-b', 'deploy'));
    await first.commit({
      'ns.yaml': namespaceYaml('id-team-a'),
      'cm.yaml': configMapYaml('id-team-a', 'a', 'one'),
    });
    await second.commit({
      'ns.yaml': namespaceYaml('id-team-b'),
      'cm.yaml': configMapYaml('id-team-b', 'b', 'two'),
    });

    const a = await sync(['--app', 'deploy', '--repo', first.dir, '--prune']);
    expect(a.result.outcome).toBe('Synced');
    const b = await sync(['--app', 'deploy', '--repo', second.dir, '--prune']);
    expect(b.code).toBe(2);
    expect(b.result.outcome).toBe('Failed');
    expect(b.result.error).toContain(first.dir);
    expect(b.result.error).toContain(second.dir);
    expect(b.result.error).toMatch(/--move-source/);
    expect(b.result.resources).toEqual([]);
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'a', 'id-team-a')).toBeDefined();
    expect(await kubectlGet(cp.kubeconfig, 'namespace', 'id-team-a')).toBeDefined();
    expect(await kubectlGet(cp.kubeconfig, 'namespace', 'id-team-b')).toBeUndefined();
  });

  it('refuses another --path of the same repository under one app, and moves the app with --move-source', async () => {
    const repo = await localRepo(join(workDir, 'paths'));
    await repo.commit({
      'a/ns.yaml': namespaceYaml('id-path-a'),
      'a/cm.yaml': configMapYaml('id-path-a', 'a', 'one'),
      'b/ns.yaml': namespaceYaml('id-path-b'),
      'b/cm.yaml': configMapYaml('id-path-b', 'b', 'two'),
    });
    expect((await sync(['--app', 'id-paths', '--repo', repo.dir, '--path', 'a', '--prune'])).code).toBe(0);
    const refused = await sync(['--app', 'id-paths', '--repo', repo.dir, '--path', 'b', '--prune']);
    expect(refused.code).toBe(2);
    expect(refused.result.error).toMatch(/path a\b.*path b\b/s);
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'a', 'id-path-a')).toBeDefined();

    const moved = await sync([
      '--app',
      'id-paths',
      '--repo',
      repo.dir,
      '--path',
      'b',
      '--prune',
      '--move-source',
    ]);
    expect(moved.code).toBe(0);
    expect(actions(moved.result).sort()).toEqual([
      'created ConfigMap b',
      'created Namespace id-path-b',
      'pruned ConfigMap a',
      'pruned Namespace id-path-a',
    ]);
  });

  it('reports a labelled object a fresh history store does not list as orphaned, and prunes it only on the next run from the same source', async () => {
    const repo = await localRepo(join(workDir, 'fresh'));
    await repo.commit({
      'ns.yaml': namespaceYaml('id-fresh'),
      'keep.yaml': configMapYaml('id-fresh', 'keep', 'one'),
      'gone.yaml': configMapYaml('id-fresh', 'gone', 'two'),
    });
    expect((await sync(['--app', 'id-fresh', '--repo', repo.dir], 'old-history.db')).code).toBe(0);
    await repo.commit({ 'gone.yaml': null });

    const fresh = await sync(['--app', 'id-fresh', '--repo', repo.dir, '--prune'], 'new-history.db');
    expect(fresh.code).toBe(1);
    expect(fresh.result.outcome).toBe('OutOfSync');
    expect(resourceOf(fresh.result, 'ConfigMap', 'gone')).toMatchObject({
      action: 'orphaned',
      message: expect.stringMatching(/not in the stored inventory/),
    });
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'gone', 'id-fresh')).toBeDefined();

    const next = await sync(['--app', 'id-fresh', '--repo', repo.dir, '--prune'], 'new-history.db');
    expect(next.code).toBe(0);
    expect(resourceOf(next.result, 'ConfigMap', 'gone')?.action).toBe('pruned');
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'gone', 'id-fresh')).toBeUndefined();
  });
});

describe('one app on two clusters through one history store', () => {
  let second: ControlPlane;

  beforeAll(async () => {
    second = await startControlPlane();
  });

  afterAll(async () => {
    await second?.stop();
  });

  it('is a first sync on each cluster, then unchanged on each; neither run touches the other state', async () => {
    const repo = await localRepo(join(workDir, 'two-clusters'));
    await repo.commit({
      'ns.yaml': namespaceYaml('id-twice'),
      'cm.yaml': configMapYaml('id-twice', 'settings', 'one'),
    });
    const args = ['--app', 'id-twice', '--repo', repo.dir, '--prune'];

    const firstHere = await sync(args, 'shared.db');
    const firstThere = await sync(args, 'shared.db', second.kubeconfig);
    for (const run of [firstHere, firstThere]) {
      expect(run.code).toBe(0);
      expect(actions(run.result).sort()).toEqual([
        'created ConfigMap settings',
        'created Namespace id-twice',
      ]);
    }
    const againHere = await sync(args, 'shared.db');
    const againThere = await sync(args, 'shared.db', second.kubeconfig);
    for (const run of [againHere, againThere]) {
      expect(run.code).toBe(0);
      expect(actions(run.result).sort()).toEqual([
        'unchanged ConfigMap settings',
        'unchanged Namespace id-twice',
      ]);
    }
    expect(await kubectlGet(second.kubeconfig, 'configmap', 'settings', 'id-twice')).toBeDefined();
  });
});
