/**
 * Engine fidelity: what a real release needs beyond the happy path. Each case was a defect on real
 * manifests (see issue "Engine fidelity"): a namespace on a cluster-scoped object, a key removed
 * from a Secret's stringData, fields owned by client-side kubectl apply, webhooks applied before
 * their Services, running Jobs, immutable fields and the `driftless.dev/force` annotation.
 */
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiErrorMessage } from '../../lambda/reconcile/apply.ts';
import { healthOf } from '../../lambda/reconcile/health.ts';
import { ADMISSION_STAGE, stageOf, WORKLOAD_STAGE } from '../../lambda/reconcile/stages.ts';
import type { KubeObject } from '../../lambda/reconcile/types.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import {
  actionOf,
  appRunner,
  configMap,
  cp,
  deployment,
  manifests,
  namespace,
  platformClient,
} from './harness.ts';

const kube = platformClient();

const secret = (name: string, ns: string, fields: Record<string, unknown>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: ns },
  type: 'Opaque',
  ...fields,
});

/**
 * Before driftless, the team applied ConfigMap `settings` (a and b, labelled for app `namespace`)
 * client-side into a new Namespace: kubectl-client-side-apply owns its fields. Returns a reader of
 * its field managers.
 */
async function clientSideApplied(namespace: string): Promise<() => Promise<string[]>> {
  await kubectl(cp.kubeconfig, 'create', 'namespace', namespace);
  const file = join(tmpdir(), `${namespace}-${process.pid}.json`);
  const labelled = configMap('settings', namespace, { a: '1', b: '2' });
  labelled.metadata.labels = { 'driftless.dev/app': namespace };
  await writeFile(file, JSON.stringify(labelled));
  await kubectl(cp.kubeconfig, 'apply', '-f', file);
  await rm(file);
  return async () => {
    const out = await kubectl(
      cp.kubeconfig,
      'get',
      'configmap',
      'settings',
      '-n',
      namespace,
      '-o',
      'json',
      '--show-managed-fields',
    );
    return (JSON.parse(out).metadata.managedFields as { manager: string }[]).map((m) => m.manager);
  };
}

describe('manifests as kubectl takes them', () => {
  it('applies a cluster-scoped object that names a namespace, dropping the namespace and saying so', async () => {
    const app = appRunner(kube, { app: 'fid-scope', defaultNamespace: 'fid-scope' });
    const ingressClass: KubeObject = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'IngressClass',
      metadata: { name: 'fid-nginx', namespace: 'ingress-nginx' },
      spec: { controller: 'k8s.io/ingress-nginx' },
    };
    const result = await app.run(manifests(['deploy.yaml', ingressClass]), 'rev1');
    expect(result.outcome).toBe('Synced');
    expect(actionOf(result, 'IngressClass', 'fid-nginx')).toMatchObject({
      action: 'created',
      message: expect.stringContaining(
        'IngressClass fid-nginx is cluster-scoped: namespace "ingress-nginx" in deploy.yaml (document 0) was ignored',
      ),
    });
    expect(actionOf(result, 'IngressClass', 'fid-nginx')?.namespace).toBeUndefined();
    expect((await kubectlGet(cp.kubeconfig, 'ingressclass', 'fid-nginx'))?.spec.controller).toBe(
      'k8s.io/ingress-nginx',
    );
    const again = await app.run(manifests(['deploy.yaml', ingressClass]), 'rev2');
    expect(actionOf(again, 'IngressClass', 'fid-nginx')?.action).toBe('unchanged');
  });

  it('removes from the cluster a key removed from a Secret stringData (kubernetes#108008)', async () => {
    const NS = 'fid-stringdata';
    const app = appRunner(kube, { app: 'fid-stringdata', defaultNamespace: NS });
    await app.run(
      manifests(namespace(NS), secret('creds', NS, { stringData: { user: 'admin', password: 'hunter2' } })),
      'rev1',
    );
    expect(Object.keys((await kubectlGet(cp.kubeconfig, 'secret', 'creds', NS))?.data).sort()).toEqual([
      'password',
      'user',
    ]);
    const result = await app.run(
      manifests(namespace(NS), secret('creds', NS, { stringData: { user: 'admin' } })),
      'rev2',
    );
    expect(actionOf(result, 'Secret', 'creds')?.action).toBe('configured');
    expect(Object.keys((await kubectlGet(cp.kubeconfig, 'secret', 'creds', NS))?.data)).toEqual(['user']);
    expect(JSON.stringify(result)).not.toContain('hunter2');
    expect(JSON.stringify(result)).not.toContain(Buffer.from('hunter2').toString('base64'));
  });

  it('removes a field Git dropped from an object first created with client-side kubectl apply', async () => {
    const NS = 'fid-csa';
    const managers = await clientSideApplied(NS);
    expect(await managers()).toEqual(['kubectl-client-side-apply']);

    const app = appRunner(kube, { app: 'fid-csa', defaultNamespace: NS });
    const first = await app.run(manifests(configMap('settings', NS, { a: '1', b: '2' })), 'rev1');
    expect(first.outcome).toBe('Synced');
    expect(await managers()).toEqual(['driftless']);

    const result = await app.run(manifests(configMap('settings', NS, { a: '1' })), 'rev2');
    expect(actionOf(result, 'ConfigMap', 'settings')?.action).toBe('configured');
    const live = await kubectlGet(cp.kubeconfig, 'configmap', 'settings', NS);
    expect(live?.data).toEqual({ a: '1' });
    expect(live?.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration']).toBeUndefined();
  });

  it('moves no field manager of a client-side applied object when the set is refused (a bad set writes nothing)', async () => {
    const NS = 'fid-csa-refused';
    const managers = await clientSideApplied(NS);
    const before = await kubectlGet(cp.kubeconfig, 'configmap', 'settings', NS);

    const app = appRunner(kube, { app: 'fid-csa-refused', defaultNamespace: NS });
    const typo = deployment('web', NS);
    (typo.spec as Record<string, unknown>).replica = 3;
    const refused = await app.run(manifests(configMap('settings', NS, { a: '1' }), typo), 'rev1');
    expect(refused.outcome).toBe('Failed');
    expect(actionOf(refused, 'Deployment', 'web')?.action).toBe('failed');
    expect(await managers()).toEqual(['kubectl-client-side-apply']);
    const after = await kubectlGet(cp.kubeconfig, 'configmap', 'settings', NS);
    expect(after?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);

    // Once the set is good, the write moves the managers and then drops the field Git dropped.
    const synced = await app.run(manifests(configMap('settings', NS, { a: '1' })), 'rev2');
    expect(synced.outcome).toBe('Synced');
    expect(actionOf(synced, 'ConfigMap', 'settings')).toMatchObject({
      action: 'configured',
      message: expect.stringContaining('moved to driftless'),
      diff: expect.stringContaining('-  b: "2"'),
    });
    expect(await managers()).toEqual(['driftless']);
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'settings', NS))?.data).toEqual({ a: '1' });
  });
});

