/**
 * Pruning a Namespace deletes everything in it, so a Namespace that holds an object labelled for
 * another app is not pruned: it is reported orphaned and stays in the inventory until it is clear.
 */
import { describe, expect, it } from 'vitest';
import type { KubeClient, KubeRequest } from '../../lambda/cluster/kube-client.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import {
  actionOf,
  adminClient,
  appRunner,
  configMap,
  cp,
  gizmoCrd,
  manifests,
  namespace,
} from './harness.ts';

/** A client that records the metadata-only LISTs that look inside a Namespace before it is pruned. */
function recording(
  kube: KubeClient,
  answer?: (req: KubeRequest) => { status: number; body: unknown } | undefined,
) {
  const checks: KubeRequest[] = [];
  const client: KubeClient = {
    server: kube.server,
    get requestCount() {
      return kube.requestCount;
    },
    async request<T>(req: KubeRequest) {
      if (req.method === 'GET' && String(req.accept ?? '').includes('PartialObjectMetadataList'))
        checks.push(req);
      const canned = answer?.(req);
      if (canned) return canned as { status: number; body: T };
      return kube.request<T>(req);
    },
  };
  return { client, checks };
}

function secret(name: string, ns: string): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, stringData: { k: 'v' } };
}

describe('namespace prune', () => {
  it("leaves a Namespace that holds another app's object, reports it orphaned, and prunes it once it is clear", async () => {
    const NS = 'nsprune-shared';
    const admin = adminClient();
    const { client, checks } = recording(admin);
    const mine = appRunner(client, { app: 'nsprune-mine', defaultNamespace: NS, prune: true });
    await mine.run(manifests(namespace(NS), configMap('mine', NS, { a: '1' })), 'rev1');
    const other = appRunner(admin, { app: 'nsprune-other', defaultNamespace: NS });
    await other.run(manifests(secret('theirs', NS) as never), 'o1');
    // Does not block: an object made by a controller for another (it has an ownerReference).
    const owner = await kubectlGet(cp.kubeconfig, 'configmap', 'mine', NS);
    await admin.request({
      method: 'POST',
      path: `/api/v1/namespaces/${NS}/configmaps`,
      body: {
        ...configMap('derived', NS, { x: '1' }),
        metadata: {
          name: 'derived',
          namespace: NS,
          ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'mine', uid: owner?.metadata.uid }],
        },
      },
    });

    const dry = await mine.run([], 'rev2', { allowEmpty: true, dryRun: true });
    expect(actionOf(dry, 'Namespace', NS)?.action).toBe('orphaned');

    checks.length = 0;
    const blocked = await mine.run([], 'rev2', { allowEmpty: true });
    expect(blocked.resources.map((r) => `${r.action} ${r.kind} ${r.name}`)).toEqual([
      'pruned ConfigMap mine',
      `orphaned Namespace ${NS}`,
    ]);
    // The garbage collector removes what hung off the pruned ConfigMap.
    await kubectl(cp.kubeconfig, 'wait', '--for=delete', 'configmap/derived', '-n', NS, '--timeout=60s');
    expect(actionOf(blocked, 'Namespace', NS)?.message).toBe(
      `Namespace ${NS} not pruned: it holds Secret ${NS}/theirs of app "nsprune-other"; left in place until that object is gone`,
    );
    expect(blocked.outcome).toBe('OutOfSync');
    expect(blocked.state.inventory.map((e) => `${e.kind} ${e.name}`)).toEqual([`Namespace ${NS}`]);
    expect((await kubectlGet(cp.kubeconfig, 'namespace', NS))?.metadata.deletionTimestamp).toBeUndefined();
    expect(await kubectlGet(cp.kubeconfig, 'secret', 'theirs', NS)).toBeDefined();
    // One LIST per namespaced resource, all in this Namespace.
    expect(checks.length).toBeGreaterThan(0);
    for (const req of checks) {
      expect(req.path).toContain(`/namespaces/${NS}/`);
      // Metadata only: a Secret's data is never read to decide a prune.
      expect(req.accept).toMatch(/^application\/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1/);
    }
    console.log(`namespace check: ${checks.length} LISTs`);

    await kubectl(cp.kubeconfig, 'delete', 'secret', 'theirs', '-n', NS);
    const cleared = await mine.run([], 'rev2', { allowEmpty: true });
    expect(cleared.resources.map((r) => `${r.action} ${r.kind} ${r.name}`)).toEqual([
      `pruned Namespace ${NS}`,
    ]);
    expect(cleared.outcome).toBe('Synced');
    expect(cleared.state.inventory).toEqual([]);
    // The namespace controller finalizes it.
    await kubectl(cp.kubeconfig, 'wait', '--for=delete', `namespace/${NS}`, '--timeout=60s');
    expect(await kubectlGet(cp.kubeconfig, 'namespace', NS)).toBeUndefined();
  });

  it("finds another app's custom resource in the Namespace through discovery", async () => {
    const NS = 'nsprune-crd';
    const GROUP = 'nsprune.driftless.test';
    const kube = adminClient();
    const mine = appRunner(kube, { app: 'nsprune-crd-mine', defaultNamespace: NS, prune: true });
    await mine.run(manifests(namespace(NS)), 'rev1');
    const crd = gizmoCrd(GROUP);
    const gizmo = {
      apiVersion: `${GROUP}/v1`,
      kind: 'Gizmo',
      metadata: { name: 'g', namespace: NS },
      spec: {},
    };
    const other = appRunner(kube, { app: 'nsprune-crd-other', defaultNamespace: NS });
    expect((await other.run(manifests(crd, gizmo), 'o1')).outcome).toBe('Synced');

    const result = await mine.run([], 'rev2', { allowEmpty: true });
    expect(actionOf(result, 'Namespace', NS)).toMatchObject({
      action: 'orphaned',
      message: expect.stringContaining(`Gizmo ${NS}/g of app "nsprune-crd-other"`),
    });
    expect((await kubectlGet(cp.kubeconfig, 'namespace', NS))?.metadata.deletionTimestamp).toBeUndefined();
  });

  it('does not delete a Namespace whose contents it cannot check', async () => {
    const NS = 'nsprune-forbidden';
    const admin = adminClient();
    const { client } = recording(admin, (req) =>
      req.path === `/api/v1/namespaces/${NS}/secrets` && req.method === 'GET'
        ? { status: 403, body: { kind: 'Status', reason: 'Forbidden', message: 'secrets is forbidden' } }
        : undefined,
    );
    const mine = appRunner(client, { app: 'nsprune-forbidden', defaultNamespace: NS, prune: true });
    await mine.run(manifests(namespace(NS)), 'rev1');
    const result = await mine.run([], 'rev2', { allowEmpty: true });
    expect(actionOf(result, 'Namespace', NS)).toMatchObject({
      action: 'orphaned',
      message: expect.stringMatching(/cannot list its secrets .*HTTP 403: secrets is forbidden/),
    });
    expect(result.state.inventory.map((e) => e.name)).toEqual([NS]);
    expect((await kubectlGet(cp.kubeconfig, 'namespace', NS))?.metadata.deletionTimestamp).toBeUndefined();
  });
});
