/** Dry runs and diffs: what would happen, written as unified YAML diffs, Secret values never shown. */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../lambda/reconcile/types.ts';
import { kubectlGet } from '../support/kubectl.ts';
import { actionOf, appRunner, configMap, cp, manifests, namespace, platformClient } from './harness.ts';

const secret = (name: string, ns: string, stringData: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: ns },
  type: 'Opaque',
  stringData,
});

describe('plan and diff', () => {
  const kube = platformClient();

  it('stores no plain digest of a Secret (its hash could be brute-forced), only one keyed with its uid, and still applies its changes', async () => {
    const NS = 'plan-secret-digest';
    const app = appRunner(kube, { app: 'plan-secret-digest', defaultNamespace: NS });
    await app.run(
      manifests(namespace(NS), secret('db', NS, { pin: '1234' }), configMap('c', NS, { a: '1' })),
      'rev1',
    );
    const entries = Object.fromEntries(app.state.inventory.map((e) => [e.kind, e]));
    expect(entries.Secret?.digest).toMatch(/^hmac-sha256:/);
    const uid = (await kubectlGet(cp.kubeconfig, 'secret', 'db', NS))?.metadata.uid;
    expect(JSON.stringify(app.state)).not.toContain(uid);
    expect(entries.ConfigMap?.digest).toMatch(/^sha256:/);
    expect(JSON.stringify(app.state)).not.toContain('1234');

    const changed = await app.run(
      manifests(namespace(NS), secret('db', NS, { pin: '5678' }), configMap('c', NS, { a: '1' })),
      'rev2',
    );
    expect(actionOf(changed, 'Secret', 'db')?.action).toBe('configured');
    expect(actionOf(changed, 'ConfigMap', 'c')?.action).toBe('unchanged');
    const live = await kubectlGet(cp.kubeconfig, 'secret', 'db', NS);
    expect(Buffer.from(live?.data.pin, 'base64').toString()).toBe('5678');
  });

  it('never shows Secret values in a diff, only which keys changed', async () => {
    const NS = 'plan-secret';
    const app = appRunner(kube, { app: 'plan-secret', defaultNamespace: NS });
    const created = await app.run(
      manifests(namespace(NS), secret('db', NS, { password: 'first-s3cret', user: 'admin' })),
      'rev1',
    );
    const createdDiff = actionOf(created, 'Secret', 'db')?.diff ?? '';
    expect(createdDiff).toContain('password:');
    const changed = await app.run(
      manifests(namespace(NS), secret('db', NS, { password: 'second-s3cret', user: 'admin' })),
      'rev2',
    );
    const result = actionOf(changed, 'Secret', 'db');
    expect(result?.action).toBe('configured');
    expect(result?.diff).toContain('-  password: "*** (before)"\n+  password: "*** (after)"\n   user: "***"');
    expect(result?.diff).not.toMatch(/^[-+](apiVersion|kind)/m);
    for (const r of [...created.resources, ...changed.resources]) {
      const text = JSON.stringify(r);
      for (const value of [
        'first-s3cret',
        'second-s3cret',
        'admin',
        btoa('first-s3cret'),
        btoa('second-s3cret'),
        btoa('admin'),
      ]) {
        expect(text).not.toContain(value);
      }
    }
  });

  it('shows a unified YAML diff without server noise', async () => {
    const NS = 'plan-diff';
    const app = appRunner(kube, { app: 'plan-diff', defaultNamespace: NS });
    await app.run(manifests(namespace(NS), configMap('settings', NS, { color: 'blue', size: 'L' })), 'rev1');
    const result = await app.run(
      manifests(namespace(NS), configMap('settings', NS, { color: 'red', size: 'L' })),
      'rev2',
    );
    const diff = actionOf(result, 'ConfigMap', 'settings')?.diff ?? '';
    expect(diff).toContain('--- live/ConfigMap plan-diff/settings');
    expect(diff).toContain('+++ desired/ConfigMap plan-diff/settings');
    expect(diff).toMatch(/-\s+color: blue\n\+\s+color: red/);
    for (const noise of ['managedFields', 'resourceVersion', 'uid:', 'creationTimestamp', 'status:']) {
      expect(diff).not.toContain(noise);
    }
  });

  it('dry-runs a first sync of a Namespace, its objects, a CRD and its custom resource without writing anything', async () => {
    const NS = 'plan-dry';
    const GROUP = 'plan.driftless.test';
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `gadgets.${GROUP}` },
      spec: {
        group: GROUP,
        scope: 'Namespaced',
        names: { kind: 'Gadget', plural: 'gadgets' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          },
        ],
      },
    };
    const gadget = {
      apiVersion: `${GROUP}/v1`,
      kind: 'Gadget',
      metadata: { name: 'g', namespace: NS },
      spec: { a: 1 },
    };
    const app = appRunner(kube, { app: 'plan-dry', defaultNamespace: NS, prune: true });
    const desired = manifests(gadget, configMap('c', NS, { a: '1' }), crd, namespace(NS));
    const dry = await app.run(desired, 'rev1', { dryRun: true });
    expect(dry.error).toBeUndefined();
    expect(dry.resources.map((r) => `${r.action} ${r.kind}`).sort()).toEqual([
      'created ConfigMap',
      'created CustomResourceDefinition',
      'created Gadget',
      'created Namespace',
    ]);
    expect(dry.outcome).toBe('OutOfSync');
    expect(dry.state).toEqual({ inventory: [] });
    expect(await kubectlGet(cp.kubeconfig, 'namespace', NS)).toBeUndefined();
    expect(await kubectlGet(cp.kubeconfig, 'crd', `gadgets.${GROUP}`)).toBeUndefined();

    const real = await app.run(desired, 'rev1');
    expect(real.resources.every((r) => r.action === 'created')).toBe(true);
    expect(real.outcome).toBe('Synced');
    expect((await kubectlGet(cp.kubeconfig, `gadgets.${GROUP}`, 'g', NS))?.spec).toEqual({ a: 1 });

    const again = await app.run(desired, 'rev2', { dryRun: true });
    expect(again.resources.every((r) => r.action === 'unchanged')).toBe(true);
    expect(again.outcome).toBe('Synced');
  });
});