describe('apply order', () => {
  it('puts admission webhooks and policies after every other kind', () => {
    for (const kind of [
      'ValidatingWebhookConfiguration',
      'MutatingWebhookConfiguration',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicyBinding',
    ]) {
      expect(stageOf('admissionregistration.k8s.io/v1', kind)).toBe(ADMISSION_STAGE);
    }
    expect(stageOf('v1', 'Service')).toBe(WORKLOAD_STAGE);
    expect(ADMISSION_STAGE).toBeGreaterThan(WORKLOAD_STAGE);
  });

  it('creates the objects a failurePolicy: Fail webhook would reject before the webhook exists', async () => {
    const NS = 'fid-webhook';
    const app = appRunner(kube, { app: 'fid-webhook', defaultNamespace: NS });
    // The webhook's Service has no endpoints here: once it exists, every ConfigMap write in NS fails.
    const webhook: KubeObject = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'fid-webhook' },
      webhooks: [
        {
          name: 'check.fid-webhook.example.com',
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Fail',
          timeoutSeconds: 2,
          clientConfig: { service: { name: 'checker', namespace: NS, path: '/check' } },
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NS } },
          rules: [
            {
              apiGroups: [''],
              apiVersions: ['v1'],
              operations: ['CREATE', 'UPDATE'],
              resources: ['configmaps'],
            },
          ],
        },
      ],
    };
    const service: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'checker', namespace: NS },
      spec: { ports: [{ port: 443, targetPort: 8443, protocol: 'TCP' }], selector: { app: 'checker' } },
    };
    const configMaps = Array.from({ length: 12 }, (_, i) => configMap(`c${i}`, NS, { i: String(i) }));
    try {
      // The webhook's file sorts first; without the admission stage it races its siblings.
      const result = await app.run(
        manifests(['a-webhook.yaml', webhook], namespace(NS), service, ...configMaps),
        'rev1',
      );
      expect(result.resources.filter((r) => r.action !== 'created')).toEqual([]);
      expect(result.resources.at(-1)).toMatchObject({
        kind: 'ValidatingWebhookConfiguration',
        action: 'created',
      });
      expect(result.outcome).toBe('Synced');
    } finally {
      await kubectl(
        cp.kubeconfig,
        'delete',
        'validatingwebhookconfiguration',
        'fid-webhook',
        '--ignore-not-found',
      );
    }
  });
});

describe('health', () => {
  const job = (
    status: Record<string, unknown> | undefined,
    spec: Record<string, unknown> = {},
  ): KubeObject => ({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'j', generation: 1 },
    spec,
    ...(status ? { status } : {}),
  });

  it('reports a running or not yet started Job as Progressing, a complete one Healthy, a failed one Degraded', () => {
    expect(healthOf(job(undefined))).toBe('Progressing');
    expect(healthOf(job({ active: 1, startTime: '2026-01-01T00:00:00Z' }))).toBe('Progressing');
    expect(healthOf(job({ succeeded: 1, conditions: [{ type: 'Complete', status: 'True' }] }))).toBe(
      'Healthy',
    );
    expect(healthOf(job({ failed: 1, conditions: [{ type: 'Failed', status: 'True' }] }))).toBe('Degraded');
    expect(healthOf(job(undefined, { suspend: true }))).toBe('Healthy');
  });
});

