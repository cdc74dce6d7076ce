/** Removed from Git: prune deletes only what the app owns (label AND inventory), Namespaces last. */
import { describe, expect, it } from 'vitest';
import { type KubeClient, type KubeRequest, KubeUnreachableError } from '../../lambda/cluster/kube-client.ts';
import { reconcile } from '../../lambda/reconcile/reconcile.ts';
import type { AppState } from '../../lambda/reconcile/types.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import {
  actionOf,
  adminClient,
  appRunner,
  configMap,
  cp,
  deployment,
  manifests,
  namespace,
  platformClient,
} from './harness.ts';

describe('prune', () => {
  const kube = platformClient();

  it('reports removed objects as orphaned and keeps them when prune is off', async () => {
    const NS = 'prune-off';
    const app = appRunner(kube, { app: 'prune-off', defaultNamespace: NS });
    await app.run(
      manifests(namespace(NS), configMap('a', NS, { x: '1' }), configMap('b', NS, { x: '2' })),
      'rev1',
    );
    const result = await app.run(manifests(namespace(NS), configMap('a', NS, { x: '1' })), 'rev2');
    expect(actionOf(result, 'ConfigMap', 'b')).toMatchObject({
      action: 'orphaned',
      message: expect.stringMatching(/prune is off/),
    });
    expect(result.outcome).toBe('OutOfSync');
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'b', NS)).toBeDefined();
    expect(result.state.inventory.map((e) => e.name)).toContain('b');
  });

  it('deletes removed objects in reverse stage order with the Namespace last', async () => {
    const NS = 'prune-order';
    const app = appRunner(kube, { app: 'prune-order', defaultNamespace: NS, prune: true });
    const role = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'prune-order-reader' },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }],
    };
    await app.run(
      manifests(namespace(NS), role, deployment('web', NS), configMap('a', NS, { x: '1' })),
      'rev1',
    );
    const result = await app.run([], 'rev2', { allowEmpty: true });
    // Deployment and ConfigMap share a stage (deleted concurrently), then cluster RBAC, then the Namespace.
    expect(result.resources.map((r) => `${r.action} ${r.kind}`)).toEqual([
      'pruned Deployment',
      'pruned ConfigMap',
      'pruned ClusterRole',
      'pruned Namespace',
    ]);
    expect(result.outcome).toBe('Synced');
    expect(result.state.inventory).toEqual([]);
    expect(await kubectlGet(cp.kubeconfig, 'clusterrole', 'prune-order-reader')).toBeUndefined();
    expect(await kubectlGet(cp.kubeconfig, 'deployment', 'web', NS)).toBeUndefined();
    // kube-apiserver without controllers leaves a deleted Namespace Terminating.
    const ns = await kubectlGet(cp.kubeconfig, 'namespace', NS);
    expect(ns === undefined || ns.metadata.deletionTimestamp !== undefined).toBe(true);
  });

  it('never deletes an object that is labelled but not in the inventory (reports it), or in the inventory but no longer labelled', async () => {
    const NS = 'prune-guard';
    const app = appRunner(kube, { app: 'prune-guard', defaultNamespace: NS, prune: true });
    await app.run(
      manifests(namespace(NS), configMap('keep', NS, { x: '1' }), configMap('unlabelled', NS, { x: '2' })),
      'rev1',
    );
    await kubectl(cp.kubeconfig, 'create', 'configmap', 'stray', '-n', NS, '--from-literal=x=3');
    await kubectl(cp.kubeconfig, 'label', 'configmap', 'stray', '-n', NS, 'driftless.dev/app=prune-guard');
    await kubectl(cp.kubeconfig, 'label', 'configmap', 'unlabelled', '-n', NS, 'driftless.dev/app-');

    const result = await app.run(manifests(namespace(NS), configMap('keep', NS, { x: '1' })), 'rev2');
    expect(actionOf(result, 'ConfigMap', 'unlabelled')).toMatchObject({
      action: 'orphaned',
      message: expect.stringMatching(/no longer carries driftless.dev\/app=prune-guard/),
    });
    expect(actionOf(result, 'ConfigMap', 'stray')).toMatchObject({
      action: 'orphaned',
      message: expect.stringMatching(/not in the stored inventory/),
    });
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'stray', NS)).toBeDefined();
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'unlabelled', NS)).toBeDefined();
    // The stray joins the inventory: a run whose stored source matches may prune it.
    expect(result.state.inventory.map((e) => e.name).sort()).toEqual(['keep', NS, 'stray']);
  });

  it('refuses to prune everything when the desired set is empty unless allowEmpty', async () => {
    const NS = 'prune-empty';
    const app = appRunner(kube, { app: 'prune-empty', defaultNamespace: NS, prune: true });
    await app.run(manifests(namespace(NS), configMap('a', NS, { x: '1' })), 'rev1');
    const before = app.state;
    const refused = await app.run([], 'rev2');
    expect(refused.outcome).toBe('Failed');
    expect(refused.error).toMatch(/refusing to prune all 2 objects.*empty.*allowEmpty/);
    expect(refused.state).toEqual(before);
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'a', NS)).toBeDefined();

    const allowed = await app.run([], 'rev2', { allowEmpty: true });
    expect(allowed.resources.map((r) => r.action)).toEqual(['pruned', 'pruned']);
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'a', NS)).toBeUndefined();
  });

  it('reports what it would prune on a dry run and deletes nothing', async () => {
    const NS = 'prune-dry';
    const app = appRunner(kube, { app: 'prune-dry', defaultNamespace: NS, prune: true });
    await app.run(
      manifests(namespace(NS), configMap('a', NS, { x: '1' }), configMap('b', NS, { x: '2' })),
      'rev1',
    );
    const before = app.state;
    const dry = await app.run(manifests(namespace(NS), configMap('a', NS, { x: '1' })), 'rev2', {
      dryRun: true,
    });
    expect(actionOf(dry, 'ConfigMap', 'b')?.action).toBe('pruned');
    expect(dry.outcome).toBe('OutOfSync');
    expect(dry.state).toBe(before);
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'b', NS)).toBeDefined();
  });
});

