/**
 * A whole sync through the EKS path: DescribeCluster (mocked, the only AWS part), a signed token
 * checked by the aws-iam-authenticator stand-in, and the real engine against kube-apiserver.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { clearEksClusterCache } from '../../lambda/cluster/eks.ts';
import { type ClusterTarget, connectCluster } from '../../lambda/cluster/target.ts';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import type { HistoryStore } from '../../lambda/history/store.ts';
import { reconcile } from '../../lambda/reconcile/reconcile.ts';
import type { DesiredObject } from '../../lambda/reconcile/types.ts';
import { loadSource } from '../../lambda/source/source.ts';
import { runSync, type SyncInput } from '../../lambda/sync.ts';
import {
  CALLER,
  CALLER_ENTRY,
  type EksControlPlane,
  startEksControlPlane,
} from '../support/eks-control-plane.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectlGet } from '../support/kubectl.ts';

const eksMock = mockClient(EKSClient);
const credentials = async () => CALLER;

let eks: EksControlPlane;
let git: GitServer;
let store: HistoryStore;
let workDir: string;

beforeAll(async () => {
  eks = await startEksControlPlane({ clusterName: 'sync-cluster', region: 'us-east-2' });
  git = await startGitServer();
  workDir = await mkdtemp(join(tmpdir(), 'driftless-eks-sync-'));
  store = await openHistoryStore(`sqlite:${join(workDir, 'history.db')}`);
});

afterAll(async () => {
  await store?.close();
  await git?.stop();
  await eks?.stop();
  await rm(workDir, { recursive: true, force: true });
});

beforeEach(() => {
  clearEksClusterCache();
  eksMock.reset();
  eksMock.on(DescribeClusterCommand).resolves(eks.describeCluster());
  eks.verifier.options.now = undefined;
  eks.verifier.options.accessEntries = [CALLER_ENTRY];
});

const eksTarget = (name = eks.clusterName): ClusterTarget => ({ type: 'eks', name, region: eks.region });

function desired(namespace: string): DesiredObject[] {
  return [
    {
      object: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'greeting', namespace },
        data: { text: 'hi' },
      },
      origin: { file: 'configmap.yaml', document: 0 },
    },
    {
      object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
      origin: { file: 'namespace.yaml', document: 0 },
    },
  ];
}

function syncInput(app: string, repo: string, target: ClusterTarget): SyncInput {
  return { app, source: { repo }, target, prune: true, trigger: 'test' };
}

const syncDeps = (connect = (target: ClusterTarget) => connectCluster(target, { credentials })) => ({
  store,
  loadSource: (settings: { repo: string }) => loadSource(settings, { cacheDir: join(workDir, 'git') }),
  connect,
});

describe('reconcile through an EKS token', () => {
  it('syncs an app into the cluster as the mapped IAM identity', async () => {
    const kube = await connectCluster(eksTarget(), { credentials });
    const result = await reconcile({
      kube,
      desired: desired('eks-app'),
      options: { app: 'eks-app', revision: 'a'.repeat(40), defaultNamespace: 'default', prune: true },
      state: { inventory: [] },
    });

    expect(result.error).toBeUndefined();
    expect(result.outcome).toBe('Synced');
    expect(result.resources.map((r) => `${r.kind}/${r.name}:${r.action}`).sort()).toEqual([
      'ConfigMap/greeting:created',
      'Namespace/eks-app:created',
    ]);
    const cm = await kubectlGet(eks.cp.kubeconfig, 'configmap', 'greeting', 'eks-app');
    expect(cm?.data).toEqual({ text: 'hi' });
    expect(cm?.metadata.labels['driftless.dev/app']).toBe('eks-app');
    expect(eks.verifier.reviews.at(-1)).toMatchObject({ authenticated: true, username: 'driftless-agent' });
  });

  it('fails the run, naming authentication, when access is revoked mid-run and the renewed token is refused', async () => {
    let clock = Date.now() - 120_000;
    eks.verifier.options.now = () => clock;
    const kube = await connectCluster(eksTarget(), { credentials, now: () => clock });
    // The access entry goes away; the next token (renewed after 10 minutes) is rejected.
    eks.verifier.options.accessEntries = [];
    clock += 11 * 60_000;
    const result = await reconcile({
      kube,
      desired: desired('eks-revoked'),
      options: { app: 'eks-revoked', revision: 'b'.repeat(40), defaultNamespace: 'default', prune: true },
      state: { inventory: [] },
    });

    expect(result.outcome).toBe('Failed');
    expect(result.error).toMatch(/401 Unauthorized, authentication failed/);
    expect(result.error).toContain('"sync-cluster"');
    expect(eks.verifier.reviews.at(-1)?.reason).toMatch(/ARN is not mapped/);
    expect(await kubectlGet(eks.cp.kubeconfig, 'namespace', 'eks-revoked')).toBeUndefined();
  });
});

describe('runSync with an EKS target', () => {
  it('records Synced for a Git revision applied through the EKS path', async () => {
    const repo = await git.createRepo('eks-sync-app');
    const revision = await repo.commit({
      'configmap.yaml':
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\n  namespace: eks-sync-app\ndata:\n  text: from-git\n',
      'namespace.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: eks-sync-app\n',
    });
    const run = await runSync(syncInput('eks-sync-app', repo.url, eksTarget()), syncDeps());

    expect(run.record).toMatchObject({ app: 'eks-sync-app', revision, outcome: 'Synced' });
    expect(run.record.counts).toEqual({ created: 2 });
    expect((await kubectlGet(eks.cp.kubeconfig, 'configmap', 'greeting', 'eks-sync-app'))?.data.text).toBe(
      'from-git',
    );
  });

  it('records Failed with an error naming authentication when the cluster rejects the token', async () => {
    const repo = await git.createRepo('eks-sync-rejected');
    await repo.commit({
      'namespace.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: eks-sync-rejected\n',
    });
    // DescribeCluster answers for any name; the token is signed for the wrong one.
    const run = await runSync(
      syncInput('eks-sync-rejected', repo.url, eksTarget('not-this-cluster')),
      syncDeps(),
    );

    expect(run.record.outcome).toBe('Failed');
    expect(run.record.error).toMatch(/401 Unauthorized, authentication failed/);
    expect(run.result).toMatchObject({ outcome: 'Failed' });
    const [stored] = await store.listRuns({ app: 'eks-sync-rejected' });
    expect(stored?.error).toMatch(/authentication failed/);
    expect(stored?.error).not.toContain('k8s-aws-v1.');
    expect(await kubectlGet(eks.cp.kubeconfig, 'namespace', 'eks-sync-rejected')).toBeUndefined();
  });
});
