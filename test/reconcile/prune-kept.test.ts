/**
 * What prune must keep, and the Namespaces and CRDs that hold it: an object annotated
 * `driftless.dev/prune: disabled` or `helm.sh/resource-policy: keep`, an object still in this
 * app's Git set, an object no app owns. Deleting the Namespace (or the CRD) would delete them, so
 * it is not deleted: no DELETE is sent, it is reported `orphaned` naming what keeps it, and it
 * stays in the inventory. (No namespace controller runs here: a deleted Namespace would only go
 * Terminating, so the tests look at the decision, the requests and the object itself.)
 */
import { describe, expect, it } from 'vitest';
import type { KubeClient } from '../../lambda/cluster/kube-client.ts';
import { reconcile } from '../../lambda/reconcile/reconcile.ts';
import type { AppState, DesiredObject, KubeObject, ReconcileOptions } from '../../lambda/reconcile/types.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import {
  actionOf,
  configMap,
  cp,
  gizmoCrd,
  manifests,
  namespace,
  platformClient,
  recordingDeletes,
} from './harness.ts';

/** Runs reconcile like `appRunner`, keeping the state and every log line. */
function loggedApp(kube: KubeClient, base: Omit<ReconcileOptions, 'revision'>) {
  let state: AppState = { inventory: [] };
  const lines: { message: string; fields?: Record<string, unknown> }[] = [];
  const keep = (message: string, fields?: Record<string, unknown>) => lines.push({ message, fields });
  return {
    lines,
    get state() {
      return state;
    },
    async run(desired: DesiredObject[], revision: string, overrides: Partial<ReconcileOptions> = {}) {
      const result = await reconcile({
        kube,
        desired,
        options: { ...base, revision, ...overrides },
        state,
        logger: { info: keep, warn: keep, debug: keep },
      });
      state = result.state;
      return result;
    },
    /** The decision row logged for an object, e.g. `Namespace ns`. */
    decisionOf(object: string) {
      return lines
        .filter((l) => l.message === 'prune decided' && l.fields?.object === object)
        .map((l) => l.fields?.decision);
    },
  };
}

function annotated(object: KubeObject, annotations: Record<string, string>): KubeObject {
  return { ...object, metadata: { ...object.metadata, annotations } };
}