describe('prune across API groups', () => {
  it('keeps an object whose manifest moved to another API group (core -> events.k8s.io Event)', async () => {
    const NS = 'prune-moved';
    // As cluster-admin: Events are no platform app's to write.
    const app = appRunner(adminClient(), { app: 'prune-moved', defaultNamespace: NS, prune: true });
    const regarding = { apiVersion: 'v1', kind: 'ConfigMap', name: 'settings', namespace: NS };
    const old = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'rollout', namespace: NS },
      involvedObject: regarding,
      // Set once, immutable after: the same values in both API groups.
      eventTime: '2026-01-01T00:00:00.000000Z',
      reportingComponent: 'driftless.dev/test',
      reportingInstance: 'test',
      action: 'Rollout',
      reason: 'Rollout',
      message: 'rolled out',
      type: 'Normal',
    };
    const moved = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: 'rollout', namespace: NS },
      eventTime: '2026-01-01T00:00:00.000000Z',
      reportingController: 'driftless.dev/test',
      reportingInstance: 'test',
      action: 'Rollout',
      regarding,
      reason: 'Rollout',
      note: 'rolled out',
      type: 'Normal',
    };
    expect((await app.run(manifests(namespace(NS), old), 'rev1')).outcome).toBe('Synced');
    const result = await app.run(manifests(namespace(NS), moved), 'rev2');
    expect(
      result.resources.filter((r) => r.kind === 'Event').map((r) => `${r.apiVersion} ${r.action}`),
    ).toEqual([expect.stringMatching(/^events\.k8s\.io\/v1 (unchanged|configured)$/)]);
    expect(result.outcome).toBe('Synced');
    expect(await kubectlGet(cp.kubeconfig, 'event.events.k8s.io', 'rollout', NS)).toBeDefined();
    expect(result.state.inventory.filter((e) => e.kind === 'Event').map((e) => e.apiVersion)).toEqual([
      'events.k8s.io/v1',
    ]);
  });

  it('tracks an object whose apply answer was lost, so it is pruned once it leaves Git', async () => {
    const NS = 'prune-lost-answer';
    const admin = platformClient();
    // The server applies ConfigMap "lost", but the answer never arrives.
    const flaky: KubeClient = {
      server: admin.server,
      get requestCount() {
        return admin.requestCount;
      },
      async request<T>(req: KubeRequest) {
        const res = await admin.request<T>(req);
        if (req.method === 'PATCH' && req.path.endsWith('/configmaps/lost') && !req.query?.dryRun) {
          throw new KubeUnreachableError('PATCH configmaps/lost: socket hang up');
        }
        return res;
      },
    };
    const desired = manifests(namespace(NS), configMap('lost', NS, { x: '1' }));
    const first = await reconcile({
      kube: flaky,
      desired,
      options: { app: 'prune-lost', revision: 'rev1', defaultNamespace: NS, prune: true },
      state: { inventory: [] },
    });
    expect(first.outcome).toBe('Failed');
    expect(first.state.inventory.map((e) => e.name).sort()).toEqual(['lost', NS]);
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'lost', NS))?.metadata.labels).toMatchObject({
      'driftless.dev/app': 'prune-lost',
    });

    const second = await reconcile({
      kube: admin,
      desired: manifests(namespace(NS)),
      options: { app: 'prune-lost', revision: 'rev2', defaultNamespace: NS, prune: true },
      state: first.state,
    });
    expect(actionOf(second, 'ConfigMap', 'lost')?.action).toBe('pruned');
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'lost', NS)).toBeUndefined();
  });

  it('hands the intended inventory to beforeWrite first, so a run killed half-way leaves nothing untracked', async () => {
    const NS = 'prune-killed';
    const admin = platformClient();
    let stored: AppState | undefined;
    let writesBeforeHook = 0;
    let writes = 0;
    // Killed after the Namespace and one ConfigMap were written: the process dies, no result.
    const dying: KubeClient = {
      server: admin.server,
      get requestCount() {
        return admin.requestCount;
      },
      async request<T>(req: KubeRequest) {
        if (req.method === 'PATCH' && !req.query?.dryRun) {
          if (!stored) writesBeforeHook += 1;
          if (++writes > 2) throw new Error('killed');
        }
        return admin.request<T>(req);
      },
    };
    await reconcile({
      kube: dying,
      desired: manifests(namespace(NS), configMap('a', NS, { x: '1' }), configMap('b', NS, { x: '1' })),
      options: { app: 'prune-killed', revision: 'rev1', defaultNamespace: NS, prune: true, concurrency: 1 },
      state: { inventory: [] },
      beforeWrite: async (intended) => {
        stored = intended;
      },
    }).catch(() => undefined);
    expect(writesBeforeHook).toBe(0);
    expect(stored?.inventory.map((e) => e.name).sort()).toEqual(['a', 'b', NS]);

    // The next run starts from what was stored before the kill; Git now has only the Namespace.
    const next = await reconcile({
      kube: admin,
      desired: manifests(namespace(NS)),
      options: { app: 'prune-killed', revision: 'rev2', defaultNamespace: NS, prune: true },
      state: stored!,
    });
    const written = ['a', 'b'].filter((name) => actionOf(next, 'ConfigMap', name)?.action === 'pruned');
    expect(written.length).toBeGreaterThanOrEqual(1);
    for (const name of ['a', 'b'])
      expect(await kubectlGet(cp.kubeconfig, 'configmap', name, NS)).toBeUndefined();
    expect(next.state.inventory.map((e) => e.name)).toEqual([NS]);
  });

  it('still finds and prunes an object whose applied version is no longer served', async () => {
    const NS = 'prune-unserved';
    const group = 'unserved.prune.driftless.dev';
    const crd = (alphaServed: boolean) => ({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `gadgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList' },
        versions: ['v1alpha1', 'v1'].map((name) => ({
          name,
          served: name === 'v1' || alphaServed,
          storage: name === 'v1',
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        })),
      },
    });
    const gadget = {
      apiVersion: `${group}/v1alpha1`,
      kind: 'Gadget',
      metadata: { name: 'old', namespace: NS },
    };
    const app = appRunner(platformClient(), { app: 'prune-unserved', defaultNamespace: NS });
    expect((await app.run(manifests(namespace(NS), crd(true), gadget), 'rev1')).outcome).toBe('Synced');
    // Removed from Git while prune is off, then the CRD stops serving the version it was applied with.
    await app.run(manifests(namespace(NS), crd(true)), 'rev2');
    await app.run(manifests(namespace(NS), crd(false)), 'rev3');
    expect(app.state.inventory.some((e) => e.kind === 'Gadget')).toBe(true);

    const result = await app.run(manifests(namespace(NS), crd(false)), 'rev4', { prune: true });
    expect(actionOf(result, 'Gadget', 'old')?.action).toBe('pruned');
    expect(await kubectlGet(cp.kubeconfig, `gadgets.v1.${group}`, 'old', NS)).toBeUndefined();
  });
});
