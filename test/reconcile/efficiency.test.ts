/**
 * Requests grow with kinds and changes, not with objects. A re-sync of an unchanged revision costs
 * one discovery request per group-version and one labelled LIST per kind, compared against the
 * inventory's resourceVersions. A new revision costs the same plus a dry-run (and an apply) per
 * object whose manifest changed or whose live object was written by someone else: an object
 * whose applied body digest and resourceVersion both match the inventory is not dry-run.
 */
import pLimit from 'p-limit';
import { describe, expect, it } from 'vitest';
import { MISSING_MAX_PAGES, MISSING_PAGE_LIMIT } from '../../lambda/reconcile/live.ts';
import type { DesiredObject } from '../../lambda/reconcile/types.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import {
  actionOf,
  adminClient,
  appRunner,
  configMap,
  cp,
  deployment,
  gizmoCrd,
  manifests,
  namespace,
  recording,
} from './harness.ts';

/** A Namespace, a Deployment and `configMaps` ConfigMaps; `changed` ConfigMaps carry `version`. */
function appOf(ns: string, configMaps: number, version = 'v1', changed: number[] = []): DesiredObject[] {
  const maps = Array.from({ length: configMaps }, (_, i) =>
    configMap(`cm-${i}`, ns, { index: String(i), version: changed.includes(i) ? version : 'v1' }),
  );
  return manifests(namespace(ns), deployment('web', ns), ...maps);
}

/** 2 discovery requests (v1, apps/v1) + one LIST each for Namespaces, ConfigMaps and Deployments. */
const PER_KIND_COST = 5;
/** `GET /version`, once in a run that dry-runs anything (does the server take fieldValidation=Strict?). */
const VERSION_COST = 1;

async function requestsOf<T>(kube: { requestCount: number }, run: () => Promise<T>): Promise<[number, T]> {
  const before = kube.requestCount;
  const result = await run();
  return [kube.requestCount - before, result];
}

