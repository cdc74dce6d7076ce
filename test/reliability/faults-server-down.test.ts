/**
 * Fault: kube-apiserver dies (SIGKILL) in the middle of a large sync and stays down. One dead
 * server is one failure, not one per object: the client stops sending once requests keep failing
 * with no answer, and the run ends `Failed` naming the server, in bounded time, lease released.
 * And every run has a deadline: past it no request starts, and the run records itself `Failed`.
 *
 *   kube-apiserver SIGKILLed 2 s into the reconcile of 1,500 ConfigMaps -> CLI exits 2 within
 *     90 s, error names the server once; the next run is not Skipped, it fails on connect at once
 *   run against a slowed server with a deadline -> Failed "stopped at its deadline", recorded,
 *     no request on the wire after it
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { loadConfigFile } from '../../lambda/config.ts';
import { createHandler } from '../../lambda/handler.ts';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import type { HistoryStore, SyncRecord } from '../../lambda/history/store.ts';
import type { SyncResult } from '../../lambda/reconcile/types.ts';
import { loadSource } from '../../lambda/source/source.ts';
import { runSync } from '../../lambda/sync.ts';
import { type ControlPlane, startControlPlane } from '../support/control-plane.ts';
import { projectRoot } from '../support/driftless-cli.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';
import { appManifests, range } from './fault-app.ts';
import { type SlowRelay, startSlowRelay } from './slow-relay.ts';

const APP = 'faults-server-down';
const OBJECTS = 1_500;

let git: GitServer;
let workDir: string;
let historySpec: string;
let store: HistoryStore;

beforeAll(async () => {
  git = await startGitServer();
  workDir = await mkdtemp(join(tmpdir(), 'driftless-faults-server-down-'));
  historySpec = `sqlite:${join(workDir, 'history.db')}`;
  store = await openHistoryStore(historySpec);
});

afterAll(async () => {
  await store?.close();
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

interface CliExit {
  code: number | null;
  stdout: string;
  stderr: string;
  exitedAt: number;
}

/** A run still going after this long is the defect itself (the CLI hung for minutes): it is killed. */
const HUNG_MS = 120_000;

/**
 * `driftless sync … --output json` as a child process; `onStderr` sees stderr as it comes. A child
 * still running after `HUNG_MS` is SIGKILLed, so a hung run fails the test and leaves nothing behind.
 */
function cliSync(args: string[], onStderr: (text: string) => void = () => {}): Promise<CliExit> {
  const child = spawn(process.execPath, ['lambda/cli.ts', 'sync', ...args, '--output', 'json'], {
    cwd: projectRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      PATH: `${join(projectRoot, 'node_modules', '.bin')}${delimiter}${process.env.PATH}`,
      DRIFTLESS_CACHE_DIR: join(workDir, 'cli-cache'),
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
    onStderr(stderr);
  });
  const hung = setTimeout(() => child.kill('SIGKILL'), HUNG_MS);
  return new Promise((done) =>
    child.once('close', (code) => {
      clearTimeout(hung);
      done({ code, stdout, stderr, exitedAt: Date.now() });
    }),
  );
}

/** A Namespace and `count` ConfigMaps, 100 documents a file (a repository holds at most 1,000 files). */
function bundledManifests(namespace: string, count: number): Record<string, string> {
  const { 'namespace.yaml': ns, ...configMaps } = appManifests(namespace, range(0, count), 'v1');
  const files: Record<string, string> = { 'namespace.yaml': ns as string };
  Object.values(configMaps).forEach((doc, i) => {
    const file = `config/part-${Math.floor(i / 100)}.yaml`;
    files[file] = files[file] ? `${files[file]}---\n${doc}` : doc;
  });
  return files;
}

const occurrences = (text: string, part: string) => text.split(part).length - 1;

