/**
 * Prune stays inside the app's scope: after the platform team narrows `scope.namespaces` or
 * `scope.clusterKinds`, the app's labelled objects outside it are reported `orphaned`, naming the
 * setting, and left in place (still tracked, so widening the scope again lets prune finish).
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../lambda/reconcile/types.ts';
import { kubectlGet } from '../support/kubectl.ts';
import {
  actionOf,
  adminClient,
  appRunner,
  configMap,
  cp,
  manifests,
  namespace,
  recordingDeletes,
} from './harness.ts';

describe('prune and the app scope', () => {
  it('leaves labelled objects outside a narrowed scope in place, naming the scope setting', async () => {
    const A = 'pscope-a';
    const B = 'pscope-b';
    const role: KubeObject = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'pscope-reader' },
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }],
    };
    const { client, deletes } = recordingDeletes(adminClient());
    const wide = { namespaces: [A, B], clusterKinds: ['Namespace', 'ClusterRole'] };
    const app = appRunner(client, { app: 'pscope', defaultNamespace: A, prune: true, scope: wide });
    const first = await app.run(
      manifests(
        namespace(A),
        namespace(B),
        configMap('a', A, { x: '1' }),
        configMap('b', B, { x: '2' }),
        role,
      ),
      'rev1',
    );
    expect(first.outcome).toBe('Synced');

    // Narrowed to A and Namespaces only; Git keeps what is inside.
    const narrow = { namespaces: [A], clusterKinds: ['Namespace'] };
    const result = await app.run(manifests(namespace(A), configMap('a', A, { x: '1' })), 'rev2', {
      scope: narrow,
    });
    expect(actionOf(result, 'ConfigMap', 'b')).toMatchObject({
      action: 'orphaned',
      message: `ConfigMap ${B}/b not pruned: it is outside the app's scope: namespace "${B}" is not in scope.namespaces [${A}]; add it to the app's scope.namespaces in the deploy config`,
    });
    expect(actionOf(result, 'Namespace', B)).toMatchObject({
      action: 'orphaned',
      message: expect.stringContaining(`Namespace "${B}" is not in scope.namespaces [${A}]`),
    });
    expect(actionOf(result, 'ClusterRole', 'pscope-reader')).toMatchObject({
      action: 'orphaned',
      message: expect.stringContaining(
        'cluster-scoped kind ClusterRole is not in scope.clusterKinds [Namespace]',
      ),
    });
    expect(deletes).toEqual([]);
    expect(result.outcome).toBe('OutOfSync');
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'b', B)).toBeDefined();
    expect(await kubectlGet(cp.kubeconfig, 'clusterrole', 'pscope-reader')).toBeDefined();
    expect((await kubectlGet(cp.kubeconfig, 'namespace', B))?.metadata.deletionTimestamp).toBeUndefined();
    expect(result.state.inventory.map((e) => e.name).sort()).toEqual(
      ['a', 'b', A, B, 'pscope-reader'].sort(),
    );

    // Widened again: prune finishes the job.
    const widened = await app.run(manifests(namespace(A), configMap('a', A, { x: '1' })), 'rev3', {
      scope: wide,
    });
    expect(widened.resources.filter((r) => r.action === 'pruned').map((r) => r.name)).toEqual([
      'b',
      'pscope-reader',
      B,
    ]);
  });
});
