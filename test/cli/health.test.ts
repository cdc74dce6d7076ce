/**
 * Health in the CLI against the whole test cluster: each object's health and the app's in the
 * text output of sync and plan, and `sync --wait` (kstatus rules) while kube-controller-manager,
 * kube-scheduler and kwok's nodes roll the workloads out by themselves. Nothing sets a status by
 * hand. The app runs as a team's identity (the built-in `edit` role in its namespace).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type CliRun, runDriftless } from '../support/driftless-cli.ts';
import { grantNamespace } from '../support/identities.ts';
import { kubectl } from '../support/kubectl.ts';

const exec = promisify(execFile);
const cp = inject('controlPlane');
const NS = 'health-cli';
const APP = 'health-cli';

let workDir: string;
let repo: string;
let history: string;

function deployment(name: string, image: string, extra = ''): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${NS}
spec:
  replicas: 2
${extra}  selector:
    matchLabels: { app: ${name} }
  template:
    metadata:
      labels: { app: ${name} }
    spec:
      containers:
        - name: ${name}
          image: ${image}
`;
}

const jobYaml = `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: ${NS}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: registry.example/migrate:1
`;

function args(...extra: string[]): string[] {
  return [
    '--repo',
    repo,
    '--app',
    APP,
    '--kubeconfig',
    cp.identities.edit.kubeconfig,
    '--history',
    `sqlite:${history}`,
    ...extra,
  ];
}

function driftless(argv: string[]): Promise<CliRun> {
  return runDriftless(argv, { DRIFTLESS_CACHE_DIR: join(workDir, 'cache') });
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-health-test-'));
  repo = join(workDir, 'repo');
  history = join(workDir, 'history.db');
  await exec('git', ['init', '--quiet', '--initial-branch=main', repo]);
  // The platform team makes the namespace and grants the team's identity `edit` there.
  await kubectl(cp.kubeconfig, 'create', 'namespace', NS);
  await grantNamespace(cp.kubeconfig, 'edit', NS);
  await commit({ 'web.yaml': deployment('web', 'registry.example/web:1') }, 'web');
});

/** Replaces the repository's files with `files` and commits them. */
async function commit(files: Record<string, string>, message: string): Promise<void> {
  const git = (...argv: string[]) => exec('git', ['-C', repo, ...argv]);
  await git('rm', '-rq', '--ignore-unmatch', '.');
  for (const [name, text] of Object.entries(files)) await writeFile(join(repo, name), text);
  await git('add', '-A');
  await git('-c', 'user.name=t', '-c', 'user.email=t@driftless.dev', 'commit', '--quiet', '-m', message);
}

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe.skipIf(cp.controllersMissing)(
  `health in the CLI with controllers running (${cp.controllersMissing ?? 'they run'})`,
  () => {
    it('sync shows each object health and the app health in the summary line; a new Deployment is Progressing', async () => {
      const plan = await driftless(['plan', ...args()]);
      expect(plan.stdout).toMatch(/^ACTION\s+KIND\s+NAMESPACE\s+NAME\s+HEALTH/m);
      const sync = await driftless(['sync', ...args()]);
      expect(sync.code).toBe(0);
      // What the apply answered: the controller has not seen the Deployment yet.
      expect(sync.stdout).toMatch(/^created\s+Deployment\s+health-cli\s+web\s+Progressing/m);
      expect(sync.stdout).toMatch(/^Synced: sync of health-cli at [0-9a-f]{7}: .*; health Progressing$/m);
    });

    it('sync --wait: the Deployment goes Progressing -> Healthy by itself (ReplicaSet, scheduled Pods, Ready on kwok nodes), exit 0, history carries it', async () => {
      const sync = await driftless(['sync', ...args('--wait', '2m', '-o', 'json')]);
      expect(sync.code, sync.stderr).toBe(0);
      expect(JSON.parse(sync.stdout)).toMatchObject({ outcome: 'Synced', health: 'Healthy' });
      const live = JSON.parse(
        await kubectl(cp.kubeconfig, 'get', 'deployment', 'web', '-n', NS, '-o', 'json'),
      );
      expect(live.status).toMatchObject({ readyReplicas: 2, availableReplicas: 2 });
      const pods = await kubectl(
        cp.kubeconfig,
        'get',
        'pods',
        '-n',
        NS,
        '-l',
        'app=web',
        '-o',
        'jsonpath={.items[*].spec.nodeName}',
      );
      expect(pods).toMatch(/^kwok-node-\d kwok-node-\d$/);
      const last = await driftless([
        'history',
        '--app',
        APP,
        '--limit',
        '1',
        '--history',
        `sqlite:${history}`,
        '-o',
        'json',
      ]);
      expect(JSON.parse(last.stdout)).toMatchObject({ health: 'Healthy' });
    });

    it('a Deployment whose image never pulls is Progressing at a short --wait (exit 1), then Degraded once its progress deadline passes', async () => {
      await commit(
        {
          'web.yaml': deployment('web', 'registry.example/web:1'),
          'broken.yaml': deployment(
            'broken',
            'registry.invalid/never-pulls:1',
            '  progressDeadlineSeconds: 5\n',
          ),
        },
        'broken image',
      );
      const short = await driftless(['sync', ...args('--wait', '1s', '-o', 'json')]);
      expect(short.code).toBe(1);
      expect(JSON.parse(short.stdout)).toMatchObject({ outcome: 'Synced', health: 'Progressing' });
      const long = await driftless(['sync', ...args('--wait', '90s', '-o', 'json')]);
      expect(long.code).toBe(1);
      const result = JSON.parse(long.stdout);
      expect(result).toMatchObject({ outcome: 'Synced', health: 'Degraded' });
      const waiting = await kubectl(
        cp.kubeconfig,
        'get',
        'pods',
        '-n',
        NS,
        '-l',
        'app=broken',
        '-o',
        'jsonpath={.items[*].status.containerStatuses[*].state.waiting.reason}',
      );
      expect(waiting).toMatch(/ImagePullBackOff/);
    });

    it('a Job runs to completion: sync --wait reports it Healthy', async () => {
      await commit({ 'web.yaml': deployment('web', 'registry.example/web:1'), 'job.yaml': jobYaml }, 'job');
      const sync = await driftless(['sync', ...args('--prune', '--wait', '2m', '-o', 'json')]);
      expect(sync.code, sync.stderr).toBe(0);
      expect(JSON.parse(sync.stdout)).toMatchObject({ outcome: 'Synced', health: 'Healthy' });
      const job = JSON.parse(await kubectl(cp.kubeconfig, 'get', 'job', 'migrate', '-n', NS, '-o', 'json'));
      expect(job.status.conditions.map((c: { type: string }) => c.type)).toContain('Complete');
    });

    it('a Job with ttlSecondsAfterFinished: 0 that ran and was removed by its TTL controller is not drift; a new manifest runs it again', async () => {
      const once = (image: string) =>
        jobYaml
          .replace('name: migrate', 'name: once')
          .replace('registry.example/migrate:1', image)
          .replace('backoffLimit: 0', 'backoffLimit: 0\n  ttlSecondsAfterFinished: 0');
      const web = deployment('web', 'registry.example/web:1');
      await commit({ 'web.yaml': web, 'once.yaml': once('registry.example/once:1') }, 'ttl job');
      const first = await driftless(['sync', ...args('--prune', '-o', 'json')]);
      expect(first.code, first.stderr).toBe(0);
      await kubectl(cp.kubeconfig, 'wait', '--for=delete', 'job/once', '-n', NS, '--timeout=60s');
      for (const verb of ['plan', 'sync']) {
        const run = await driftless([verb, ...args('--prune', '-o', 'json')]);
        expect(run.code, run.stdout).toBe(0);
        const job = JSON.parse(run.stdout).resources.find((r: { name: string }) => r.name === 'once');
        expect(job).toMatchObject({ kind: 'Job', action: 'unchanged' });
      }
      expect(await kubectl(cp.kubeconfig, 'get', 'job', 'once', '-n', NS, '--ignore-not-found')).toBe('');
      await commit({ 'web.yaml': web, 'once.yaml': once('registry.example/once:2') }, 'ttl job v2');
      const changed = await driftless(['sync', ...args('--prune', '-o', 'json')]);
      const job = JSON.parse(changed.stdout).resources.find((r: { name: string }) => r.name === 'once');
      expect(job).toMatchObject({ action: 'created' });
    });
  },
);

describe('--wait', () => {
  it('rejects a --wait that is not a duration', async () => {
    const run = await driftless(['sync', ...args('--wait', 'soon')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--wait.*duration/);
  });
});
