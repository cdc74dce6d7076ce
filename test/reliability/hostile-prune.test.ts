/**
 * Prune guards. Through the CLI, against the real API server, prune on throughout:
 *
 * - a CRD removed from Git while another app's custom resources of it exist -> `orphaned`,
 *   naming them; the CRD and the resources stay
 * - a Namespace removed from Git that holds a hand-made object -> `orphaned`, naming it; stays
 * - more than half of the app's objects (more than 5) removed at once -> prune refused (exit 2,
 *   `orphaned`, count and setting named), the run's applies stand; `--prune-limit` allows it
 * - `driftless.dev/prune: disabled` (in Git or added live) -> never deleted; dropped from the
 *   inventory; the run ends Synced
 * - a Namespace removed from Git that holds such an object -> not deleted (`orphaned`, naming
 *   it, the decision row logged); no Secret value or AWS key in anything the run leaves
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import { actions, configMapYaml, driftlessJson, localRepo, namespaceYaml, resourceOf } from './cli-repo.ts';
import { driftlessCli } from './hostile-harness.ts';

const cp = inject('controlPlane');
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-prune-guards-'));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

function sync(args: string[]) {
  return driftlessJson(workDir, [
    'sync',
    '--prune',
    ...args,
    // As the platform app (CRDs, Namespaces), not system:masters.
    '--kubeconfig',
    cp.identities.platform.kubeconfig,
    '--history',
    `sqlite:${join(workDir, 'history.db')}`,
  ]);
}

const crdYaml = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.guards.driftless.dev
spec:
  group: guards.driftless.dev
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget }
  versions:
    - name: v1
      served: true
      storage: true
      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
`;

describe('prune guards', () => {
  it("keeps a CRD whose custom resources are another app's, naming them", async () => {
    const repo = await localRepo(join(workDir, 'crd'));
    await repo.commit({ 'ns.yaml': namespaceYaml('guards-crd'), 'crd.yaml': crdYaml });
    expect((await sync(['--app', 'guards-crd', '--repo', repo.dir])).code).toBe(0);
    const other = await localRepo(join(workDir, 'crd-user'));
    await other.commit({
      'widget.yaml':
        'apiVersion: guards.driftless.dev/v1\nkind: Widget\nmetadata:\n  name: theirs\n  namespace: guards-crd\n',
    });
    const theirs = await driftlessJson(workDir, [
      'sync',
      '--app',
      'guards-crd-user',
      '--repo',
      other.dir,
      '--namespace',
      'guards-crd',
      '--kubeconfig',
      cp.identities.platform.kubeconfig,
      '--history',
      `sqlite:${join(workDir, 'history.db')}`,
    ]);
    expect(theirs.code).toBe(0);

    await repo.commit({ 'crd.yaml': null });
    const run = await sync(['--app', 'guards-crd', '--repo', repo.dir]);
    expect(run.code).toBe(1);
    expect(resourceOf(run.result, 'CustomResourceDefinition', 'widgets.guards.driftless.dev')).toMatchObject({
      action: 'orphaned',
      message: expect.stringMatching(
        /custom resources of it must stay \(Widget guards-crd\/theirs of app "guards-crd-user"\)/,
      ),
    });
    expect(
      await kubectlGet(cp.kubeconfig, 'widgets.guards.driftless.dev', 'theirs', 'guards-crd'),
    ).toBeDefined();
  });

  it('keeps a Namespace that holds a hand-made object, naming it', async () => {
    const repo = await localRepo(join(workDir, 'ns'));
    await repo.commit({
      'keep.yaml': namespaceYaml('guards-keep'),
      'ns.yaml': namespaceYaml('guards-ns'),
      'cm.yaml': configMapYaml('guards-ns', 'mine', 'one'),
    });
    expect((await sync(['--app', 'guards-ns', '--repo', repo.dir])).code).toBe(0);
    await kubectl(cp.kubeconfig, 'create', 'configmap', 'hand-made', '-n', 'guards-ns', '--from-literal=x=1');

    await repo.commit({ 'ns.yaml': null, 'cm.yaml': null });
    const run = await sync(['--app', 'guards-ns', '--repo', repo.dir]);
    expect(run.code).toBe(1);
    expect(resourceOf(run.result, 'ConfigMap', 'mine')?.action).toBe('pruned');
    expect(resourceOf(run.result, 'Namespace', 'guards-ns')).toMatchObject({
      action: 'orphaned',
      message: expect.stringMatching(
        /it holds ConfigMap guards-ns\/hand-made \(owned by no app: no driftless.dev\/app label\)/,
      ),
    });
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'hand-made', 'guards-ns')).toBeDefined();

    await kubectl(cp.kubeconfig, 'delete', 'configmap', 'hand-made', '-n', 'guards-ns');
    const clear = await sync(['--app', 'guards-ns', '--repo', repo.dir]);
    expect(clear.code).toBe(0);
    expect(resourceOf(clear.result, 'Namespace', 'guards-ns')?.action).toBe('pruned');
  });

  it('refuses to prune more than half of what the app owned unless --prune-limit allows it; the applies of that run stand', async () => {
    const repo = await localRepo(join(workDir, 'cap'));
    const files: Record<string, string | null> = { 'ns.yaml': namespaceYaml('guards-cap') };
    for (let i = 0; i < 9; i++) files[`cm-${i}.yaml`] = configMapYaml('guards-cap', `cm-${i}`, 'one');
    await repo.commit(files);
    const args = ['--app', 'guards-cap', '--repo', repo.dir];
    expect((await sync(args)).code).toBe(0);

    const removal: Record<string, string | null> = {
      'cm-0.yaml': configMapYaml('guards-cap', 'cm-0', 'two'),
    };
    for (let i = 1; i < 7; i++) removal[`cm-${i}.yaml`] = null;
    await repo.commit(removal);
    const refused = await sync(args);
    expect(refused.code).toBe(2);
    expect(refused.result.outcome).toBe('Failed');
    expect(refused.result.error).toMatch(
      /refusing to prune 6 of the 10 objects app "guards-cap" owned: more than the limit of 5/,
    );
    expect(refused.result.error).toMatch(/pruneLimit/);
    expect(refused.result.error).toMatch(/--prune-limit 6/);
    expect(refused.result.resources.filter((r) => r.action === 'orphaned')).toHaveLength(6);
    expect(resourceOf(refused.result, 'ConfigMap', 'cm-0')?.action).toBe('configured');
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'cm-0', 'guards-cap'))?.data.text).toBe('two');
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'cm-1', 'guards-cap')).toBeDefined();

    const allowed = await sync([...args, '--prune-limit', '6']);
    expect(allowed.code).toBe(0);
    expect(allowed.result.resources.filter((r) => r.action === 'pruned')).toHaveLength(6);
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'cm-1', 'guards-cap')).toBeUndefined();
  });

  it('never deletes an object marked driftless.dev/prune: disabled, in Git or live, and ends Synced', async () => {
    const repo = await localRepo(join(workDir, 'disabled'));
    await repo.commit({
      'ns.yaml': namespaceYaml('guards-keep-me'),
      'in-git.yaml': configMapYaml(
        'guards-keep-me',
        'in-git',
        'one',
        '  annotations: { driftless.dev/prune: disabled }\n',
      ),
      'live.yaml': configMapYaml('guards-keep-me', 'live', 'one'),
    });
    const args = ['--app', 'guards-keep-me', '--repo', repo.dir];
    expect((await sync(args)).code).toBe(0);
    await kubectl(
      cp.kubeconfig,
      'annotate',
      'configmap',
      'live',
      '-n',
      'guards-keep-me',
      'driftless.dev/prune=disabled',
    );

    await repo.commit({ 'in-git.yaml': null, 'live.yaml': null });
    const run = await sync(args);
    expect(run.code).toBe(0);
    expect(run.result.outcome).toBe('Synced');
    for (const name of ['in-git', 'live']) {
      expect(resourceOf(run.result, 'ConfigMap', name)).toMatchObject({
        action: 'unchanged',
        message: expect.stringMatching(
          /kept in place \(driftless\.dev\/prune: disabled\) and dropped from the inventory/,
        ),
      });
      expect(await kubectlGet(cp.kubeconfig, 'configmap', name, 'guards-keep-me')).toBeDefined();
    }
    const next = await sync(args);
    expect(next.code).toBe(0);
    expect(resourceOf(next.result, 'ConfigMap', 'in-git')).toBeUndefined();
  });

  it('keeps a Namespace that holds an object marked driftless.dev/prune: disabled; nothing secret in what the run leaves', async () => {
    const NS = 'guards-ns-x';
    const awsCanary = 'FAKECANARYAWSKEYpruneGuards0123456789abcdef';
    const secretCanary = 'FAKECANARYSECRETVALUEprunedWithTheApp';
    const planted = process.env.AWS_SECRET_ACCESS_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = awsCanary;
    try {
      const repo = await localRepo(join(workDir, 'ns-x'));
      await repo.commit({
        'ns.yaml': namespaceYaml(NS),
        'keepme.yaml': configMapYaml(
          NS,
          'keepme',
          'one',
          '  annotations: { driftless.dev/prune: disabled }\n',
        ),
        'other.yaml': configMapYaml(NS, 'other', 'one'),
        // Pruned with the rest; the Namespace check reads Secrets' metadata, never their data.
        'secret.yaml': `apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: ${NS}\nstringData:\n  password: ${secretCanary}\n`,
      });
      const args = ['--app', 'guards-ns-x', '--repo', repo.dir];
      expect((await sync(args)).code).toBe(0);

      await repo.commit({ 'ns.yaml': null, 'keepme.yaml': null, 'other.yaml': null, 'secret.yaml': null });
      const run = await sync([...args, '--allow-empty']);
      expect(run.code).toBe(1);
      expect(actions(run.result)).toEqual([
        'unchanged ConfigMap keepme',
        'pruned ConfigMap other',
        'pruned Secret creds',
        `orphaned Namespace ${NS}`,
      ]);
      expect(resourceOf(run.result, 'ConfigMap', 'keepme')?.message).toMatch(/kept in place/);
      expect(resourceOf(run.result, 'Namespace', NS)?.message).toBe(
        `Namespace ${NS} not pruned: it holds ConfigMap ${NS}/keepme (driftless.dev/prune: disabled); left in place until that object is gone`,
      );
      expect(run.stderr).toMatch(
        new RegExp(`prune decided \\(object="Namespace ${NS}" action=orphaned decision=namespace-holds-kept`),
      );
      expect((await kubectlGet(cp.kubeconfig, 'namespace', NS))?.metadata.deletionTimestamp).toBeUndefined();
      expect(await kubectlGet(cp.kubeconfig, 'configmap', 'keepme', NS)).toBeDefined();

      // The run record says the same.
      const history = await driftlessCli([
        'history',
        '--app',
        'guards-ns-x',
        '--limit',
        '1',
        '--output',
        'json',
        '--history',
        `sqlite:${join(workDir, 'history.db')}`,
      ]);
      const record = JSON.parse(history.stdout.trim());
      expect(resourceOf(record, 'Namespace', NS)).toMatchObject({ action: 'orphaned' });

      const stored = (
        await Promise.all(
          ['history.db', 'history.db-wal'].map((f) =>
            readFile(join(workDir, f)).catch(() => Buffer.alloc(0)),
          ),
        )
      )
        .map((b) => b.toString('latin1'))
        .join('\n');
      const left = [run.stdout, run.stderr, history.stdout, history.stderr, stored].join('\n');
      expect(left).toContain('keepme');
      for (const canary of [awsCanary, secretCanary, Buffer.from(secretCanary).toString('base64')]) {
        expect(left).not.toContain(canary);
      }
    } finally {
      if (planted === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
      else process.env.AWS_SECRET_ACCESS_KEY = planted;
    }
  });
});
