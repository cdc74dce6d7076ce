/** Removed from Git: prune deletes only what the app owns (label AND inventory), Namespaces last. */
import { describe, expect, it } from 'vitest';
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
} from './harness.ts';

describe('prune', () => {
  const kube = adminClient();

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

  it('never deletes an object that is labelled but not in the inventory, or in the inventory but no longer labelled', async () => {
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
    expect(actionOf(result, 'ConfigMap', 'stray')).toBeUndefined();
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'stray', NS)).toBeDefined();
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'unlabelled', NS)).toBeDefined();
    expect(result.state.inventory.map((e) => e.name).sort()).toEqual(['keep', NS]);
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
  it('keeps an object whose manifest moved to another API group (extensions -> networking.k8s.io Ingress)', async () => {
    const NS = 'prune-moved';
    const app = appRunner(adminClient(), { app: 'prune-moved', defaultNamespace: NS, prune: true });
    const old = {
      apiVersion: 'extensions/v1beta1',
      kind: 'Ingress',
      metadata: { name: 'web', namespace: NS },
      spec: {
        rules: [
          {
            host: 'a.example.com',
            http: { paths: [{ path: '/', backend: { serviceName: 'web', servicePort: 80 } }] },
          },
        ],
      },
    };
    const moved = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'web', namespace: NS },
      spec: {
        rules: [
          {
            host: 'a.example.com',
            http: {
              paths: [
                {
                  path: '/',
                  pathType: 'ImplementationSpecific',
                  backend: { service: { name: 'web', port: { number: 80 } } },
                },
              ],
            },
          },
        ],
      },
    };
    await app.run(manifests(namespace(NS), old), 'rev1');
    const result = await app.run(manifests(namespace(NS), moved), 'rev2');
    expect(
      result.resources.filter((r) => r.kind === 'Ingress').map((r) => `${r.apiVersion} ${r.action}`),
    ).toEqual([expect.stringMatching(/^networking\.k8s\.io\/v1 (unchanged|configured)$/)]);
    expect(result.outcome).toBe('Synced');
    expect(await kubectlGet(cp.kubeconfig, 'ingress.networking.k8s.io', 'web', NS)).toBeDefined();
    expect(result.state.inventory.filter((e) => e.kind === 'Ingress').map((e) => e.apiVersion)).toEqual([
      'networking.k8s.io/v1',
    ]);
  });
});
