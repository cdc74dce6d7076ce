/** Apply in stages: what a naive `kubectl apply -f <folder>` gets wrong on the first sync. */
import { describe, expect, it } from 'vitest';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import { actionOf, adminClient, appRunner, cp, deployment, manifests, namespace } from './harness.ts';

describe('staged apply', () => {
  it('creates a Namespace and the Deployment in it in one run although deployment.yaml sorts first', async () => {
    const kube = adminClient();
    const app = appRunner(kube, { app: 'nginx-stage', defaultNamespace: 'default', selfHeal: true });
    const desired = manifests(
      ['deployment.yaml', deployment('web', 'nginx-stage')],
      ['namespace.yaml', namespace('nginx-stage')],
    );

    const first = await app.run(desired, 'rev1');
    expect(first.error).toBeUndefined();
    expect(actionOf(first, 'Namespace', 'nginx-stage')?.action).toBe('created');
    expect(actionOf(first, 'Deployment', 'web')?.action).toBe('created');
    expect(first.outcome).toBe('Synced');
    const live = await kubectlGet(cp.kubeconfig, 'deployment', 'web', 'nginx-stage');
    expect(live?.metadata.labels['driftless.dev/app']).toBe('nginx-stage');
    expect(app.state.revision).toBe('rev1');
    expect(app.state.inventory).toHaveLength(2);

    await kubectl(cp.kubeconfig, 'delete', 'deployment', 'web', '-n', 'nginx-stage');
    const second = await app.run(desired, 'rev1');
    expect(actionOf(second, 'Deployment', 'web')).toMatchObject({
      action: 'created',
      message: expect.stringMatching(/drift healed/),
    });
    expect(actionOf(second, 'Namespace', 'nginx-stage')?.action).toBe('unchanged');
    expect(second.outcome).toBe('Synced');
    expect(await kubectlGet(cp.kubeconfig, 'deployment', 'web', 'nginx-stage')).toBeDefined();
  });
});
