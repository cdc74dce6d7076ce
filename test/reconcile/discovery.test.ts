/** Discovery: kind -> resource and scope, cached per run, refreshable after a CRD is installed. */
import { describe, expect, it } from 'vitest';
import { collectionPath, createDiscovery, objectPath } from '../../lambda/cluster/discovery.ts';
import { adminClient } from './harness.ts';

describe('discovery', () => {
  it('resolves kinds to resources and scope, asking once per group-version', async () => {
    const kube = adminClient();
    const discovery = createDiscovery(kube);
    const before = kube.requestCount;
    const deploy = await discovery.resolve('apps/v1', 'Deployment');
    const sts = await discovery.resolve('apps/v1', 'StatefulSet');
    const role = await discovery.resolve('rbac.authorization.k8s.io/v1', 'ClusterRole');
    const cm = await discovery.resolve('v1', 'ConfigMap');
    expect(kube.requestCount - before).toBe(3);
    expect(deploy).toMatchObject({ group: 'apps', resource: 'deployments', namespaced: true });
    expect(sts?.resource).toBe('statefulsets');
    expect(role).toMatchObject({ resource: 'clusterroles', namespaced: false });
    expect(cm && objectPath(cm, 'x', 'ns')).toBe('/api/v1/namespaces/ns/configmaps/x');
    expect(role && collectionPath(role, 'ignored')).toBe('/apis/rbac.authorization.k8s.io/v1/clusterroles');
  });

  it('answers undefined for an unknown kind or version and lists the versions a group serves', async () => {
    const discovery = createDiscovery(adminClient());
    expect(await discovery.resolve('apps/v1', 'Widget')).toBeUndefined();
    expect(await discovery.resolve('apps/v9', 'Deployment')).toBeUndefined();
    expect(await discovery.servedVersions('batch')).toEqual(['v1']);
    expect(await discovery.servedVersions('autoscaling')).toEqual(['v2', 'v1']);
    expect(await discovery.servedVersions('no.such.group')).toEqual([]);
  });

  it('asks again after invalidate, so kinds of a newly Established CRD resolve', async () => {
    const kube = adminClient();
    const discovery = createDiscovery(kube);
    await discovery.resolve('v1', 'Pod');
    const before = kube.requestCount;
    await discovery.resolve('v1', 'Service');
    expect(kube.requestCount).toBe(before);
    discovery.invalidate('v1');
    expect(await discovery.resolve('v1', 'Service')).toMatchObject({ resource: 'services' });
    expect(kube.requestCount).toBe(before + 1);
  });
});