describe('prune keeps what must stay, and the Namespace or CRD around it', () => {
  it('does not delete a Namespace that holds an object annotated driftless.dev/prune: disabled', async () => {
    const NS = 'pkept-disabled';
    const { client, deletes } = recordingDeletes(platformClient());
    const app = loggedApp(client, { app: 'pkept-disabled', defaultNamespace: NS, prune: true });
    const keepme = annotated(configMap('keepme', NS, { a: '1' }), { 'driftless.dev/prune': 'disabled' });
    await app.run(manifests(namespace(NS), keepme, configMap('other', NS, { b: '2' })), 'rev1');

    const result = await app.run([], 'rev2', { allowEmpty: true });
    expect(result.resources.map((r) => `${r.action} ${r.kind} ${r.name}`)).toEqual([
      'unchanged ConfigMap keepme',
      'pruned ConfigMap other',
      `orphaned Namespace ${NS}`,
    ]);
    expect(actionOf(result, 'Namespace', NS)?.message).toBe(
      `Namespace ${NS} not pruned: it holds ConfigMap ${NS}/keepme (driftless.dev/prune: disabled); left in place until that object is gone`,
    );
    expect(deletes).toEqual([`/api/v1/namespaces/${NS}/configmaps/other`]);
    expect((await kubectlGet(cp.kubeconfig, 'namespace', NS))?.metadata.deletionTimestamp).toBeUndefined();
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'keepme', NS)).toBeDefined();
    expect(result.outcome).toBe('OutOfSync');
    // The Namespace stays tracked, so a later run prunes it once nothing keeps it.
    expect(result.state.inventory.map((e) => `${e.kind} ${e.name}`)).toEqual([`Namespace ${NS}`]);
    expect(app.decisionOf(`Namespace ${NS}`)).toEqual(['namespace-holds-kept']);
    expect(app.decisionOf(`ConfigMap ${NS}/keepme`)).toEqual(['prune-disabled']);
    expect(app.decisionOf(`ConfigMap ${NS}/other`)).toEqual(['prune']);

    // keepme is no longer in the inventory, but it is still this app's and still kept.
    const again = await app.run([], 'rev2', { allowEmpty: true });
    expect(actionOf(again, 'Namespace', NS)?.action).toBe('orphaned');
    await kubectl(cp.kubeconfig, 'delete', 'configmap', 'keepme', '-n', NS);
    const clear = await app.run([], 'rev2', { allowEmpty: true });
    expect(actionOf(clear, 'Namespace', NS)?.action).toBe('pruned');
    expect(clear.state.inventory).toEqual([]);
  });

  it("keeps a Namespace whose objects are still in this app's Git set, or kept by Helm's resource policy", async () => {
    // The Namespace manifest moved to another app's repo; the ConfigMap in it stayed in this one.
    const NS = 'pkept-in-git';
    const { client, deletes } = recordingDeletes(platformClient());
    const app = loggedApp(client, { app: 'pkept-in-git', defaultNamespace: NS, prune: true });
    const helmKept = annotated(configMap('helm-kept', NS, { a: '1' }), { 'helm.sh/resource-policy': 'keep' });
    const stays = configMap('stays', NS, { b: '2' });
    await app.run(manifests(namespace(NS), helmKept, stays), 'rev1');

    const result = await app.run(manifests(stays), 'rev2');
    expect(actionOf(result, 'ConfigMap', 'helm-kept')).toMatchObject({
      action: 'unchanged',
      message:
        'removed from Git; kept in place (helm.sh/resource-policy: keep) and dropped from the inventory',
    });
    expect(actionOf(result, 'Namespace', NS)).toMatchObject({
      action: 'orphaned',
      message: `Namespace ${NS} not pruned: it holds ConfigMap ${NS}/helm-kept (helm.sh/resource-policy: keep), ConfigMap ${NS}/stays (still in this app's Git set); left in place until they are gone`,
    });
    expect(deletes).toEqual([]);
    expect(app.decisionOf(`ConfigMap ${NS}/helm-kept`)).toEqual(['helm-keep']);
    expect(result.state.inventory.map((e) => `${e.kind} ${e.name}`).sort()).toEqual([
      'ConfigMap stays',
      `Namespace ${NS}`,
    ]);
    for (const name of ['helm-kept', 'stays'])
      expect(await kubectlGet(cp.kubeconfig, 'configmap', name, NS)).toBeDefined();
  });

  it('names the first five objects no app owns and counts the rest', async () => {
    const NS = 'pkept-count';
    const { client, deletes } = recordingDeletes(platformClient());
    const app = loggedApp(client, { app: 'pkept-count', defaultNamespace: NS, prune: true });
    await app.run(manifests(namespace(NS)), 'rev1');
    for (let i = 0; i < 7; i++) {
      await kubectl(cp.kubeconfig, 'create', 'configmap', `hand-${i}`, '-n', NS, '--from-literal=x=1');
    }
    const result = await app.run([], 'rev2', { allowEmpty: true });
    const named = [0, 1, 2, 3, 4].map(
      (i) => `ConfigMap ${NS}/hand-${i} (owned by no app: no driftless.dev/app label)`,
    );
    expect(actionOf(result, 'Namespace', NS)?.message).toBe(
      `Namespace ${NS} not pruned: it holds ${named.join(', ')} and 2 more (7 in all); left in place until they are gone`,
    );
    expect(deletes).toEqual([]);
  });

  it('does not delete a CRD whose custom resources are kept by annotation or still in Git', async () => {
    const NS = 'pkept-crd';
    const GROUP = 'pkept.driftless.test';
    const crd = gizmoCrd(GROUP);
    const gizmo = (name: string, annotations?: Record<string, string>): KubeObject => ({
      apiVersion: `${GROUP}/v1`,
      kind: 'Gizmo',
      metadata: { name, namespace: NS, ...(annotations ? { annotations } : {}) },
      spec: {},
    });
    const { client, deletes } = recordingDeletes(platformClient());
    const app = loggedApp(client, { app: 'pkept-crd', defaultNamespace: NS, prune: true });
    const kept = gizmo('kept', { 'driftless.dev/prune': 'disabled' });
    expect(
      (await app.run(manifests(namespace(NS), crd, kept, gizmo('in-git'), gizmo('gone')), 'rev1')).outcome,
    ).toBe('Synced');

    const result = await app.run(manifests(namespace(NS), gizmo('in-git')), 'rev2');
    expect(actionOf(result, 'Gizmo', 'gone')?.action).toBe('pruned');
    expect(actionOf(result, 'Gizmo', 'kept')?.action).toBe('unchanged');
    expect(actionOf(result, 'CustomResourceDefinition', `gizmos.${GROUP}`)).toMatchObject({
      action: 'orphaned',
      message: `CustomResourceDefinition gizmos.${GROUP} not pruned: custom resources of it must stay (Gizmo ${NS}/in-git (still in this app's Git set), Gizmo ${NS}/kept (driftless.dev/prune: disabled)); deleting the CRD would delete them; left in place until they are gone`,
    });
    expect(app.decisionOf(`CustomResourceDefinition gizmos.${GROUP}`)).toEqual(['crd-holds-kept']);
    expect(deletes).toEqual([`/apis/${GROUP}/v1/namespaces/${NS}/gizmos/gone`]);
    expect(
      (await kubectlGet(cp.kubeconfig, 'crd', `gizmos.${GROUP}`))?.metadata.deletionTimestamp,
    ).toBeUndefined();
  });
});
