/**
 * An app touches only what it owns, and only where its scope allows. Through the CLI, against
 * the real API server:
 *
 * - a repo holding `kube-system/aws-auth` (exists, unlabelled) and a ClusterRoleBinding to
 *   cluster-admin -> plan and sync: aws-auth `failed` naming `adopt: true` / `--adopt`; nothing
 *   written (the binding is not created either); removing the file from Git prunes nothing
 * - `--adopt`                      -> the existing object is taken over and labelled
 * - `--config FILE --app NAME`     -> the deploy config's scope: an object outside
 *   `scope.namespaces` or a kind outside `scope.clusterKinds` fails before any write, naming the
 *   object and the setting; flags override the config's settings
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import { configMapYaml, driftlessJson, localRepo, namespaceYaml, resourceOf } from './cli-repo.ts';

const cp = inject('controlPlane');
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-takeover-'));
});

afterAll(async () => {
  await kubectl(cp.kubeconfig, 'delete', 'configmap', 'aws-auth', '-n', 'kube-system', '--ignore-not-found');
  await kubectl(cp.kubeconfig, 'delete', 'clusterrolebinding', 'takeover-admin', '--ignore-not-found');
  await rm(workDir, { recursive: true, force: true });
});

/** As the platform app (driftless-platform: cluster RBAC, ConfigMaps anywhere), the identity such a repo would have. */
function run(verb: 'sync' | 'plan', args: string[]) {
  return driftlessJson(workDir, [
    verb,
    ...args,
    '--kubeconfig',
    cp.identities.platform.kubeconfig,
    '--history',
    `sqlite:${join(workDir, 'history.db')}`,
  ]);
}

const awsAuth = (roles: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aws-auth\n  namespace: kube-system\ndata:\n  mapRoles: "${roles}"\n`;
const adminBinding = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: takeover-admin
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin }
subjects: [{ kind: User, name: attacker, apiGroup: rbac.authorization.k8s.io }]
`;

describe('ownership', () => {
  it('never takes over an existing object without the app label: plan and sync fail it naming the opt-in, and nothing is written', async () => {
    await kubectl(
      cp.kubeconfig,
      'create',
      'configmap',
      'aws-auth',
      '-n',
      'kube-system',
      '--from-literal=mapRoles=original',
    );
    const repo = await localRepo(join(workDir, 'attacker'));
    await repo.commit({
      'aws-auth.yaml': awsAuth('attacker-role: system:masters'),
      'binding.yaml': adminBinding,
    });
    const args = ['--app', 'takeover', '--repo', repo.dir, '--prune'];

    const plan = await run('plan', args);
    expect(plan.code).toBe(2);
    const planned = resourceOf(plan.result, 'ConfigMap', 'aws-auth');
    expect(planned?.action).toBe('failed');
    expect(planned?.message).toMatch(
      /ConfigMap kube-system\/aws-auth already exists without the label driftless\.dev\/app=takeover/,
    );
    expect(planned?.message).toMatch(/adopt: true/);
    expect(planned?.message).toMatch(/--adopt/);

    const sync = await run('sync', args);
    expect(sync.code).toBe(2);
    expect(sync.result.outcome).toBe('Failed');
    expect(resourceOf(sync.result, 'ConfigMap', 'aws-auth')?.action).toBe('failed');
    const live = await kubectlGet(cp.kubeconfig, 'configmap', 'aws-auth', 'kube-system');
    expect(live?.data).toEqual({ mapRoles: 'original' });
    expect(live?.metadata.labels?.['driftless.dev/app']).toBeUndefined();
    expect(await kubectlGet(cp.kubeconfig, 'clusterrolebinding', 'takeover-admin')).toBeUndefined();

    await repo.commit({
      'aws-auth.yaml': null,
      'binding.yaml': null,
      'ns.yaml': namespaceYaml('takeover-ns'),
    });
    const removed = await run('sync', args);
    expect(removed.code).toBe(0);
    expect(resourceOf(removed.result, 'ConfigMap', 'aws-auth')).toBeUndefined();
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'aws-auth', 'kube-system'))?.data).toEqual({
      mapRoles: 'original',
    });
  });

  it('takes over and labels an existing object with --adopt', async () => {
    await kubectl(cp.kubeconfig, 'create', 'namespace', 'adopt-ns');
    await kubectl(
      cp.kubeconfig,
      'create',
      'configmap',
      'hand-made',
      '-n',
      'adopt-ns',
      '--from-literal=text=by-hand',
    );
    const repo = await localRepo(join(workDir, 'adopter'));
    await repo.commit({ 'cm.yaml': configMapYaml('adopt-ns', 'hand-made', 'from-git') });

    const refused = await run('sync', ['--app', 'adopter', '--repo', repo.dir]);
    expect(refused.code).toBe(2);
    const adopted = await run('sync', ['--app', 'adopter', '--repo', repo.dir, '--adopt']);
    expect(adopted.code).toBe(0);
    expect(resourceOf(adopted.result, 'ConfigMap', 'hand-made')).toMatchObject({
      action: 'configured',
      message: expect.stringMatching(/adopted/),
    });
    const live = await kubectlGet(cp.kubeconfig, 'configmap', 'hand-made', 'adopt-ns');
    expect(live?.data.text).toBe('from-git');
    expect(live?.metadata.labels?.['driftless.dev/app']).toBe('adopter');
  });
});