describe('kube-apiserver SIGKILLed in the middle of a large sync', () => {
  let cp: ControlPlane;
  beforeAll(async () => {
    cp = await startControlPlane();
  });
  afterAll(async () => {
    await cp?.stop();
  });

  it(`ends Failed within 90 s naming the server once, not once per object of ${OBJECTS}; releases the lease`, async () => {
    const repo = await git.createRepo(APP);
    await repo.commit(bundledManifests(APP, OBJECTS));
    const args = ['--repo', repo.url, '--app', APP, '--namespace', APP];
    const target = ['--kubeconfig', cp.kubeconfig, '--history', historySpec];

    let killedAt: number | undefined;
    let killing: Promise<void> | undefined;
    const run = await cliSync([...args, ...target], (stderr) => {
      if (killing || !stderr.includes('driftless: reconciling')) return;
      killing = new Promise((resolve) => setTimeout(resolve, 2_000)).then(async () => {
        killedAt = Date.now();
        await cp.killApiServer();
      });
    });
    await killing;
    expect(killedAt, run.stderr).toBeDefined();
    const afterKill = run.exitedAt - (killedAt as number);
    console.info(`run ended ${afterKill} ms after kube-apiserver was killed`);
    expect(afterKill).toBeLessThan(90_000);

    expect(run.code, run.stderr).toBe(2);
    const result = JSON.parse(run.stdout) as SyncResult;
    expect(result.outcome).toBe('Failed');
    expect(result.error).toContain(cp.server);
    expect(result.error).toMatch(/API server unreachable: \S+ stopped answering/);
    // One failure for the dead server, not one per object: in the result and in the log lines.
    expect(occurrences(run.stdout, 'stopped answering')).toBe(1);
    expect(occurrences(run.stderr, 'stopped answering')).toBeLessThanOrEqual(3);
    // Every object of the set is in the record, once: none reported written or unchanged that the
    // run did not see through; those it never reached are skipped, naming the dead server.
    expect(result.resources.filter((r) => r.action !== 'failed' && r.action !== 'skipped')).toEqual([]);
    const ids = result.resources.map((r) => `${r.kind} ${r.namespace ?? ''}/${r.name}`);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(OBJECTS + 1);
    expect(result.resources.find((r) => r.action === 'skipped')?.message).toMatch(
      /^not reached: the run stopped before it; see the run error$/,
    );
    const actions = new Map<string, number>();
    for (const r of result.resources) actions.set(r.action, (actions.get(r.action) ?? 0) + 1);
    console.info(`result: ${result.resources.length} objects reported`, Object.fromEntries(actions));

    const [recorded] = await store.listRuns({ app: APP, limit: 1 });
    expect(recorded).toMatchObject({ outcome: 'Failed', error: result.error });

    // The lease was released: the next run is not Skipped; it fails at once on connect.
    const next = await cliSync([...args, ...target]);
    const nextResult = JSON.parse(next.stdout) as SyncResult;
    expect(nextResult.outcome).toBe('Failed');
    expect(nextResult.error).not.toMatch(/holds the lease/);
    expect(nextResult.error).toMatch(/^connect to cluster: .*API server unreachable/);
    expect(nextResult.error).toContain(cp.server);
    expect(nextResult.durationMs).toBeLessThan(15_000);
  }, 300_000);
});

