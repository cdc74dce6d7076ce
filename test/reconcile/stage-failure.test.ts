/**
 * Stages stop at the first failed stage: a write that fails after its dry run passed (a quota used
 * up in between, an admission webhook that only sees real writes; played here by a client that
 * refuses the real PATCH of chosen objects) leaves every later stage unwritten and reported
 * `skipped`, naming the stage that failed. Every object of the set appears in the run record, also
 * when it never got to its dry run; what a refused set did not write is `skipped`, not `unchanged`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { KubeClient, KubeRequest } from '../../lambda/cluster/kube-client.ts';
import { reconcile } from '../../lambda/reconcile/reconcile.ts';
import type { KubeObject, ReconcileResult } from '../../lambda/reconcile/types.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import {
  actionOf,
  configMap,
  cp,
  deployment,
  gizmoCrd,
  manifests,
  namespace,
  platformClient,
} from './harness.ts';

/** `kube`, except that the real (not dry-run) write of each path matching `refused` is Forbidden. */
function refusingWrites(kube: KubeClient, refused: RegExp): KubeClient {
  return {
    get server() {
      return kube.server;
    },
    get requestCount() {
      return kube.requestCount;
    },
    request<T>(req: KubeRequest) {
      if (req.method === 'PATCH' && req.query?.dryRun === undefined && refused.test(req.path)) {
        return Promise.resolve({
          status: 403,
          body: {
            kind: 'Status',
            status: 'Failure',
            reason: 'Forbidden',
            code: 403,
            message: 'exceeded quota: the write was refused after its dry run passed',
          } as T,
        });
      }
      return kube.request<T>(req);
    },
  };
}

function run(kube: KubeClient, app: string, ns: string, objects: KubeObject[]): Promise<ReconcileResult> {
  return reconcile({
    kube,
    desired: manifests(...objects),
    options: { app, revision: 'rev1', defaultNamespace: ns },
    state: { inventory: [] },
  });
}

const WEBHOOK = 'stage-failure-guard';

function webhook(ns: string): KubeObject {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: WEBHOOK },
    webhooks: [
      {
        name: 'guard.stage-failure.example.com',
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Fail',
        clientConfig: { service: { namespace: ns, name: 'guard', path: '/validate' } },
        // Only what nothing else in the test cluster creates.
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
        objectSelector: { matchLabels: { 'stage-failure.example.com/guarded': 'true' } },
        rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] }],
      },
    ],
  };
}

function service(name: string, ns: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns },
    spec: { selector: { app: name }, ports: [{ port: 443, targetPort: 8443, protocol: 'TCP' }] },
  };
}

afterAll(async () => {
  await kubectl(cp.kubeconfig, 'delete', 'validatingwebhookconfiguration', WEBHOOK, '--ignore-not-found');
});

describe('stages stop at the first failed stage', () => {
  it('does not register a failurePolicy: Fail webhook whose Deployment failed to apply; it is skipped naming the stage', async () => {
    const NS = 'stage-failure-hook';
    const kube = refusingWrites(platformClient(), /\/deployments\/guard$/);
    const result = await run(kube, 'stage-failure-hook', NS, [
      webhook(NS),
      service('guard', NS),
      deployment('guard', NS),
      namespace(NS),
    ]);
    expect(result.outcome).toBe('Failed');
    expect(actionOf(result, 'Deployment', 'guard')).toMatchObject({
      action: 'failed',
      message: expect.stringMatching(/exceeded quota/),
    });
    expect(actionOf(result, 'Service', 'guard')?.action).toBe('created');
    expect(actionOf(result, 'ValidatingWebhookConfiguration', WEBHOOK)).toMatchObject({
      action: 'skipped',
      message: expect.stringMatching(/stage "workloads" failed.*Deployment stage-failure-hook\/guard/),
    });
    expect(result.error).toMatch(/stage "workloads" failed/);
    expect(await kubectlGet(cp.kubeconfig, 'validatingwebhookconfiguration', WEBHOOK)).toBeUndefined();
    expect(result.resources).toHaveLength(4);
  });

  it('reports the objects of a Namespace whose write failed as skipped instead of dropping them', async () => {
    const NS = 'stage-failure-ns';
    const kube = refusingWrites(platformClient(), new RegExp(`/namespaces/${NS}$`));
    const result = await run(kube, 'stage-failure-ns', NS, [
      configMap('settings', NS, { a: '1' }),
      deployment('web', NS),
      namespace(NS),
    ]);
    expect(result.outcome).toBe('Failed');
    expect(result.resources).toHaveLength(3);
    expect(actionOf(result, 'Namespace', NS)?.action).toBe('failed');
    for (const [kind, name] of [
      ['ConfigMap', 'settings'],
      ['Deployment', 'web'],
    ]) {
      expect(actionOf(result, kind as string, name as string)).toMatchObject({
        action: 'skipped',
        message: expect.stringContaining(`Namespace ${NS}`),
      });
    }
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'settings', NS)).toBeUndefined();
  });

  it('reports the custom resources of a CRD whose write failed as skipped', async () => {
    const NS = 'stage-failure-crd';
    const group = 'stage-failure.example.com';
    const kube = refusingWrites(
      platformClient(),
      /\/customresourcedefinitions\/gizmos\.stage-failure\.example\.com$/,
    );
    const gizmo: KubeObject = {
      apiVersion: `${group}/v1`,
      kind: 'Gizmo',
      metadata: { name: 'g1', namespace: NS },
    };
    await kubectl(cp.kubeconfig, 'create', 'namespace', NS);
    const result = await run(kube, 'stage-failure-crd', NS, [
      gizmo,
      gizmoCrd(group),
      configMap('settings', NS, {}),
    ]);
    expect(result.outcome).toBe('Failed');
    expect(result.resources).toHaveLength(3);
    expect(actionOf(result, 'CustomResourceDefinition', `gizmos.${group}`)?.action).toBe('failed');
    expect(actionOf(result, 'Gizmo', 'g1')).toMatchObject({
      action: 'skipped',
      message: expect.stringContaining(`CustomResourceDefinition gizmos.${group}`),
    });
    expect(actionOf(result, 'ConfigMap', 'settings')?.action).toBe('skipped');
  });

  it('reports what a refused set would have written as skipped, never unchanged; what is in sync stays unchanged', async () => {
    const NS = 'stage-failure-refused';
    const kube = platformClient();
    await run(kube, 'stage-failure-refused', NS, [namespace(NS), configMap('same', NS, { a: '1' })]);
    const typo = deployment('web', NS);
    (typo.spec as Record<string, unknown>).replica = 3;
    const result = await run(kube, 'stage-failure-refused', NS, [
      namespace(NS),
      configMap('same', NS, { a: '1' }),
      configMap('fresh', NS, { b: '2' }),
      typo,
    ]);
    expect(result.outcome).toBe('Failed');
    expect(actionOf(result, 'Deployment', 'web')?.action).toBe('failed');
    expect(actionOf(result, 'ConfigMap', 'fresh')).toMatchObject({
      action: 'skipped',
      message: expect.stringMatching(/a bad set writes nothing/),
    });
    expect(actionOf(result, 'ConfigMap', 'same')?.action).toBe('unchanged');
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'fresh', NS)).toBeUndefined();
  });
});
