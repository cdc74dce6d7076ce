/**
 * Cases the per-object decision table (reconcile/decisions.ts) got wrong as early returns: a
 * Secret changed at the same commit, a Namespace deleted by hand, a CRD not yet Established.
 */
import { describe, expect, it } from 'vitest';
import type { KubeClient } from '../../lambda/cluster/kube-client.ts';
import { sendApply } from '../../lambda/reconcile/apply.ts';
import { waitEstablished } from '../../lambda/reconcile/crds.ts';
import type { KubeObject } from '../../lambda/reconcile/types.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import {
  actionOf,
  adminClient,
  appRunner,
  configMap,
  cp,
  manifests,
  namespace,
  platformClient,
} from './harness.ts';

const kube = platformClient();
const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
const crdInfo = {
  group: 'apiextensions.k8s.io',
  version: 'v1',
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  resource: 'customresourcedefinitions',
  namespaced: false,
};

async function establishedNow(name: string): Promise<boolean> {
  const crd = await kubectlGet(cp.kubeconfig, 'crd', name);
  return (crd?.status?.conditions ?? []).some(
    (c: { type: string; status: string }) => c.type === 'Established' && c.status === 'True',
  );
}

function secret(name: string, ns: string, stringData: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, stringData };
}

/**
 * Deletes the Namespace as someone would by hand; the namespace controller empties it first. In
 * the compatibility run no controller runs, so the test plays it: empties it, then finalizes it.
 */
async function deleteNamespaceByHand(ns: string): Promise<void> {
  if (cp.controllersMissing) {
    await kubectl(cp.kubeconfig, 'delete', 'configmaps,secrets', '--all', '-n', ns);
    await kubectl(cp.kubeconfig, 'delete', 'namespace', ns, '--wait=false');
    const res = await adminClient().request({
      method: 'PUT',
      path: `/api/v1/namespaces/${ns}/finalize`,
      body: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: ns },
        spec: { finalizers: [] },
      }),
    });
    expect(res.status).toBe(200);
  } else {
    await kubectl(cp.kubeconfig, 'delete', 'namespace', ns, '--timeout=60s');
  }
  expect(await kubectlGet(cp.kubeconfig, 'namespace', ns)).toBeUndefined();
}