describe('scope from the deploy config (--config FILE --app NAME)', () => {
  it('fails objects outside scope.namespaces and scope.clusterKinds before any write, naming the object and the setting', async () => {
    const repo = await localRepo(join(workDir, 'scoped'));
    await repo.commit({
      'ns.yaml': namespaceYaml('scoped-app'),
      'cm.yaml': configMapYaml('scoped-app', 'inside', 'one'),
      'outside.yaml': configMapYaml('kube-system', 'outside', 'two'),
      'role.yaml':
        'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: scoped-reader\nrules: []\n',
    });
    const config = join(workDir, 'driftless.config.yaml');
    await writeFile(
      config,
      `apps:\n  - name: scoped\n    repo: https://git.example.com/scoped.git\n    namespace: scoped-app\n    cluster: { name: prod, region: eu-west-1 }\n`,
    );

    const refused = await run('sync', ['--config', config, '--app', 'scoped', '--repo', repo.dir]);
    expect(refused.code).toBe(2);
    expect(refused.result.error).toMatch(
      /outside\.yaml \(document 0\): ConfigMap kube-system\/outside is outside the app's scope: namespace "kube-system" is not in scope\.namespaces \[scoped-app\]/,
    );
    expect(refused.result.error).toMatch(
      /ClusterRole scoped-reader is outside the app's scope: .*scope\.clusterKinds \[Namespace\]/,
    );
    expect(await kubectlGet(cp.kubeconfig, 'namespace', 'scoped-app')).toBeUndefined();
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'outside', 'kube-system')).toBeUndefined();

    // The scope is the platform team's: widened in the config, the same commit syncs.
    await writeFile(
      config,
      `apps:\n  - name: scoped\n    repo: https://git.example.com/scoped.git\n    namespace: scoped-app\n    cluster: { name: prod, region: eu-west-1 }\n    scope:\n      namespaces: [scoped-app, kube-system]\n      clusterKinds: [Namespace, ClusterRole]\n`,
    );
    const synced = await run('sync', ['--config', config, '--app', 'scoped', '--repo', repo.dir]);
    expect(synced.code).toBe(0);
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'outside', 'kube-system')).toBeDefined();

    // Flags override the config: the config does not prune, --prune does. (A deploy config names
    // an https repository; --repo points this run at the local checkout and keeps the rest.)
    await repo.commit({ 'outside.yaml': null });
    const pruned = await run('sync', ['--config', config, '--app', 'scoped', '--repo', repo.dir, '--prune']);
    expect(pruned.code).toBe(0);
    expect(resourceOf(pruned.result, 'ConfigMap', 'outside')?.action).toBe('pruned');
    await kubectl(cp.kubeconfig, 'delete', 'clusterrole', 'scoped-reader', '--ignore-not-found');
  });
});