function notUnchanged(result: { resources: { action: string; name: string }[] }): string[] {
  return result.resources.filter((r) => r.action !== 'unchanged').map((r) => `${r.action} ${r.name}`);
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
    expect(largeCost).toBe(PER_KIND_COST);
  });

  it('costs no dry run for a Deployment its controller rolled out (status written, resourceVersion moved); a hand edit is still checked', async () => {
    const NS = 'eff-rollout';
    const kube = adminClient();
    const app = appRunner(kube, { app: NS, defaultNamespace: NS, selfHeal: true });
    const desired = appOf(NS, 3);
    await app.run(desired, 'rev1');
    const applied = app.state.inventory.find((e) => e.kind === 'Deployment')?.resourceVersion;
    await kubectl(cp.kubeconfig, 'rollout', 'status', 'deployment/web', '-n', NS, '--timeout=60s');
    const live = await kubectlGet(cp.kubeconfig, 'deployment', 'web', NS);
    expect(live?.metadata.resourceVersion).not.toBe(applied);
    expect(live?.status.availableReplicas).toBe(1);

    const [cost, result] = await requestsOf(kube, () => app.run(desired, 'rev1'));
    expect(notUnchanged(result)).toEqual([]);
    expect(cost).toBe(PER_KIND_COST);

    await kubectl(cp.kubeconfig, 'set', 'image', 'deployment/web', '-n', NS, 'web=nginx:by-hand');
    const [healCost, healed] = await requestsOf(kube, () => app.run(desired, 'rev1'));
    expect(notUnchanged(healed)).toEqual(['configured web']);
    expect(healCost).toBe(PER_KIND_COST + VERSION_COST + 2);
  });

  it('dry-runs every object before the first write, with fieldValidation=Strict; a no-op run sends neither a write nor GET /version', async () => {
    const kube = adminClient();
    const { client, requests } = recording(kube);
    const app = appRunner(client, { app: 'eff-strict', defaultNamespace: 'eff-strict' });
    await app.run(appOf('eff-strict', 3), 'rev1');
    const patches = requests.filter((r) => r.method === 'PATCH');
    // The Namespace the others land in goes first (dry run, apply): they cannot be dry-run without
    // it. Then a dry run of each of the other four before the first of their applies.
    expect(patches.map((r) => r.query?.dryRun ?? 'apply')).toEqual([
      'All',
      'apply',
      ...Array(4).fill('All'),
      ...Array(4).fill('apply'),
    ]);
    for (const patch of patches) expect(patch.query?.fieldValidation).toBe('Strict');
    expect(requests.filter((r) => r.path === '/version')).toHaveLength(1);

    requests.length = 0;
    await app.run(appOf('eff-strict', 3), 'rev1');
    expect(requests.filter((r) => r.method !== 'GET' || r.path === '/version')).toEqual([]);
    expect(requests).toHaveLength(PER_KIND_COST);
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
    // A no-op, plus a dry-run and an apply for the one moved object.
    expect(cost).toBe(PER_KIND_COST + VERSION_COST + 2);
  });

  it('costs the per-kind LISTs plus a dry-run and an apply on a new revision that changes one object, whatever the number of objects', async () => {
    const kube = adminClient();
    const costs: number[] = [];
    for (const [ns, size] of [
      ['eff-rev-small', 5],
      ['eff-rev-large', 60],
    ] as const) {
      const app = appRunner(kube, { app: ns, defaultNamespace: ns });
      await app.run(appOf(ns, size), 'rev1');
      const [cost, result] = await requestsOf(kube, () => app.run(appOf(ns, size, 'v2', [2]), 'rev2'));
      expect(result.outcome).toBe('Synced');
      expect(result.resources).toHaveLength(size + 2);
      expect(notUnchanged(result)).toEqual(['configured cm-2']);
      expect(actionOf(result, 'ConfigMap', 'cm-2')?.diff).toMatch(/-\s+version: v1\n\+\s+version: v2/);
      expect((await kubectlGet(cp.kubeconfig, 'configmap', 'cm-2', ns))?.data.version).toBe('v2');
      costs.push(cost);
    }
    expect(costs).toEqual([PER_KIND_COST + VERSION_COST + 2, PER_KIND_COST + VERSION_COST + 2]);
  });

  it('costs only the per-kind LISTs on a new revision that changes nothing', async () => {
    const kube = adminClient();
    const app = appRunner(kube, { app: 'eff-newrev', defaultNamespace: 'eff-newrev' });
    const desired = appOf('eff-newrev', 20);
    await app.run(desired, 'rev1');
    const [cost, result] = await requestsOf(kube, () => app.run(desired, 'rev2'));
    expect(result.resources.every((r) => r.action === 'unchanged')).toBe(true);
    expect(result.state.revision).toBe('rev2');
    expect(cost).toBe(PER_KIND_COST);
  });

  it('still detects and heals a hand-edited object on a new revision that changed another one', async () => {
    const NS = 'eff-edited';
    const kube = adminClient();
    const app = appRunner(kube, { app: NS, defaultNamespace: NS });
    await app.run(appOf(NS, 20), 'rev1');
    await kubectl(
      cp.kubeconfig,
      'patch',
      'configmap',
      'cm-3',
      '-n',
      NS,
      '-p',
      '{"data":{"version":"by hand"}}',
    );
    await kubectl(cp.kubeconfig, 'scale', 'deployment', 'web', '-n', NS, '--replicas=4');

    const [cost, result] = await requestsOf(kube, () => app.run(appOf(NS, 20, 'v2', [7]), 'rev2'));
    expect(result.outcome).toBe('Synced');
    expect(notUnchanged(result).sort()).toEqual(['configured cm-3', 'configured cm-7', 'configured web']);
    expect(actionOf(result, 'ConfigMap', 'cm-3')).toMatchObject({
      diff: expect.stringMatching(/-\s+version: by hand\n\+\s+version: v1/),
      message: expect.stringContaining('kubectl'),
    });
    // A dry-run and an apply for each of the three.
    expect(cost).toBe(PER_KIND_COST + VERSION_COST + 3 * 2);
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'cm-3', NS))?.data.version).toBe('v1');
    expect((await kubectlGet(cp.kubeconfig, 'deployment', 'web', NS))?.spec.replicas).toBe(1);
  });

  it('reports a hand-edited object as drifted on the same revision after a new revision skipped the unchanged ones', async () => {
    const NS = 'eff-drift-after';
    const kube = adminClient();
    const app = appRunner(kube, { app: NS, defaultNamespace: NS });
    await app.run(appOf(NS, 10), 'rev1');
    await app.run(appOf(NS, 10, 'v2', [1]), 'rev2');
    await kubectl(
      cp.kubeconfig,
      'patch',
      'configmap',
      'cm-5',
      '-n',
      NS,
      '-p',
      '{"data":{"version":"by hand"}}',
    );

    const result = await app.run(appOf(NS, 10, 'v2', [1]), 'rev2');
    expect(result.outcome).toBe('OutOfSync');
    expect(notUnchanged(result)).toEqual(['drifted cm-5']);
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'cm-5', NS))?.data.version).toBe('by hand');
    // Reported again next time: a drifted object gets no new inventory entry.
    expect(notUnchanged(await app.run(appOf(NS, 10, 'v2', [1]), 'rev2'))).toEqual(['drifted cm-5']);
  });
});