describe('immutable fields', () => {
  it('never returns the API text of an immutable-field rejection of a Secret', () => {
    const message = apiErrorMessage({ apiVersion: 'v1', kind: 'Secret', namespace: 'x', name: 's' }, 422, {
      kind: 'Status',
      reason: 'Invalid',
      message: 'Secret "s" is invalid: data: Invalid value: "c3VwZXJzZWNyZXQ=": field is immutable',
      details: {
        causes: [{ field: 'data', message: 'Invalid value: "c3VwZXJzZWNyZXQ=": field is immutable' }],
      },
    });
    expect(message).toMatch(/^Secret x\/s: data is immutable/);
    expect(message).toContain('driftless.dev/force: enabled');
    expect(message).not.toContain('c3VwZXJzZWNyZXQ');
  });

  it('fails a changed immutable field naming the field and the force annotation', async () => {
    const NS = 'fid-immutable';
    const app = appRunner(kube, { app: 'fid-immutable', defaultNamespace: NS });
    await app.run(manifests(namespace(NS), deployment('web', NS, { app: 'web' })), 'rev1');
    const result = await app.run(manifests(namespace(NS), deployment('web', NS, { app: 'web-v2' })), 'rev2');
    expect(actionOf(result, 'Deployment', 'web')).toMatchObject({
      action: 'failed',
      message: expect.stringMatching(
        /spec\.selector is immutable.*annotate the object driftless\.dev\/force: enabled/,
      ),
    });
  });

  it('deletes and re-creates an object annotated driftless.dev/force: enabled when an immutable field changes', async () => {
    const NS = 'fid-force';
    const app = appRunner(kube, { app: 'fid-force', defaultNamespace: NS });
    const forced = (selector: string) => {
      const d = deployment('web', NS, { app: selector });
      d.metadata.annotations = { 'driftless.dev/force': 'enabled' };
      return d;
    };
    await app.run(manifests(namespace(NS), forced('web')), 'rev1');
    const before = await kubectlGet(cp.kubeconfig, 'deployment', 'web', NS);

    const plan = await app.run(manifests(namespace(NS), forced('web-v2')), 'rev2', { dryRun: true });
    expect(actionOf(plan, 'Deployment', 'web')).toMatchObject({
      action: 'configured',
      message: expect.stringContaining(
        'spec.selector cannot change in place: would be deleted and re-created',
      ),
    });
    expect((await kubectlGet(cp.kubeconfig, 'deployment', 'web', NS))?.metadata.uid).toBe(
      before?.metadata.uid,
    );

    const result = await app.run(manifests(namespace(NS), forced('web-v2')), 'rev2');
    expect(actionOf(result, 'Deployment', 'web')).toMatchObject({
      action: 'configured',
      message: expect.stringContaining('deleted and re-created: spec.selector cannot change in place'),
    });
    expect(result.outcome).toBe('Synced');
    const after = await kubectlGet(cp.kubeconfig, 'deployment', 'web', NS);
    expect(after?.metadata.uid).not.toBe(before?.metadata.uid);
    expect(after?.spec.selector.matchLabels.app).toBe('web-v2');
  });

  it('waits for the finalizers of the deleted object before re-creating it', async () => {
    const NS = 'fid-force-finalizer';
    const app = appRunner(kube, { app: 'fid-force-finalizer', defaultNamespace: NS });
    const frozen = (value: string): KubeObject => ({
      ...configMap('frozen', NS, { v: value }),
      immutable: true,
      metadata: {
        name: 'frozen',
        namespace: NS,
        annotations: { 'driftless.dev/force': 'enabled' },
        finalizers: ['example.com/hold'],
      },
    });
    await app.run(manifests(namespace(NS), frozen('1')), 'rev1');
    const before = await kubectlGet(cp.kubeconfig, 'configmap', 'frozen', NS);
    const running = app.run(manifests(namespace(NS), frozen('2')), 'rev2');
    // Play the controller that owns the finalizer: release it once the object is being deleted.
    for (;;) {
      const live = await kubectlGet(cp.kubeconfig, 'configmap', 'frozen', NS);
      if (live?.metadata.deletionTimestamp) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await kubectl(
      cp.kubeconfig,
      'patch',
      'configmap',
      'frozen',
      '-n',
      NS,
      '--type=merge',
      '-p',
      '{"metadata":{"finalizers":null}}',
    );
    const result = await running;
    expect(actionOf(result, 'ConfigMap', 'frozen')).toMatchObject({
      action: 'configured',
      message: expect.stringContaining('deleted and re-created'),
    });
    const after = await kubectlGet(cp.kubeconfig, 'configmap', 'frozen', NS);
    expect(after?.metadata.uid).not.toBe(before?.metadata.uid);
    expect(after?.data).toEqual({ v: '2' });
    await kubectl(
      cp.kubeconfig,
      'patch',
      'configmap',
      'frozen',
      '-n',
      NS,
      '--type=merge',
      '-p',
      '{"metadata":{"finalizers":null}}',
    );
  });
});
