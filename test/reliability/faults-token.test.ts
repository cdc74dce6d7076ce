/**
 * Fault: the EKS token expires in the middle of a long run. A private API server authenticates
 * like EKS (the token verifier as its TokenReview webhook); one injected clock drives the signer,
 * the verifier and the run, and moves 30 s with every request, so one sync lasts longer than
 * several token lifetimes (15 min).
 *
 *   token expiring mid-run -> run Synced (over 30 min by its clock); a new token every 10 min,
 *                             each accepted, none used past its 15 min; the first token would be
 *                             refused by the end
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearEksClusterCache } from '../../lambda/cluster/eks.ts';
import type { KubeClient } from '../../lambda/cluster/kube-client.ts';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { TOKEN_LIFETIME_MS } from '../../lambda/cluster/token.ts';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import type { HistoryStore } from '../../lambda/history/store.ts';
import { loadSource } from '../../lambda/source/source.ts';
import { runSync } from '../../lambda/sync.ts';
import { CALLER, type EksControlPlane, startEksControlPlane } from '../support/eks-control-plane.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';
import { verifyToken } from '../support/token-verifier.ts';
import { appManifests, expectedConfigMaps, observedConfigMaps, range } from './fault-app.ts';

/** Small enough that 8 requests in flight (the engine's concurrency) plus the 10 min refresh stay under 15 min. */
const STEP_MS = 30_000;
/** Each needs at least one request (its apply), so the run lasts at least OBJECTS * STEP_MS = 35 min. */
const OBJECTS = 70;
const eksMock = mockClient(EKSClient);

let eks: EksControlPlane;
let git: GitServer;
let store: HistoryStore;
let workDir: string;
let clock = Date.now();

beforeAll(async () => {
  [eks, git] = await Promise.all([
    startEksControlPlane({ clusterName: 'faults-token', region: 'eu-west-1', now: () => clock }),
    startGitServer(),
  ]);
  workDir = await mkdtemp(join(tmpdir(), 'driftless-faults-token-'));
  store = await openHistoryStore(`sqlite:${join(workDir, 'history.db')}`);
  clearEksClusterCache();
  eksMock.on(DescribeClusterCommand).resolves(eks.describeCluster());
});

afterAll(async () => {
  eksMock.restore();
  await store?.close();
  await git?.stop();
  await eks?.stop();
  await rm(workDir, { recursive: true, force: true });
});

/** `20240101T000000Z` -> epoch ms. */
function amzDateMs(amzDate: string): number {
  const [, y, mo, d, h, mi, s] = (/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate) ?? []).map(
    Number,
  );
  return Date.UTC(y as number, (mo as number) - 1, d, h, mi, s);
}

/** Moves the clock `STEP_MS` before each request leaves. */
function slowRun(kube: KubeClient): KubeClient {
  return {
    server: kube.server,
    get requestCount() {
      return kube.requestCount;
    },
    request(req) {
      clock += STEP_MS;
      return kube.request(req);
    },
  };
}

describe('an EKS token expiring mid-run', () => {
  it('keeps the run authenticated with fresh tokens until it is Synced', async () => {
    const app = 'faults-token';
    const repo = await git.createRepo(app);
    const revision = await repo.commit(appManifests(app, range(0, OBJECTS), 'v1'));
    const reviewsBefore = eks.verifier.reviews.length;
    const started = clock;

    const run = await runSync(
      {
        app,
        source: { repo: repo.url },
        target: { type: 'eks', name: eks.clusterName, region: eks.region },
        namespace: app,
        prune: true,
        trigger: 'test',
      },
      {
        store,
        loadSource: (settings) => loadSource(settings, { cacheDir: join(workDir, 'git') }),
        connect: async (target) =>
          slowRun(await connectCluster(target, { credentials: async () => CALLER, now: () => clock })),
        now: () => clock,
        // Renewals run on real timers, which this simulated half hour never reaches: a lease that
        // outlives it keeps the run writing (with 60 s the run stops at the lease's deadline).
        leaseTtlMs: 4 * 60 * 60_000,
      },
    );

    expect(run.record).toMatchObject({ app, revision, outcome: 'Synced', counts: { created: OBJECTS + 1 } });
    // The run outlived a token by far.
    expect(clock - started).toBeGreaterThan(2 * TOKEN_LIFETIME_MS);
    expect(run.record.durationMs).toBe(clock - started);

    const reviews = eks.verifier.reviews.slice(reviewsBefore);
    // The API server reviews each new token once (then caches the answer): every one was accepted.
    expect(reviews.filter((r) => !r.authenticated).map((r) => r.reason)).toEqual([]);
    const tokens = [...new Set(reviews.map((r) => r.token))];
    expect(tokens.length).toBeGreaterThanOrEqual(4);
    // Renewed before expiry: each token was replaced, and the last one used, within its 15 min
    // by the run's clock, so no request went out with an expired token.
    const signedAt = reviews.map((r) => amzDateMs(r.amzDate ?? '')).sort((a, b) => a - b);
    expect(signedAt[0]).toBeLessThanOrEqual(started + STEP_MS);
    const lifetimes = [...signedAt.slice(1), clock].map((until, i) => until - (signedAt[i] as number));
    for (const used of lifetimes) expect(used).toBeLessThan(TOKEN_LIFETIME_MS);
    // Without renewal the run would have failed: its first token is refused at the end.
    expect(() => verifyToken(tokens[0] as string, { ...eks.verifier.options, now: () => clock })).toThrow(
      /expired/,
    );

    expect(await observedConfigMaps(eks.cp.kubeconfig, app)).toEqual(
      expectedConfigMaps(range(0, OBJECTS), 'v1'),
    );
    expect((await store.listRuns({ app })).map((r) => [r.runId, r.outcome])).toEqual([
      [run.record.runId, 'Synced'],
    ]);
  });
});
