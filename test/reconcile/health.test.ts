/**
 * Health after applying, kstatus-like. No controllers run on the local API server, so the tests
 * play the controller and write status through the status subresource.
 */
import { describe, expect, it } from 'vitest';
import type { KubeClient } from '../../lambda/cluster/kube-client.ts';
import { healthOf, worstHealth } from '../../lambda/reconcile/health.ts';
import type { KubeObject } from '../../lambda/reconcile/types.ts';
import { actionOf, adminClient, appRunner, configMap, deployment, manifests, namespace } from './harness.ts';

async function setDeploymentStatus(
  kube: KubeClient,
  ns: string,
  name: string,
  status: Record<string, unknown>,
) {
  const path = `/apis/apps/v1/namespaces/${ns}/deployments/${name}`;
  const live = await kube.request<KubeObject>({ method: 'GET', path });
  const res = await kube.request({
    method: 'PATCH',
    path: `${path}/status`,
    contentType: 'application/merge-patch+json',
    body: { status: { observedGeneration: live.body.metadata.generation, ...status } },
  });
  expect(res.status).toBe(200);
}

const available = (replicas: number) => ({
  replicas,
  updatedReplicas: replicas,
  readyReplicas: replicas,
  availableReplicas: replicas,
  conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }],
});

describe('health', () => {
  const kube = adminClient();

  it('records a Deployment no controller has picked up as Progressing and a ConfigMap as Healthy', async () => {
    const NS = 'health-progress';
    const app = appRunner(kube, { app: 'health-progress', defaultNamespace: NS });
    const result = await app.run(
      manifests(namespace(NS), deployment('web', NS), configMap('c', NS, { a: '1' })),
      'rev1',
    );
    expect(actionOf(result, 'Deployment', 'web')?.health).toBe('Progressing');
    expect(actionOf(result, 'ConfigMap', 'c')?.health).toBe('Healthy');
    expect(actionOf(result, 'Namespace', NS)?.health).toBe('Healthy');
    expect(result.health).toBe('Progressing');
    expect(result.outcome).toBe('Synced');
  });

  it('waits within the bound for a Deployment to become available', async () => {
    const NS = 'health-wait';
    const app = appRunner(kube, { app: 'health-wait', defaultNamespace: NS });
    const running = app.run(manifests(namespace(NS), deployment('web', NS, { replicas: 2 })), 'rev1', {
      healthTimeoutMs: 30_000,
    });
    // Play the Deployment controller once the object exists.
    for (;;) {
      const res = await kube.request({
        method: 'GET',
        path: `/apis/apps/v1/namespaces/${NS}/deployments/web`,
      });
      if (res.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await setDeploymentStatus(kube, NS, 'web', available(2));
    const result = await running;
    expect(actionOf(result, 'Deployment', 'web')?.health).toBe('Healthy');
    expect(result.health).toBe('Healthy');
  });

  it('reads health from the LIST on a no-op re-sync and reports a stalled rollout as Degraded', async () => {
    const NS = 'health-degraded';
    const app = appRunner(kube, { app: 'health-degraded', defaultNamespace: NS });
    const desired = manifests(namespace(NS), deployment('web', NS));
    await app.run(desired, 'rev1');
    await setDeploymentStatus(kube, NS, 'web', {
      replicas: 1,
      updatedReplicas: 1,
      conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
    });
    const result = await app.run(desired, 'rev2');
    expect(actionOf(result, 'Deployment', 'web')).toMatchObject({ action: 'unchanged', health: 'Degraded' });
    expect(result.health).toBe('Degraded');
  });
});

describe('health rules', () => {
  const object = (kind: string, spec: unknown, status: unknown, generation = 1): KubeObject => ({
    apiVersion: 'x/v1',
    kind,
    metadata: { name: 'o', generation },
    spec,
    status,
  });

  it('treats an unobserved generation as Progressing', () => {
    expect(
      healthOf(object('Deployment', { replicas: 1 }, { ...available(1), observedGeneration: 1 }, 2)),
    ).toBe('Progressing');
  });

  it('compares StatefulSet ready replicas and revisions', () => {
    const sts = (status: object) =>
      object('StatefulSet', { replicas: 2 }, { observedGeneration: 1, ...status });
    expect(healthOf(sts({ readyReplicas: 1 }))).toBe('Progressing');
    expect(healthOf(sts({ readyReplicas: 2, currentRevision: 'a', updateRevision: 'b' }))).toBe(
      'Progressing',
    );
    expect(healthOf(sts({ readyReplicas: 2, currentRevision: 'b', updateRevision: 'b' }))).toBe('Healthy');
  });

  it('reads Ready and Stalled conditions of custom resources and calls objects without status Healthy', () => {
    expect(healthOf(object('Widget', {}, { conditions: [{ type: 'Ready', status: 'False' }] }))).toBe(
      'Progressing',
    );
    expect(healthOf(object('Widget', {}, { conditions: [{ type: 'Stalled', status: 'True' }] }))).toBe(
      'Degraded',
    );
    expect(healthOf(object('Widget', {}, { conditions: [{ type: 'Ready', status: 'True' }] }))).toBe(
      'Healthy',
    );
    expect(healthOf(object('ConfigMap', undefined, undefined))).toBe('Healthy');
  });

  it('ranks the app by its worst object', () => {
    expect(worstHealth(['Healthy', 'Progressing', 'Healthy'])).toBe('Progressing');
    expect(worstHealth(['Progressing', 'Degraded'])).toBe('Degraded');
    expect(worstHealth([])).toBe('Healthy');
  });
});