describe('inventory digests', () => {
  it('falls back to a dry-run per object on a new revision when the stored state has no digests, then records them', async () => {
    const NS = 'eff-legacy';
    const kube = adminClient();
    const app = appRunner(kube, { app: NS, defaultNamespace: NS });
    const desired = appOf(NS, 20);
    await app.run(desired, 'rev1');
    // State as written before digests existed.
    app.state = {
      ...app.state,
      inventory: app.state.inventory.map(({ digest: _digest, ...entry }) => entry),
    };
    const [sameCost, same] = await requestsOf(kube, () => app.run(desired, 'rev1'));
    expect(same.resources.every((r) => r.action === 'unchanged')).toBe(true);
    expect(sameCost).toBe(PER_KIND_COST);
    expect(same.state.inventory.some((e) => e.digest !== undefined)).toBe(false);

    const [newCost, next] = await requestsOf(kube, () => app.run(desired, 'rev2'));
    expect(next.resources.every((r) => r.action === 'unchanged')).toBe(true);
    // One dry-run per object (22), none written.
    expect(newCost).toBe(PER_KIND_COST + VERSION_COST + 22);
    expect(next.state.inventory.every((e) => e.digest?.startsWith('sha256:'))).toBe(true);
    const [laterCost] = await requestsOf(kube, () => app.run(desired, 'rev3'));
    expect(laterCost).toBe(PER_KIND_COST);
  });

  it('keeps the previous digest of an object whose apply failed, so the next run tries it again', async () => {
    const NS = 'eff-failed';
    const kube = adminClient();
    const app = appRunner(kube, { app: NS, defaultNamespace: NS });
    await app.run(appOf(NS, 5), 'rev1');
    const before = app.state.inventory.find((e) => e.kind === 'Deployment');
    // The selector change is immutable: the Deployment fails its dry run, so nothing is applied.
    const desired = appOf(NS, 5, 'v2', [0]).map((d) =>
      d.object.kind === 'Deployment' ? { ...d, object: deployment('web', NS, { app: 'renamed' }) } : d,
    );

    const failed = await app.run(desired, 'rev2');
    expect(failed.outcome).toBe('Failed');
    expect(notUnchanged(failed).sort()).toEqual(['failed web', 'skipped cm-0']);
    expect(actionOf(failed, 'ConfigMap', 'cm-0')?.message).toMatch(/^not applied/);
    expect(failed.state.inventory.find((e) => e.kind === 'Deployment')).toEqual(before);

    const again = await app.run(desired, 'rev2');
    expect(notUnchanged(again).sort()).toEqual(['failed web', 'skipped cm-0']);
    expect(actionOf(again, 'Deployment', 'web')?.message).toMatch(/immutable/);
  });

  it('leaves the state untouched on a dry run of a new revision', async () => {
    const NS = 'eff-dryrun';
    const kube = adminClient();
    const app = appRunner(kube, { app: NS, defaultNamespace: NS });
    await app.run(appOf(NS, 5), 'rev1');
    const before = app.state;
    const changed = appOf(NS, 5, 'v2', [4]);

    const planned = await app.run(changed, 'rev2', { dryRun: true });
    expect(notUnchanged(planned)).toEqual(['configured cm-4']);
    expect(planned.state).toBe(before);
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'cm-4', NS))?.data.version).toBe('v1');
    expect(notUnchanged(await app.run(changed, 'rev2'))).toEqual(['configured cm-4']);
  });

  it('reads a first sync by collection, not by a GET per new object: about two requests (dry run, apply) per object', async () => {
    const kube = adminClient();
    const small = appRunner(kube, { app: 'eff-cold-small', defaultNamespace: 'eff-cold-small' });
    const large = appRunner(kube, { app: 'eff-cold-large', defaultNamespace: 'eff-cold-large' });
    const [smallCost, smallResult] = await requestsOf(kube, () =>
      small.run(appOf('eff-cold-small', 10), 'rev1'),
    );
    const [largeCost, largeResult] = await requestsOf(kube, () =>
      large.run(appOf('eff-cold-large', 60), 'rev1'),
    );
    expect(smallResult.resources.every((r) => r.action === 'created')).toBe(true);
    expect(largeResult.resources.every((r) => r.action === 'created')).toBe(true);
    // 50 more ConfigMaps cost 50 more dry runs (a bad set writes nothing) and 50 applies, nothing else.
    expect(largeCost - smallCost).toBe(100);
  });

  it('reads the custom resources of a CRD created in the same run by collection, once it is Established: no GET per custom resource', async () => {
    const NS = 'eff-cr';
    const GROUP = 'eff-cr.driftless.test';
    const { client, requests } = recording(adminClient());
    const crd = gizmoCrd(GROUP);
    const gizmos = Array.from({ length: 12 }, (_, i) => ({
      apiVersion: `${GROUP}/v1`,
      kind: 'Gizmo',
      metadata: { name: `g-${i}`, namespace: NS },
      spec: { index: i },
    }));
    const app = appRunner(client, { app: 'eff-cr', defaultNamespace: NS });
    const result = await app.run(manifests(namespace(NS), crd, ...gizmos), 'r1');
    expect(result.outcome).toBe('Synced');
    expect(result.resources.every((r) => r.action === 'created')).toBe(true);
    const collection = `/apis/${GROUP}/v1/namespaces/${NS}/gizmos`;
    const onGizmos = requests.filter((r) => r.path.startsWith(collection));
    expect(onGizmos.filter((r) => r.method === 'GET').map((r) => r.path)).toEqual([collection]);
    // Each one dry-run, then applied: nothing else.
    expect(onGizmos.filter((r) => r.method === 'PATCH')).toHaveLength(24);
  });

  it("still refuses another app's object when its collection was read whole", async () => {
    const kube = adminClient();
    const other = appRunner(kube, { app: 'eff-other', defaultNamespace: 'eff-shared' });
    await other.run(
      manifests(namespace('eff-shared'), configMap('cm-0', 'eff-shared', { owner: 'other' })),
      'o1',
    );
    const mine = appRunner(kube, { app: 'eff-mine', defaultNamespace: 'eff-shared' });
    const result = await mine.run(
      manifests(
        ...Array.from({ length: 6 }, (_, i) => configMap(`cm-${i}`, 'eff-shared', { owner: 'mine' })),
      ),
      'm1',
    );
    expect(actionOf(result, 'ConfigMap', 'cm-0')).toMatchObject({ action: 'failed' });
    expect(actionOf(result, 'ConfigMap', 'cm-0')?.message).toMatch(/owned by app "eff-other"/);
    // A bad set writes nothing: the other five are not created either.
    expect(notUnchanged(result).filter((r) => r.startsWith('created'))).toHaveLength(0);
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'cm-1', 'eff-shared')).toBeUndefined();
    const live = await kubectlGet(cp.kubeconfig, 'configmap', 'cm-0', 'eff-shared');
    expect(live?.data).toEqual({ owner: 'other' });
  });
});

