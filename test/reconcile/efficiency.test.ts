/**
 * A re-sync of an unchanged revision costs requests per kind, not per object: one discovery
 * request per group-version and one labelled LIST per kind, compared against the inventory's
 * resourceVersions. A new revision pays one dry-run per object and writes nothing unchanged.
 */
import { describe, expect, it } from 'vitest';
import type { DesiredObject } from '../../lambda/reconcile/types.ts';
import { adminClient, appRunner, configMap, deployment, manifests, namespace } from './harness.ts';

function appOf(ns: string, configMaps: number): DesiredObject[] {
  const maps = Array.from({ length: configMaps }, (_, i) => configMap(`cm-${i}`, ns, { index: String(i) }));
  return manifests(namespace(ns), deployment('web', ns), ...maps);
}

async function requestsOf<T>(kube: { requestCount: number }, run: () => Promise<T>): Promise<[number, T]> {
  const before = kube.requestCount;
  const result = await run();
  return [kube.requestCount - before, result];
}

describe('request cost', () => {
  it('does not grow with the number of objects on a no-op re-sync of the same revision', async () => {
    const kube = adminClient();
    const small = appRunner(kube, { app: 'eff-small', defaultNamespace: 'eff-small' });
    const large = appRunner(kube, { app: 'eff-large', defaultNamespace: 'eff-large' });
    const smallSet = appOf('eff-small', 5);
    const largeSet = appOf('eff-large', 60);
    await small.run(smallSet, 'rev1');
    await large.run(largeSet, 'rev1');

    const [smallCost, smallResult] = await requestsOf(kube, () => small.run(smallSet, 'rev1'));
    const [largeCost, largeResult] = await requestsOf(kube, () => large.run(largeSet, 'rev1'));
    expect(smallResult.resources.every((r) => r.action === 'unchanged')).toBe(true);
    expect(largeResult.resources.every((r) => r.action === 'unchanged')).toBe(true);
    expect(largeResult.resources).toHaveLength(62);
    expect(largeCost).toBe(smallCost);
    // Discovery of v1 and apps/v1, then one LIST each for Namespaces, ConfigMaps and Deployments.
    expect(largeCost).toBe(5);
  });

  it('dry-runs each object once on a new revision and writes none that is unchanged', async () => {
    const kube = adminClient();
    const app = appRunner(kube, { app: 'eff-newrev', defaultNamespace: 'eff-newrev' });
    const desired = appOf('eff-newrev', 20);
    await app.run(desired, 'rev1');
    const [cost, result] = await requestsOf(kube, () => app.run(desired, 'rev2'));
    expect(result.resources.every((r) => r.action === 'unchanged')).toBe(true);
    // 2 discovery + 3 LISTs + one dry-run PATCH per object (22).
    expect(cost).toBe(5 + 22);
  });

  it('checks only the objects whose resourceVersion moved on a same-revision run', async () => {
    const kube = adminClient();
    const app = appRunner(kube, { app: 'eff-moved', defaultNamespace: 'eff-moved', selfHeal: true });
    const desired = appOf('eff-moved', 20);
    await app.run(desired, 'rev1');
    const changed = manifests(configMap('cm-3', 'eff-moved', { index: 'changed by hand' }));
    await kube.request({
      method: 'PATCH',
      path: '/api/v1/namespaces/eff-moved/configmaps/cm-3',
      body: JSON.stringify(changed[0]?.object),
      query: { fieldManager: 'someone-else', force: true },
      contentType: 'application/apply-patch+yaml',
    });
    const [cost, result] = await requestsOf(kube, () => app.run(desired, 'rev1'));
    expect(
      result.resources.filter((r) => r.action !== 'unchanged').map((r) => `${r.action} ${r.name}`),
    ).toEqual(['configured cm-3']);
    // 5 as a no-op, plus a dry-run and an apply for the one moved object.
    expect(cost).toBe(5 + 2);
  });
});
