/**
 * Health in the CLI: each object's health and the app's in the text output of sync and plan, and
 * `sync --wait` (kstatus rules) against the real API server. No controllers run there, so a
 * Deployment becomes available only when the test sets its status through the status subresource.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type CliRun, projectRoot, runDriftless } from '../support/driftless-cli.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';

const exec = promisify(execFile);
const cp = inject('controlPlane');
const NS = 'health-cli';
const APP = 'health-cli';

let workDir: string;
let repo: string;
let history: string;

const deploymentYaml = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ${NS}
spec:
  replicas: 2
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: web
          image: registry.example/web:1
`;

function args(...extra: string[]): string[] {
  return [
    '--repo',
    repo,
    '--app',
    APP,
    '--kubeconfig',
    cp.kubeconfig,
    '--history',
    `sqlite:${history}`,
    ...extra,
  ];
}

function driftless(argv: string[]): Promise<CliRun> {
  return runDriftless(argv, { DRIFTLESS_CACHE_DIR: join(workDir, 'cache') });
}

/** Marks the Deployment rolled out and available, as its controller would. */
async function setAvailable(): Promise<void> {
  const live = await kubectlGet(cp.kubeconfig, 'deployment', 'web', NS);
  const status = {
    observedGeneration: live?.metadata.generation,
    replicas: 2,
    updatedReplicas: 2,
    readyReplicas: 2,
    availableReplicas: 2,
    conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'ok' }],
  };
  await kubectl(
    cp.kubeconfig,
    'patch',
    'deployment',
    'web',
    '-n',
    NS,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status }),
  );
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-health-test-'));
  repo = join(workDir, 'repo');
  history = join(workDir, 'history.db');
  await exec('git', ['init', '--quiet', '--initial-branch=main', repo]);
  await writeFile(
    join(repo, 'namespace.yaml'),
    `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${NS}\n`,
  );
  await writeFile(join(repo, 'deployment.yaml'), deploymentYaml);
  const git = (...argv: string[]) => exec('git', ['-C', repo, ...argv]);
  await git('add', '-A');
  await git('-c', 'user.name=t', '-c', 'user.email=t@driftless.dev', 'commit', '--quiet', '-m', 'web');
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe('health in the CLI', () => {
  it('plan and sync show each object health and the app health in the summary line', async () => {
    const plan = await driftless(['plan', ...args()]);
    expect(plan.stdout).toMatch(/^ACTION\s+KIND\s+NAMESPACE\s+NAME\s+HEALTH/m);
    const sync = await driftless(['sync', ...args()]);
    expect(sync.code).toBe(0);
    expect(sync.stdout).toMatch(/^created\s+Deployment\s+health-cli\s+web\s+Progressing/m);
    expect(sync.stdout).toMatch(/^created\s+Namespace\s+health-cli\s+Healthy/m);
    expect(sync.stdout).toMatch(/^Synced: sync of health-cli at [0-9a-f]{7}: .*; health Progressing$/m);
  });

  it('sync --wait exits 1 when the app is not Healthy at the end, and the result and history carry the health', async () => {
    const sync = await driftless(['sync', ...args('--wait', '1s', '-o', 'json')]);
    expect(sync.code).toBe(1);
    expect(JSON.parse(sync.stdout)).toMatchObject({ outcome: 'Synced', health: 'Progressing' });
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
    expect(JSON.parse(last.stdout)).toMatchObject({ health: 'Progressing' });
  });

  it('sync --wait waits until the Deployment becomes available, then exits 0 with health Healthy', async () => {
    const child = spawn('node', ['lambda/cli.ts', 'sync', ...args('--wait', '2m', '-o', 'json')], {
      cwd: projectRoot,
      env: {
        ...process.env,
        DRIFTLESS_CACHE_DIR: join(workDir, 'cache'),
        PATH: `${join(projectRoot, 'node_modules', '.bin')}${delimiter}${process.env.PATH}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
    });
    const code = new Promise<number>((resolve) => child.on('close', (exitCode) => resolve(exitCode ?? -1)));
    await setAvailable();
    expect(await code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ outcome: 'Synced', health: 'Healthy' });
  });

  it('rejects a --wait that is not a duration', async () => {
    const run = await driftless(['sync', ...args('--wait', 'soon')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--wait.*duration/);
  });
});
