/**
 * One identity per app, enforced by Kubernetes itself. Two apps run as two token identities
 * (service accounts, as an EKS access entry maps each app's role to a user), each allowed to edit
 * its own namespace only. App A's repository then asks for an object in app B's namespace: the
 * API server refuses it, the run fails naming the object and A's identity, and nothing lands in
 * B's namespace. The same rights sync A's own namespace, so namespaced grants are enough.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { driftlessCli } from '../reliability/hostile-harness.ts';
import { grantClusterIdentity } from '../support/cluster-identity.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectl } from '../support/kubectl.ts';

const cp = inject('controlPlane');
const NS_A = 'iso-team-a';
const NS_B = 'iso-team-b';
const IDENTITY_A = `system:serviceaccount:${NS_A}:deployer`;

let workDir: string;
let git: GitServer;
const kubeconfigs: Record<string, string> = {};

const configMap = (name: string, namespace: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\ndata:\n  owner: app-a\n`;

/** A namespace, a `deployer` service account that may edit its objects, and a kubeconfig with its token. */
async function appIdentity(namespace: string): Promise<string> {
  const admin = (...args: string[]) => kubectl(cp.kubeconfig, ...args);
  await admin('create', 'namespace', namespace);
  await admin('-n', namespace, 'create', 'serviceaccount', 'deployer');
  // What a namespaced edit grant allows (no controller here aggregates the built-in `edit`).
  await admin(
    '-n',
    namespace,
    'create',
    'role',
    'deployer',
    '--verb=get,list,watch,create,update,patch,delete',
    '--resource=configmaps,secrets,services,deployments.apps',
  );
  await admin(
    '-n',
    namespace,
    'create',
    'rolebinding',
    'deployer',
    '--role=deployer',
    `--serviceaccount=${namespace}:deployer`,
  );
  // The one cluster-wide read every identity needs: kube-system's uid keys state and lease (README).
  await grantClusterIdentity(
    cp.kubeconfig,
    `--serviceaccount=${namespace}:deployer`,
    `driftless-cluster-identity-${namespace}`,
  );
  const token = (await admin('-n', namespace, 'create', 'token', 'deployer', '--duration=1h')).trim();
  const path = join(workDir, `${namespace}.kubeconfig`);
  await writeFile(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': namespace,
      contexts: [{ name: namespace, context: { cluster: 'local', user: namespace, namespace } }],
      clusters: [{ name: 'local', cluster: { server: cp.server, 'certificate-authority': cp.caFile } }],
      users: [{ name: namespace, user: { token } }],
    }),
  );
  return path;
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-isolation-'));
  git = await startGitServer();
  kubeconfigs.a = await appIdentity(NS_A);
  kubeconfigs.b = await appIdentity(NS_B);
});

afterAll(async () => {
  await git?.stop();
  await kubectl(cp.kubeconfig, 'delete', 'namespace', NS_A, NS_B, '--wait=false').catch(() => undefined);
  await rm(workDir, { recursive: true, force: true });
});

async function syncAs(kubeconfig: string, app: string, files: Record<string, string>) {
  const repo = await git.createRepo(app);
  await repo.commit(files);
  const run = await driftlessCli(
    [
      'sync',
      '--repo',
      repo.url,
      '--app',
      app,
      '--namespace',
      NS_A,
      '--kubeconfig',
      kubeconfig,
      '--output',
      'json',
      '--history',
      `sqlite:${join(workDir, `${app}.db`)}`,
    ],
    { DRIFTLESS_CACHE_DIR: join(workDir, 'cache') },
  );
  return { ...run, result: JSON.parse(run.stdout) };
}

describe('per-app identity in the cluster', () => {
  it("syncs an app's own namespace with rights on that namespace only", async () => {
    const { result } = await syncAs(kubeconfigs.a as string, 'iso-own', {
      'settings.yaml': configMap('settings', NS_A),
    });
    expect(result.outcome, JSON.stringify(result)).toBe('Synced');
    expect(await kubectl(cp.kubeconfig, '-n', NS_A, 'get', 'configmap', 'settings', '-o', 'name')).toContain(
      'configmap/settings',
    );
  });

  it("cannot write into another app's namespace: the run fails naming the object and the identity", async () => {
    const { code, result } = await syncAs(kubeconfigs.a as string, 'iso-intruder', {
      'mine.yaml': configMap('mine', NS_A),
      'theirs.yaml': configMap('intruder', NS_B),
    });
    expect(code).toBe(2);
    expect(result.outcome).toBe('Failed');
    const refused = result.resources.find((r: { name: string }) => r.name === 'intruder');
    expect(refused).toMatchObject({ kind: 'ConfigMap', namespace: NS_B, action: 'failed' });
    expect(refused.message).toContain(`"${IDENTITY_A}"`);
    expect(refused.message).toMatch(/forbidden/);
    const text = JSON.stringify(result);
    expect(text).toContain(`ConfigMap ${NS_B}/intruder`);
    // B's namespace, read by an independent observer as admin: nothing of A's landed there.
    const inB = await kubectl(cp.kubeconfig, '-n', NS_B, 'get', 'configmaps', '-o', 'name');
    expect(inB).not.toContain('intruder');
  });
});
