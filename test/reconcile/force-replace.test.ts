/**
 * `driftless.dev/force: enabled` deletes and re-creates an object whose immutable field changed,
 * but only once a server-side dry-run create of the exact desired object shows the create would
 * pass validation and admission (on an existing name the server answers 409 AlreadyExists only
 * after both). A 422 that carries a real validation error beside the immutable field keeps the
 * live object.
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../lambda/reconcile/types.ts';
import { kubectlGet } from '../support/kubectl.ts';
import { actionOf, appRunner, cp, deployment, manifests, namespace, platformClient } from './harness.ts';

/** A forced Deployment `web` with `selector` as its selector and `labels` on its pods. */
function forced(ns: string, selector: string, labels = selector): KubeObject {
  const d = deployment('web', ns, { app: selector });
  d.metadata.annotations = { 'driftless.dev/force': 'enabled' };
  const spec = d.spec as { template: { metadata: { labels: Record<string, string> } } };
  spec.template.metadata.labels = { app: labels };
  return d;
}

const uidOf = async (ns: string) => (await kubectlGet(cp.kubeconfig, 'deployment', 'web', ns))?.metadata.uid;

describe('force replace', () => {
  it('keeps the Deployment when its new selector no longer matches its template labels, naming the field (plan and sync)', async () => {
    const NS = 'force-replace-invalid';
    const app = appRunner(platformClient(), { app: 'force-replace-invalid', defaultNamespace: NS });
    const first = await app.run(manifests(namespace(NS), forced(NS, 'web')), 'rev1');
    expect(first.outcome).toBe('Synced');
    const before = await uidOf(NS);

    const bad = manifests(namespace(NS), forced(NS, 'web-v2', 'web'));
    const plan = await app.run(bad, 'rev2', { dryRun: true });
    expect(actionOf(plan, 'Deployment', 'web')).toMatchObject({
      action: 'failed',
      message: expect.stringMatching(/spec\.template\.metadata\.labels.*selector/),
    });

    const result = await app.run(bad, 'rev2');
    expect(result.outcome).toBe('Failed');
    const failed = actionOf(result, 'Deployment', 'web');
    expect(failed).toMatchObject({
      action: 'failed',
      message: expect.stringMatching(
        /spec\.selector cannot change in place.*not deleted.*spec\.template\.metadata\.labels/s,
      ),
    });
    expect(await uidOf(NS)).toBe(before);
  });

  it('still replaces a Deployment whose selector changes with matching template labels', async () => {
    const NS = 'force-replace-valid';
    const app = appRunner(platformClient(), { app: 'force-replace-valid', defaultNamespace: NS });
    await app.run(manifests(namespace(NS), forced(NS, 'web')), 'rev1');
    const before = await uidOf(NS);

    const plan = await app.run(manifests(namespace(NS), forced(NS, 'web-v2')), 'rev2', { dryRun: true });
    expect(actionOf(plan, 'Deployment', 'web')?.message).toMatch(/would be deleted and re-created/);
    expect(await uidOf(NS)).toBe(before);

    const result = await app.run(manifests(namespace(NS), forced(NS, 'web-v2')), 'rev2');
    expect(result.outcome).toBe('Synced');
    expect(actionOf(result, 'Deployment', 'web')).toMatchObject({
      action: 'configured',
      message: expect.stringContaining('deleted and re-created'),
    });
    const after = await kubectlGet(cp.kubeconfig, 'deployment', 'web', NS);
    expect(after?.metadata.uid).not.toBe(before);
    expect(after?.spec.selector.matchLabels.app).toBe('web-v2');
  });
});