/** A client that records every request it passes on. */

describe('collection reads of missing objects', () => {
  it('reads at most MISSING_MAX_PAGES pages of a crowded namespace and GETs the missing objects it did not see', async () => {
    const NS = 'eff-crowded';
    const kube = adminClient();
    await kubectl(cp.kubeconfig, 'create', 'namespace', NS);
    // More unrelated objects than the cap, all sorting before the app's own.
    const limit = pLimit(16);
    await Promise.all(
      Array.from({ length: MISSING_PAGE_LIMIT * MISSING_MAX_PAGES + 1 }, (_, i) =>
        limit(() =>
          kube.request({
            method: 'POST',
            path: `/api/v1/namespaces/${NS}/configmaps`,
            body: configMap(`filler-${String(i).padStart(4, '0')}`, NS, { i: String(i) }),
          }),
        ),
      ),
    );
    // Seen on the first page: no GET needed for it.
    await kubectl(cp.kubeconfig, 'create', 'configmap', 'aa-seen', '-n', NS, '--from-literal=x=old');
    const names = ['aa-seen', ...Array.from({ length: 5 }, (_, i) => `zz-${i}`)];
    const { client, requests } = recording(kube);
    // aa-seen exists unlabelled: the app adopts it.
    const app = appRunner(client, { app: NS, defaultNamespace: NS, adopt: true });

    const result = await app.run(manifests(...names.map((n) => configMap(n, NS, { x: 'new' }))), 'rev1');
    expect(result.outcome).toBe('Synced');
    expect(notUnchanged(result).sort()).toEqual([
      'configured aa-seen',
      ...names.slice(1).map((n) => `created ${n}`),
    ]);
    for (const name of names)
      expect((await kubectlGet(cp.kubeconfig, 'configmap', name, NS))?.data.x).toBe('new');

    const collection = `/api/v1/namespaces/${NS}/configmaps`;
    const pages = requests.filter((r) => r.method === 'GET' && r.path === collection);
    expect(pages.map((r) => r.query?.limit)).toEqual(Array(MISSING_MAX_PAGES).fill(MISSING_PAGE_LIMIT));
    const gets = requests.filter((r) => r.method === 'GET' && r.path.startsWith(`${collection}/`));
    expect(gets.map((r) => r.path.slice(collection.length + 1)).sort()).toEqual(names.slice(1));
  });

  it("never reads a namespace's Secrets whole: missing Secrets are read one by one", async () => {
    const NS = 'eff-secrets';
    const kube = adminClient();
    await kubectl(cp.kubeconfig, 'create', 'namespace', NS);
    await kubectl(
      cp.kubeconfig,
      'create',
      'secret',
      'generic',
      'helm-release',
      '-n',
      NS,
      '--from-literal=v=not-mine',
    );
    const names = Array.from({ length: 6 }, (_, i) => `s-${i}`);
    const { client, requests } = recording(kube);
    const app = appRunner(client, { app: NS, defaultNamespace: NS });
    const secrets = names.map((name) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: NS },
      stringData: { k: name },
    }));

    const result = await app.run(manifests(...secrets), 'rev1');
    expect(notUnchanged(result)).toEqual(names.map((n) => `created ${n}`));
    const collection = `/api/v1/namespaces/${NS}/secrets`;
    // Only the app's own Secrets are ever listed (by label, cluster-wide).
    const lists = requests.filter((r) => r.method === 'GET' && r.path.endsWith('/secrets'));
    expect(lists.map((r) => r.query?.labelSelector)).toEqual([`driftless.dev/app=${NS}`]);
    const gets = requests.filter((r) => r.method === 'GET' && r.path.startsWith(`${collection}/`));
    expect(gets.map((r) => r.path.slice(collection.length + 1)).sort()).toEqual(names);
  });
});
