/**
 * Health after applying, kstatus-like, against the whole test cluster: the Deployment controller,
 * the scheduler and kwok's nodes roll workloads out by themselves; nothing writes a status by hand.
 * An image named `registry.invalid/never-pulls:*` never starts (test/support/kwok-stages.yaml).
 */
import { describe, expect, inject, it } from 'vitest';
import { healthOf, worstHealth } from '../../lambda/reconcile/health.ts';
import type { KubeObject } from '../../lambda/reconcile/types.ts';
import { actionOf, adminClient, appRunner, configMap, deployment, manifests, namespace } from './harness.ts';

const available = (replicas: number) => ({
  replicas,
  updatedReplicas: replicas,
  readyReplicas: replicas,
  availableReplicas: replicas,
  conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }],
});

/** A Deployment whose Pods never start, failing after `deadline` seconds without progress. */
function neverPulls(name: string, ns: string, deadline: number): KubeObject {
  const d = deployment(name, ns, { image: 'registry.invalid/never-pulls:1' });
  return { ...d, spec: { ...(d.spec as object), progressDeadlineSeconds: deadline } };
}

const controllers = inject('controlPlane').controllersMissing;

describe.skipIf(controllers)(`health with controllers running (${controllers ?? 'they run'})`, () => {
  const kube = adminClient();

  it('records a Deployment its controller has not picked up yet as Progressing and a ConfigMap as Healthy', async () => {
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

  it('waits within the bound for a Deployment to become available by itself', async () => {
    const NS = 'health-wait';
    const app = appRunner(kube, { app: 'health-wait', defaultNamespace: NS });
    const result = await app.run(manifests(namespace(NS), deployment('web', NS, { replicas: 2 })), 'rev1', {
      healthTimeoutMs: 60_000,
    });
    expect(actionOf(result, 'Deployment', 'web')?.health).toBe('Healthy');
    expect(result.health).toBe('Healthy');
  });

  it('reads health from the LIST on a no-op re-sync and reports a stalled rollout as Degraded', async () => {
    const NS = 'health-degraded';
    const app = appRunner(kube, { app: 'health-degraded', defaultNamespace: NS });
    const desired = manifests(namespace(NS), neverPulls('web', NS, 3));
    const first = await app.run(desired, 'rev1');
    expect(actionOf(first, 'Deployment', 'web')?.health).toBe('Progressing');
    // The controller marks it once the deadline passes without progress.
    for (let i = 0; i < 120; i++) {
      const res = await kube.request<KubeObject>({
        method: 'GET',
        path: `/apis/apps/v1/namespaces/${NS}/deployments/web`,
      });
      if (healthOf(res.body) === 'Degraded') break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
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
