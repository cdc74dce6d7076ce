/** Same revision, live drifted: self-heal re-applies; without it the drift is reported and left alone. */
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

const NS = 'drift-ns';

describe('drift on the same revision', () => {
  const kube = adminClient();
  const desired = manifests(
    namespace(NS),
    deployment('web', NS, { replicas: 2 }),
    configMap('settings', NS, { color: 'blue' }),
    configMap('extra', NS, { keep: 'me' }),
  );

  it('reports an edited field, scaled replicas and a deleted object as drifted and touches nothing without self-heal', async () => {
    const app = appRunner(kube, { app: 'drift-report', defaultNamespace: NS });
    expect((await app.run(desired, 'rev1')).outcome).toBe('Synced');
    await kubectl(cp.kubeconfig, 'scale', 'deployment', 'web', '-n', NS, '--replicas=5');
    await kubectl(
      cp.kubeconfig,
      'patch',
      'configmap',
      'settings',
      '-n',
      NS,
      '-p',
      '{"data":{"color":"red"}}',
    );
    await kubectl(cp.kubeconfig, 'delete', 'configmap', 'extra', '-n', NS);
    const before = app.state;

    const result = await app.run(desired, 'rev1');
    expect(result.outcome).toBe('OutOfSync');
    expect(actionOf(result, 'Deployment', 'web')).toMatchObject({
      action: 'drifted',
      diff: expect.stringMatching(/-\s+replicas: 5\n\+\s+replicas: 2/),
    });
    expect(actionOf(result, 'ConfigMap', 'settings')).toMatchObject({
      action: 'drifted',
      diff: expect.stringContaining('+  color: blue'),
    });
    expect(actionOf(result, 'ConfigMap', 'extra')).toMatchObject({
      action: 'drifted',
      message: expect.stringMatching(/deleted/),
    });
    expect(actionOf(result, 'Namespace', NS)?.action).toBe('unchanged');

    expect((await kubectlGet(cp.kubeconfig, 'deployment', 'web', NS))?.spec.replicas).toBe(5);
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'settings', NS))?.data.color).toBe('red');
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'extra', NS)).toBeUndefined();
    // Drift stays detectable on the next run: the inventory keeps the last applied versions.
    expect(result.state.inventory).toEqual(before.inventory);
    expect((await app.run(desired, 'rev1')).outcome).toBe('OutOfSync');
  });

  it('re-applies edited and scaled objects and re-creates deleted ones with self-heal, reporting what it took back', async () => {
    const app = appRunner(kube, { app: 'drift-report', defaultNamespace: NS, selfHeal: true });
    app.state = { revision: 'rev1', inventory: [] };
    // The objects exist from the first test; adopt them, then drift them again.
    const adopted = await app.run(desired, 'rev2');
    expect(adopted.outcome).toBe('Synced');
    await kubectl(cp.kubeconfig, 'scale', 'deployment', 'web', '-n', NS, '--replicas=4');
    await kubectl(
      cp.kubeconfig,
      'patch',
      'configmap',
      'settings',
      '-n',
      NS,
      '-p',
      '{"data":{"color":"green"}}',
    );
    await kubectl(cp.kubeconfig, 'delete', 'configmap', 'extra', '-n', NS);

    const healed = await app.run(desired, 'rev2');
    expect(healed.outcome).toBe('Synced');
    // A current server records the scale subresource's manager, so the taken field is named too.
    expect(actionOf(healed, 'Deployment', 'web')).toMatchObject({
      action: 'configured',
      message: 'drift healed: re-applied; took spec.replicas from "kubectl"',
    });
    expect(actionOf(healed, 'ConfigMap', 'settings')).toMatchObject({
      action: 'configured',
      message: 'drift healed: re-applied; took data.color from "kubectl-patch"',
    });
    expect(actionOf(healed, 'ConfigMap', 'extra')).toMatchObject({
      action: 'created',
      message: expect.stringMatching(/re-created/),
    });
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'settings', NS))?.data.color).toBe('blue');
    expect((await kubectlGet(cp.kubeconfig, 'deployment', 'web', NS))?.spec.replicas).toBe(2);
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'extra', NS))?.data.keep).toBe('me');
  });

  it('treats a resourceVersion bump that changed nothing Git owns as unchanged', async () => {
    const app = appRunner(kube, { app: 'drift-report', defaultNamespace: NS, selfHeal: true });
    await app.run(desired, 'rev3');
    await kubectl(cp.kubeconfig, 'annotate', 'configmap', 'settings', '-n', NS, 'someone.else/note=hello');
    const result = await app.run(desired, 'rev3');
    expect(actionOf(result, 'ConfigMap', 'settings')?.action).toBe('unchanged');
    expect(result.outcome).toBe('Synced');
  });

  it('treats a changed path at the same commit as a change from Git, not as drift', async () => {
    const ns = 'drift-path';
    const app = appRunner(kube, { app: 'drift-path', defaultNamespace: ns, prune: true });
    const staging = manifests(
      namespace(ns),
      configMap('shared', ns, { env: 'staging' }),
      configMap('staging-only', ns, { a: '1' }),
    );
    const prod = manifests(
      namespace(ns),
      configMap('shared', ns, { env: 'prod' }),
      configMap('prod-only', ns, { b: '1' }),
    );
    expect((await app.run(staging, 'c0ffee')).outcome).toBe('Synced');

    // Same commit, other folder (e.g. --path prod): without self-heal, nothing is held back as drift.
    const result = await app.run(prod, 'c0ffee');
    expect(result.outcome).toBe('Synced');
    expect(actionOf(result, 'ConfigMap', 'shared')?.action).toBe('configured');
    expect(actionOf(result, 'ConfigMap', 'prod-only')?.action).toBe('created');
    expect(actionOf(result, 'ConfigMap', 'staging-only')?.action).toBe('pruned');
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'shared', ns))?.data).toEqual({ env: 'prod' });
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'prod-only', ns)).toBeDefined();
  });

  it('compares each object in its own API version when one kind is declared in two (HPA v1 and v2)', async () => {
    const ns = 'drift-versions';
    const target = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' };
    const hpaV1 = {
      apiVersion: 'autoscaling/v1',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'hpa-v1', namespace: ns },
      spec: { scaleTargetRef: target, minReplicas: 1, maxReplicas: 3, targetCPUUtilizationPercentage: 70 },
    };
    const hpaV2 = {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'hpa-v2', namespace: ns },
      spec: {
        scaleTargetRef: target,
        minReplicas: 1,
        maxReplicas: 3,
        metrics: [
          {
            type: 'Resource',
            resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
          },
        ],
      },
    };
    const app = appRunner(kube, { app: 'drift-versions', defaultNamespace: ns });
    const desired = manifests(namespace(ns), hpaV1, hpaV2);
    expect((await app.run(desired, 'rev1')).outcome).toBe('Synced');
    // Someone else writes both (an annotation only): their resourceVersions move, Git still matches.
    for (const name of ['hpa-v1', 'hpa-v2']) {
      await kubectl(cp.kubeconfig, 'annotate', 'hpa', name, '-n', ns, 'note=ops');
    }
    const again = await app.run(desired, 'rev1');
    expect(again.resources.map((r) => `${r.name}:${r.action}`)).toEqual([
      `${ns}:unchanged`,
      'hpa-v1:unchanged',
      'hpa-v2:unchanged',
    ]);
    expect(again.outcome).toBe('Synced');
  });
});
