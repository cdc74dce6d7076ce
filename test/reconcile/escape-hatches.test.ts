/**
 * Annotations in Git that take fields or objects out of driftless's hands:
 * `driftless.dev/ignore` (an HPA and Git no longer fight) and `driftless.dev/reconcile: disabled`.
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../lambda/reconcile/types.ts';
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

const kube = adminClient();

function annotated(object: KubeObject, annotations: Record<string, string>): KubeObject {
  return { ...object, metadata: { ...object.metadata, annotations } };
}

describe('driftless.dev/ignore', () => {
  const ns = 'hatch-ignore';
  const web = (image: string) =>
    annotated(deployment('web', ns, { replicas: 2, image }), { 'driftless.dev/ignore': '/spec/replicas' });

  it('leaves replicas scaled by someone else alone, with self-heal, and still applies the rest of Git', async () => {
    const app = appRunner(kube, { app: 'hatch-ignore', defaultNamespace: ns, selfHeal: true });
    // Created as in Git: the ignored field is only left out once the object exists.
    expect((await app.run(manifests(namespace(ns), web('nginx:1.25')), 'rev1')).outcome).toBe('Synced');
    expect((await kubectlGet(cp.kubeconfig, 'deployment', 'web', ns))?.spec.replicas).toBe(2);

    // While driftless alone owns replicas, leaving it out must not reset it to the default (1).
    const changed = await app.run(manifests(namespace(ns), web('nginx:1.26')), 'rev2');
    expect(actionOf(changed, 'Deployment', 'web')?.action).toBe('configured');
    let live = await kubectlGet(cp.kubeconfig, 'deployment', 'web', ns);
    expect(live?.spec.replicas).toBe(2);
    expect(live?.spec.template.spec.containers[0].image).toBe('nginx:1.26');

    // An autoscaler (here kubectl scale) takes replicas: self-heal does not take it back.
    await kubectl(cp.kubeconfig, 'scale', 'deployment', 'web', '-n', ns, '--replicas=5');
    const healed = await app.run(manifests(namespace(ns), web('nginx:1.26')), 'rev2');
    expect(actionOf(healed, 'Deployment', 'web')?.action).toBe('unchanged');
    expect(healed.outcome).toBe('Synced');
    expect((await kubectlGet(cp.kubeconfig, 'deployment', 'web', ns))?.spec.replicas).toBe(5);

    // A new revision applies Git's other changes and still leaves replicas to the autoscaler.
    const next = await app.run(manifests(namespace(ns), web('nginx:1.27')), 'rev3');
    expect(actionOf(next, 'Deployment', 'web')).toMatchObject({ action: 'configured' });
    expect(actionOf(next, 'Deployment', 'web')?.message ?? '').not.toMatch(/took spec.replicas/);
    live = await kubectlGet(cp.kubeconfig, 'deployment', 'web', ns);
    expect(live?.spec.replicas).toBe(5);
    expect(live?.spec.template.spec.containers[0].image).toBe('nginx:1.27');
    const withManagers = JSON.parse(
      await kubectl(
        cp.kubeconfig,
        'get',
        'deployment',
        'web',
        '-n',
        ns,
        '-o',
        'json',
        '--show-managed-fields',
      ),
    );
    const owners = (
      withManagers.metadata.managedFields as { manager: string; fieldsV1: Record<string, object> }[]
    )
      .filter((m) => 'f:replicas' in (m.fieldsV1['f:spec'] ?? {}))
      .map((m) => m.manager);
    expect(owners).not.toContain('driftless');
  });

  it('heals the same field without the annotation (the default the annotation opts out of)', async () => {
    const plain = 'hatch-ignore-off';
    const app = appRunner(kube, { app: 'hatch-ignore-off', defaultNamespace: plain, selfHeal: true });
    const desired = manifests(namespace(plain), deployment('web', plain, { replicas: 2 }));
    await app.run(desired, 'rev1');
    await kubectl(cp.kubeconfig, 'scale', 'deployment', 'web', '-n', plain, '--replicas=5');
    expect(actionOf(await app.run(desired, 'rev1'), 'Deployment', 'web')?.action).toBe('configured');
    expect((await kubectlGet(cp.kubeconfig, 'deployment', 'web', plain))?.spec.replicas).toBe(2);
  });

  it('refuses a value that is not a JSON pointer, naming the file and the object, before any write', async () => {
    const bad = 'hatch-ignore-bad';
    const app = appRunner(kube, { app: 'hatch-ignore-bad', defaultNamespace: bad });
    const result = await app.run(
      manifests(namespace(bad), [
        'deploy/web.yaml',
        annotated(deployment('web', bad), { 'driftless.dev/ignore': 'spec.replicas' }),
      ]),
      'rev1',
    );
    expect(result.outcome).toBe('Failed');
    expect(result.error).toMatch(
      /deploy\/web\.yaml \(document 0\): Deployment web: driftless.dev\/ignore: "spec.replicas" is not a JSON pointer/,
    );
    expect(await kubectlGet(cp.kubeconfig, 'namespace', bad)).toBeUndefined();
  });
});

describe('driftless.dev/reconcile: disabled', () => {
  const ns = 'hatch-disabled';
  const off = { 'driftless.dev/reconcile': 'disabled' };

  it('neither applies, heals nor prunes the object, and says so', async () => {
    const app = appRunner(kube, { app: 'hatch-disabled', defaultNamespace: ns, selfHeal: true, prune: true });
    const first = await app.run(
      manifests(
        namespace(ns),
        configMap('held', ns, { v: '1' }),
        annotated(configMap('never', ns, { v: '1' }), off),
      ),
      'rev1',
    );
    expect(first.outcome).toBe('Synced');
    expect(actionOf(first, 'ConfigMap', 'never')).toMatchObject({
      action: 'unchanged',
      message: expect.stringMatching(/left alone: driftless.dev\/reconcile: disabled/),
    });
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'never', ns)).toBeUndefined();

    // Git changes it and turns reconciling off: the change is not applied, hand edits not healed.
    await kubectl(cp.kubeconfig, 'patch', 'configmap', 'held', '-n', ns, '-p', '{"data":{"v":"by-hand"}}');
    const held = annotated(configMap('held', ns, { v: '2' }), off);
    const second = await app.run(manifests(namespace(ns), held), 'rev2');
    expect(actionOf(second, 'ConfigMap', 'held')).toMatchObject({
      action: 'unchanged',
      message: expect.stringMatching(/not applied, healed or pruned/),
    });
    expect(second.outcome).toBe('Synced');
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'held', ns))?.data).toEqual({ v: 'by-hand' });

    // Removed from Git while left alone: prune keeps it.
    const third = await app.run(manifests(namespace(ns)), 'rev3');
    expect(actionOf(third, 'ConfigMap', 'held')?.action).toBe('unchanged');
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'held', ns)).toBeDefined();
  });
});
