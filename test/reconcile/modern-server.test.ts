/**
 * What only a current API server (the version EKS runs, see test/support/control-plane.env) has:
 * CEL validation rules in CRDs, server-side apply of list entries without their defaulted key,
 * and the version discovery reports.
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../lambda/reconcile/types.ts';
import { controlPlaneVersions } from '../support/control-plane.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import { actionOf, appRunner, cp, manifests, namespace, platformClient } from './harness.ts';

const NS = 'modern-ns';
const GROUP = 'modern.driftless.test';

const crd: KubeObject = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `scalers.${GROUP}` },
  spec: {
    group: GROUP,
    scope: 'Namespaced',
    names: { kind: 'Scaler', plural: 'scalers', singular: 'scaler', listKind: 'ScalerList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                properties: {
                  minReplicas: { type: 'integer' },
                  maxReplicas: { type: 'integer' },
                  extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                },
                'x-kubernetes-validations': [
                  {
                    rule: 'self.minReplicas <= self.maxReplicas',
                    message: 'minReplicas must not exceed maxReplicas',
                  },
                ],
              },
            },
          },
        },
      },
    ],
  },
};

const scaler = (name: string, min: number, max: number): KubeObject => ({
  apiVersion: `${GROUP}/v1`,
  kind: 'Scaler',
  metadata: { name, namespace: NS },
  spec: { minReplicas: min, maxReplicas: max, extra: { free: { form: ['kept'] } } },
});

describe('a current API server', () => {
  const kube = platformClient();

  it('is the version the tests are meant to run against', async () => {
    const version = JSON.parse(await kubectl(cp.kubeconfig, 'version', '-o', 'json'));
    expect(version.serverVersion.gitVersion).toBe(`v${controlPlaneVersions().kube}`);
    expect(version.clientVersion.gitVersion).toBe(`v${controlPlaneVersions().kube}`);
  });

  it('applies a CRD with a CEL rule and preserved unknown fields, and refuses a custom resource breaking the rule with the server message', async () => {
    const app = appRunner(kube, { app: 'modern-cel', defaultNamespace: NS });
    const first = await app.run(
      manifests(namespace(NS), crd, scaler('ok', 1, 3), scaler('bad', 5, 2)),
      'rev1',
    );

    // The CRD (and Namespace) others need go first; the set fails on the rule and writes no CR.
    expect(actionOf(first, 'CustomResourceDefinition', `scalers.${GROUP}`)?.action).toBe('created');
    expect(actionOf(first, 'Scaler', 'bad')).toMatchObject({
      action: 'failed',
      message: expect.stringContaining('minReplicas must not exceed maxReplicas'),
    });
    expect(actionOf(first, 'Scaler', 'ok')?.action).toBe('skipped');
    expect(first.outcome).toBe('Failed');
    expect(await kubectlGet(cp.kubeconfig, `scalers.${GROUP}`, 'bad', NS)).toBeUndefined();
    expect(await kubectlGet(cp.kubeconfig, `scalers.${GROUP}`, 'ok', NS)).toBeUndefined();

    const fixed = await app.run(manifests(namespace(NS), crd, scaler('ok', 1, 3)), 'rev2');
    expect(actionOf(fixed, 'Scaler', 'ok')?.action).toBe('created');
    expect(fixed.outcome).toBe('Synced');
    const live = await kubectlGet(cp.kubeconfig, `scalers.${GROUP}`, 'ok', NS);
    expect(live?.spec.extra).toEqual({ free: { form: ['kept'] } });
    const schema = (await kubectlGet(cp.kubeconfig, 'crd', `scalers.${GROUP}`))?.spec.versions[0].schema;
    expect(schema.openAPIV3Schema.properties.spec['x-kubernetes-validations']).toHaveLength(1);
  });

  it('applies a Service whose ports omit protocol, and finds nothing to change on a new revision', async () => {
    const service: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'no-protocol', namespace: NS },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    };
    const app = appRunner(kube, { app: 'modern-svc', defaultNamespace: NS });
    const first = await app.run(manifests(service), 'rev1');
    expect(first.resources).toEqual([expect.objectContaining({ kind: 'Service', action: 'created' })]);
    expect(first.outcome).toBe('Synced');
    const live = await kubectlGet(cp.kubeconfig, 'service', 'no-protocol', NS);
    expect(live?.spec.ports[0]).toMatchObject({ port: 80, protocol: 'TCP' });

    const second = await app.run(manifests(service), 'rev2');
    expect(second.resources).toEqual([expect.objectContaining({ kind: 'Service', action: 'unchanged' })]);
    expect(second.outcome).toBe('Synced');
  });
});