describe('the per-object decision', () => {
  it('applies a Secret changed by Git at the same commit (another path), as it does a ConfigMap', async () => {
    const ns = 'decide-secret-path';
    const app = appRunner(kube, { app: 'decide-secret-path', defaultNamespace: ns });
    const staging = manifests(
      namespace(ns),
      configMap('settings', ns, { env: 'staging' }),
      secret('creds', ns, { password: 'staging-pass' }),
    );
    const prod = manifests(
      namespace(ns),
      configMap('settings', ns, { env: 'prod' }),
      secret('creds', ns, { password: 'prod-pass' }),
    );
    expect((await app.run(staging, 'c0ffee')).outcome).toBe('Synced');

    const result = await app.run(prod, 'c0ffee');
    expect(actionOf(result, 'ConfigMap', 'settings')?.action).toBe('configured');
    expect(actionOf(result, 'Secret', 'creds')?.action).toBe('configured');
    expect(result.outcome).toBe('Synced');
    const live = await kubectlGet(cp.kubeconfig, 'secret', 'creds', ns);
    expect(Buffer.from(live?.data.password, 'base64').toString()).toBe('prod-pass');
    // The state holds no plain digest of the Secret's data that could be guessed offline.
    const entry = result.state.inventory.find((e) => e.kind === 'Secret');
    expect(entry?.digest).toMatch(/^hmac-sha256:/);

    // The same body again: unchanged, without a dry run; a Secret edited by hand is drift.
    expect(actionOf(await app.run(prod, 'c0ffee'), 'Secret', 'creds')?.action).toBe('unchanged');
    await kubectl(
      cp.kubeconfig,
      'patch',
      'secret',
      'creds',
      '-n',
      ns,
      '-p',
      '{"stringData":{"password":"x"}}',
    );
    const drifted = await app.run(prod, 'c0ffee');
    expect(actionOf(drifted, 'Secret', 'creds')?.action).toBe('drifted');
    expect(drifted.outcome).toBe('OutOfSync');
  });

  it('reports a Namespace deleted by hand and its objects as drifted when self-heal is off, and writes nothing', async () => {
    const ns = 'decide-ns-gone';
    const app = appRunner(kube, { app: 'decide-ns-gone', defaultNamespace: ns });
    const desired = manifests(
      namespace(ns),
      configMap('a', ns, { k: '1' }),
      secret('s', ns, { p: 'hunter2' }),
    );
    expect((await app.run(desired, 'rev1')).outcome).toBe('Synced');
    await deleteNamespaceByHand(ns);

    const result = await app.run(desired, 'rev1');
    expect(result.error).toBeUndefined();
    expect(result.outcome).toBe('OutOfSync');
    expect(result.resources.map((r) => `${r.kind}/${r.name}:${r.action}`)).toEqual([
      `Namespace/${ns}:drifted`,
      'ConfigMap/a:drifted',
      'Secret/s:drifted',
    ]);
    expect(actionOf(result, 'ConfigMap', 'a')).toMatchObject({
      message: expect.stringMatching(`deleted with its Namespace ${ns}`),
      diff: expect.stringContaining('+  k: "1"'),
    });
    expect(actionOf(result, 'Secret', 's')?.diff).toContain('p: "***');
    expect(actionOf(result, 'Secret', 's')?.diff).not.toMatch(/hunter2|aHVudGVyMg/);
    expect(await kubectlGet(cp.kubeconfig, 'namespace', ns)).toBeUndefined();

    // Git changes an object in it at the same commit: it cannot be applied, and the run says why.
    const changed = manifests(
      namespace(ns),
      configMap('a', ns, { k: '2' }),
      secret('s', ns, { p: 'hunter2' }),
    );
    const refused = await app.run(changed, 'rev1');
    expect(refused.outcome).toBe('Failed');
    expect(actionOf(refused, 'ConfigMap', 'a')).toMatchObject({
      action: 'failed',
      message: expect.stringMatching(`its Namespace ${ns} was deleted from the cluster and self-heal is off`),
    });
    expect(await kubectlGet(cp.kubeconfig, 'namespace', ns)).toBeUndefined();
  });

  it('re-creates a Namespace deleted by hand and every object in it with self-heal', async () => {
    const ns = 'decide-ns-heal';
    const app = appRunner(kube, { app: 'decide-ns-heal', defaultNamespace: ns, selfHeal: true });
    const desired = manifests(namespace(ns), configMap('a', ns, { k: '1' }), secret('s', ns, { p: 'v' }));
    expect((await app.run(desired, 'rev1')).outcome).toBe('Synced');
    await deleteNamespaceByHand(ns);

    const result = await app.run(desired, 'rev1');
    expect(result.error).toBeUndefined();
    expect(result.outcome).toBe('Synced');
    expect(result.resources.map((r) => `${r.kind}/${r.name}:${r.action}`)).toEqual([
      `Namespace/${ns}:created`,
      'ConfigMap/a:created',
      'Secret/s:created',
    ]);
    expect(actionOf(result, 'ConfigMap', 'a')?.message).toMatch(/drift healed: re-created/);
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'a', ns))?.data).toEqual({ k: '1' });
    expect(await kubectlGet(cp.kubeconfig, 'secret', 's', ns)).toBeDefined();
  });

  it('waits for an unchanged CRD of the set that is not yet Established before its custom resources', async () => {
    const group = 'decide.example.com';
    const crd = (plural: string, kind: string, singular = plural.slice(0, -1)): KubeObject => ({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `${plural}.${group}`, labels: { 'driftless.dev/app': 'decide-crd' } },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural, singular, kind, listKind: `${kind}List` },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          },
        ],
      },
    });
    const ns = 'decide-crd';
    const gadgets = crd('gadgets', 'Gadget');
    // A CRD of the group claiming the same singular name holds the app's CRD back (NamesAccepted
    // false, so not Established) until it is deleted: a reliable stand-in for a CRD still being
    // established, whatever the server's speed.
    const blocker = crd('blockers', 'Blocker', 'gadget');
    delete blocker.metadata.labels;
    expect((await kube.request({ method: 'POST', path: CRDS, body: JSON.stringify(blocker) })).status).toBe(
      201,
    );
    expect(await waitEstablished(kube, blocker.metadata.name, { timeoutMs: 30_000 })).toBe(true);
    // The app's CRD exists as driftless would apply it, so the run finds it unchanged.
    const applied = await sendApply(kube, crdInfo, gadgets, { dryRun: false });
    expect(applied.status).toBe(201);
    expect(await establishedNow(gadgets.metadata.name)).toBe(false);

    // The blocker goes once the run starts waiting for the CRD (its first read of it).
    const watched = observingCrdReads(kube, gadgets.metadata.name, async () => {
      await kubectl(cp.kubeconfig, 'delete', 'crd', blocker.metadata.name);
    });
    const app = appRunner(watched, { app: 'decide-crd', defaultNamespace: ns });
    const widget: KubeObject = {
      apiVersion: `${group}/v1`,
      kind: 'Gadget',
      metadata: { name: 'one', namespace: ns },
      spec: { size: 3 },
    };
    const result = await app.run(manifests(namespace(ns), gadgets, widget), 'rev1');
    expect(actionOf(result, 'CustomResourceDefinition', gadgets.metadata.name)?.action).toBe('unchanged');
    expect(actionOf(result, 'Gadget', 'one')?.action).toBe('created');
    expect(result.outcome).toBe('Synced');
    expect((await kubectlGet(cp.kubeconfig, `gadgets.${group}`, 'one', ns))?.spec).toEqual({ size: 3 });
  });
});

/** The KubeClient, but `onFirstCrdRead` runs once, before the first GET of the CRD `name`. */
function observingCrdReads(inner: KubeClient, name: string, onFirstCrdRead: () => Promise<void>): KubeClient {
  let fired = false;
  return {
    get server() {
      return inner.server;
    },
    get requestCount() {
      return inner.requestCount;
    },
    async request(req) {
      if (!fired && req.method === 'GET' && req.path === `${CRDS}/${name}`) {
        fired = true;
        await onFirstCrdRead();
      }
      return inner.request(req);
    },
  };
}
