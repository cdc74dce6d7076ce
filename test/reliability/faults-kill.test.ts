/**
 * Fault: the process dies at a random point of a sync (Lambda timeout, OOM, a CLI killed). The CLI
 * runs as a child process and reaches the API server through a TCP relay; the child is SIGKILLed
 * from inside the relay the moment its traffic crosses a random fraction of what a whole sync of
 * 200 objects sends, so every kill lands mid-reconcile, never after the run finished.
 *
 *   run killed mid-sync -> history shows it Running; a run while its lease lives is Skipped;
 *                          once the lease expires the next run is Synced, marks it Interrupted,
 *                          every object at the new revision exactly once
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import type { HistoryStore } from '../../lambda/history/store.ts';
import { loadSource } from '../../lambda/source/source.ts';
import { runSync, type SyncInput } from '../../lambda/sync.ts';
import { appKey } from '../support/app-key.ts';
import { type GitRepo, type GitServer, startGitServer } from '../support/git-server.ts';
import { appManifests, expectedConfigMaps, inventoryKeys, observedConfigMaps, range } from './fault-app.ts';
import { startTcpRelay, type TcpRelay } from './tcp-relay.ts';

const cp = inject('controlPlane');
const projectRoot = resolve(import.meta.dirname, '..', '..');
const APP = 'faults-kill';
const OBJECTS = 200;
/** runSync's default lease TTL: a killed run blocks the app this long. */
const LEASE_TTL_MS = 60_000;
const ROUNDS = 3;

let git: GitServer;
let relay: TcpRelay;
let repo: GitRepo;
let store: HistoryStore;
let workDir: string;
let relayedKubeconfig: string;
let historySpec: string;

beforeAll(async () => {
  git = await startGitServer();
  relay = await startTcpRelay({ port: Number(new URL(cp.server).port) });
  workDir = await mkdtemp(join(tmpdir(), 'driftless-faults-kill-'));
  relayedKubeconfig = join(workDir, 'relayed.kubeconfig');
  await writeFile(
    relayedKubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'relayed',
          cluster: { server: `https://127.0.0.1:${relay.port}`, 'certificate-authority': cp.caFile },
        },
      ],
      users: [{ name: 'admin', user: { token: cp.adminToken } }],
      contexts: [{ name: 'relayed', context: { cluster: 'relayed', user: 'admin' } }],
      'current-context': 'relayed',
    }),
  );
  historySpec = `sqlite:${join(workDir, 'history.db')}`;
  store = await openHistoryStore(historySpec);
  repo = await git.createRepo(APP);
});

afterAll(async () => {
  await store?.close();
  await relay?.stop();
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

/** `driftless sync` as a child process, Node 24 first on PATH as `npm run driftless` has it. */
function spawnSync(): ChildProcess {
  return spawn(
    process.execPath,
    [
      'lambda/cli.ts',
      'sync',
      ...['--repo', repo.url, '--app', APP, '--namespace', APP, '--prune'],
      ...['--kubeconfig', relayedKubeconfig, '--history', historySpec, '--output', 'json'],
    ],
    {
      cwd: projectRoot,
      stdio: 'ignore',
      env: {
        ...process.env,
        PATH: `${join(projectRoot, 'node_modules', '.bin')}${delimiter}${process.env.PATH}`,
        DRIFTLESS_CACHE_DIR: join(workDir, 'cli-cache'),
      },
    },
  );
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
}

/** A run in this process, sharing the CLI's history and Git cache, at `now`. */
function syncNow(now: () => number) {
  const input: SyncInput = {
    app: APP,
    source: { repo: repo.url },
    target: { type: 'kubeconfig', kubeconfig: cp.kubeconfig },
    namespace: APP,
    prune: true,
    trigger: 'test',
  };
  return runSync(input, {
    store,
    loadSource: (settings) => loadSource(settings, { cacheDir: join(workDir, 'cli-cache', 'git') }),
    connect: (target) => connectCluster(target),
    now,
  });
}

describe(`a CLI sync of ${OBJECTS} objects killed at random points`, () => {
  it('leaves a Running record that the next run marks Interrupted; that run converges every time', async () => {
    await repo.commit(appManifests(APP, range(0, OBJECTS), 'v0'));
    // A whole sync, to know how much a sync sends.
    const start = relay.bytesFromClients;
    const first = spawnSync();
    expect(await exited(first)).toEqual({ code: 0, signal: null });
    const wholeSync = relay.bytesFromClients - start;
    expect(await observedConfigMaps(cp.kubeconfig, APP)).toEqual(expectedConfigMaps(range(0, OBJECTS), 'v0'));

    for (let round = 1; round <= ROUNDS; round += 1) {
      const value = `v${round}`;
      const revision = await repo.commit(appManifests(APP, range(0, OBJECTS), value));
      // Every object changes, so a whole sync sends at least as much as the first (creating) one.
      const fraction = 0.05 + Math.random() * 0.55;
      const killAt = relay.bytesFromClients + Math.floor(fraction * wholeSync);
      const child = spawnSync();
      relay.onClientBytes = (total) => {
        if (total >= killAt) child.kill('SIGKILL');
      };
      const exit = await exited(child);
      relay.onClientBytes = undefined;
      const at = `round ${round}, killed after ${Math.round(fraction * 100)}% of a sync's traffic`;
      expect(exit, at).toEqual({ code: null, signal: 'SIGKILL' });

      const running = (await store.listRuns({ app: APP, limit: 100 })).filter((r) => r.outcome === 'Running');
      expect(running, at).toHaveLength(1);
      const killedRunId = running[0]?.runId as string;
      // The dead run still holds the lease: the app is not run twice at once.
      const blocked = await syncNow(Date.now);
      expect(blocked.record.outcome, at).toBe('Skipped');

      // Once the lease has expired.
      const next = await syncNow(() => Date.now() + LEASE_TTL_MS);
      expect(next.record, at).toMatchObject({ revision, outcome: 'Synced' });
      expect(
        next.interrupted.map((r) => r.runId),
        at,
      ).toEqual([killedRunId]);
      const { counts } = next.record;
      expect(counts.failed, at).toBeUndefined();
      expect((counts.configured ?? 0) + (counts.unchanged ?? 0), at).toBe(OBJECTS + 1);

      expect(await observedConfigMaps(cp.kubeconfig, APP), at).toEqual(
        expectedConfigMaps(range(0, OBJECTS), value),
      );
      const state = (await store.getState(await appKey(cp.kubeconfig, APP)))?.state;
      expect(state?.revision, at).toBe(revision);
      const keys = inventoryKeys(state?.inventory ?? []);
      expect(keys, at).toHaveLength(OBJECTS + 1);
      expect(new Set(keys).size, at).toBe(OBJECTS + 1);
      const outcomes = new Map(
        (await store.listRuns({ app: APP, limit: 100 })).map((r) => [r.runId, r.outcome]),
      );
      expect(
        [killedRunId, blocked.record.runId, next.record.runId].map((id) => outcomes.get(id)),
        at,
      ).toEqual(['Interrupted', 'Skipped', 'Synced']);
      expect(
        [...outcomes.values()].filter((o) => o === 'Running'),
        at,
      ).toEqual([]);
    }
  });
});