describe('a run with a deadline against a slowed API server', () => {
  const cp = inject('controlPlane');
  let relay: SlowRelay;
  let kubeconfig: string;
  let repoUrl: string;
  let lambdaRepoUrl: string;
  const source = (settings: Parameters<typeof loadSource>[0]) =>
    loadSource(settings, { cacheDir: join(workDir, 'git') });

  beforeAll(async () => {
    relay = await startSlowRelay(Number(new URL(cp.server).port), 150);
    kubeconfig = join(workDir, 'slow.kubeconfig');
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'slow',
            cluster: { server: `https://127.0.0.1:${relay.port}`, 'certificate-authority': cp.caFile },
          },
        ],
        users: [{ name: 'admin', user: { token: cp.adminToken } }],
        contexts: [{ name: 'slow', context: { cluster: 'slow', user: 'admin' } }],
        'current-context': 'slow',
      }),
    );
    const repo = await git.createRepo('faults-deadline');
    await repo.commit(appManifests('faults-deadline', range(0, 400), 'v1'));
    repoUrl = repo.url;
    const lambdaRepo = await git.createRepo('faults-deadline-lambda');
    await lambdaRepo.commit(appManifests('faults-deadline-lambda', range(0, 400), 'v1'));
    lambdaRepoUrl = lambdaRepo.url;
    // Fetched once before any clock starts, so each deadline falls in the reconcile.
    await source({ repo: repoUrl });
    await source({ repo: lambdaRepoUrl });
  });
  afterAll(async () => {
    await relay?.stop();
  });

  /**
   * The run ended at its deadline (read from its message: exact to the millisecond), recorded so,
   * and the wire carried requests from `startedAt` up to the deadline and none after it.
   */
  async function expectStoppedAtDeadline(
    record: SyncRecord,
    startedAt: number,
    endedAt: number,
    reason: RegExp,
  ) {
    expect(record.outcome).toBe('Failed');
    const stopped = new RegExp(
      `stopped at its deadline \\((\\S+), ${reason.source}\\): no request to https://127\\.0\\.0\\.1:${relay.port} was started after it`,
    ).exec(record.error ?? '');
    expect(stopped, record.error).not.toBeNull();
    const deadlineAt = Date.parse(stopped?.[1] ?? '');
    expect(occurrences(record.error ?? '', 'stopped at its deadline')).toBe(1);
    expect(endedAt - deadlineAt).toBeLessThan(2_000);
    const [recorded] = await store.listRuns({ app: record.app, limit: 1 });
    expect(recorded).toMatchObject({ runId: record.runId, outcome: 'Failed', error: record.error });
    // A TLS record of a request is well over 100 bytes; a close alert is not.
    const requests = relay.chunks.filter((c) => c.at >= startedAt && c.bytes >= 100);
    expect(requests.filter((c) => c.at < deadlineAt).length).toBeGreaterThan(20);
    expect(requests.filter((c) => c.at > deadlineAt + 200)).toEqual([]);
    return deadlineAt;
  }

  it('runSync ends Failed "stopped at its deadline", recorded, and starts no request after it', async () => {
    const startedAt = Date.now();
    const deadline = { at: startedAt + 5_000, reason: 'set by the test' };
    const run = await runSync(
      {
        app: 'faults-deadline',
        source: { repo: repoUrl },
        target: { type: 'kubeconfig', kubeconfig },
        namespace: 'faults-deadline',
        trigger: 'test',
      },
      { store, loadSource: source, connect: (target) => connectCluster(target), deadline },
    );
    expect(await expectStoppedAtDeadline(run.record, startedAt, Date.now(), /set by the test/)).toBe(
      deadline.at,
    );
  });

  it('the Lambda handler stops its run before the invocation times out (remaining time less a margin)', async () => {
    const configFile = join(workDir, 'apps.yaml');
    await writeFile(
      configFile,
      `apps:\n  - name: faults-deadline-lambda\n    repo: ${lambdaRepoUrl}\n    namespace: faults-deadline-lambda\n    cluster: { name: slow, region: eu-west-1 }\n`,
    );
    const handler = createHandler({
      logger: new Logger({ serviceName: 'driftless-test', logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'DriftlessTest', serviceName: 'driftless-test' }),
      loadConfig: () => loadConfigFile(configFile),
      openStore: async () => store,
      loadSource: source,
      connect: () => connectCluster({ type: 'kubeconfig', kubeconfig }),
    });
    const invokedAt = Date.now();
    // 12 s left: the margin is half of it (at most 30 s), so the run stops 6 s in.
    const context = { getRemainingTimeInMillis: () => 12_000 - (Date.now() - invokedAt) } as Context;
    const summary = await handler({ app: 'faults-deadline-lambda' }, context);
    const endedAt = Date.now();
    expect(summary.outcome).toBe('Failed');
    expect(endedAt - invokedAt).toBeLessThan(12_000);
    const [record] = await store.listRuns({ app: 'faults-deadline-lambda', limit: 1 });
    const deadlineAt = await expectStoppedAtDeadline(
      record as SyncRecord,
      invokedAt,
      endedAt,
      /6 s before the Lambda's timeout/,
    );
    expect(deadlineAt - invokedAt).toBeGreaterThanOrEqual(6_000);
    expect(deadlineAt - invokedAt).toBeLessThan(7_000);
  });
});
