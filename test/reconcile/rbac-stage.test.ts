/**
 * A Role and the RoleBinding that names it, added in one commit, synced by a scoped identity: the
 * built-in namespace `admin` (no `bind`/`escalate`), or a ServiceAccount with one right missing. The API server checks a binding for
 * escalation against the role it names, so the binding cannot be dry-run before its role exists
 * (fluxcd/pkg#956): the roles bindings of the set refer to are written first, after their own dry
 * runs, as a stage of their own. A Role grants nothing until bound.
 */
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reconcile } from '../../lambda/reconcile/reconcile.ts';
import type { KubeObject, ReconcileResult } from '../../lambda/reconcile/types.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import { actionOf, configMap, cp, manifests } from './harness.ts';
import {
  deployIdentity,
  NAMESPACE_ADMIN_RBAC,
  NAMESPACE_EDIT_CORE,
  type PolicyRule,
  type ScopedIdentity,
  scopedIdentity,
} from './scoped-identity.ts';

const RBAC_GROUP = 'rbac.authorization.k8s.io';
const READ_CONFIGMAPS: PolicyRule = { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] };

function role(kind: 'Role' | 'ClusterRole', name: string, namespace?: string, rules = [READ_CONFIGMAPS]) {
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind,
    metadata: { name, ...(namespace ? { namespace } : {}) },
    rules,
  } as KubeObject;
}

function binding(
  kind: 'RoleBinding' | 'ClusterRoleBinding',
  name: string,
  roleRef: { kind: 'Role' | 'ClusterRole'; name: string },
  namespace?: string,
) {
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind,
    metadata: { name, ...(namespace ? { namespace } : {}) },
    roleRef: { apiGroup: RBAC_GROUP, ...roleRef },
    subjects: [{ apiGroup: RBAC_GROUP, kind: 'User', name: 'alice' }],
  } as KubeObject;
}

async function runAs(
  identity: ScopedIdentity,
  app: string,
  namespace: string,
  objects: KubeObject[],
  options: { dryRun?: boolean; revision?: string; state?: ReconcileResult['state'] } = {},
): Promise<ReconcileResult> {
  return reconcile({
    kube: identity.kube,
    desired: manifests(...objects),
    options: {
      app,
      revision: options.revision ?? 'rev1',
      defaultNamespace: namespace,
      dryRun: options.dryRun,
    },
    state: options.state ?? { inventory: [] },
  });
}

const live = (kind: string, name: string, namespace?: string) =>
  kubectlGet(cp.kubeconfig, kind, name, namespace);

describe('roles that bindings of the set refer to go first', () => {
  it('syncs a Role and its RoleBinding added in one commit as a namespace admin (no bind/escalate), as kubectl apply does', async () => {
    const NS = 'rbac-stage-ns';
    const identity = await deployIdentity('admin', NS);
    const objects = [
      binding('RoleBinding', 'reader2', { kind: 'Role', name: 'reader2' }, NS),
      role('Role', 'reader2', NS),
      configMap('settings', NS, { a: '1' }),
    ];

    // The baseline: kubectl apply -f of the same kinds succeeds under the same identity.
    const file = join(dirname(identity.kubeconfig), 'pair.json');
    await writeFile(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          role('Role', 'kubectl-reader', NS),
          binding('RoleBinding', 'kubectl-reader', { kind: 'Role', name: 'kubectl-reader' }, NS),
        ],
      }),
    );
    await kubectl(identity.kubeconfig, 'apply', '-f', file);

    // A plan writes nothing: the binding waits for a role only this run creates.
    const plan = await runAs(identity, 'rbac-stage-ns', NS, objects, { dryRun: true });
    expect(plan.error).toBeUndefined();
    expect(plan.resources.map((r) => `${r.action} ${r.kind} ${r.name}`).sort()).toEqual([
      'created ConfigMap settings',
      'created Role reader2',
      'created RoleBinding reader2',
    ]);
    expect(plan.outcome).toBe('OutOfSync');
    expect(await live('role', 'reader2', NS)).toBeUndefined();

    const first = await runAs(identity, 'rbac-stage-ns', NS, objects);
    expect(first.error).toBeUndefined();
    expect(first.outcome).toBe('Synced');
    expect(actionOf(first, 'Role', 'reader2')?.action).toBe('created');
    expect(actionOf(first, 'RoleBinding', 'reader2')?.action).toBe('created');
    expect((await live('rolebinding', 'reader2', NS))?.roleRef.name).toBe('reader2');

    const again = await runAs(identity, 'rbac-stage-ns', NS, objects, { state: first.state });
    expect(again.outcome).toBe('Synced');
    expect(again.resources.every((r) => r.action === 'unchanged')).toBe(true);
  });

  it('syncs a ClusterRole with its ClusterRoleBinding and a RoleBinding to it, added in one commit, without bind/escalate', async () => {
    const NS = 'rbac-stage-cluster';
    const identity = await scopedIdentity(
      NS,
      [NAMESPACE_ADMIN_RBAC, NAMESPACE_EDIT_CORE],
      [
        {
          apiGroups: [RBAC_GROUP],
          resources: ['clusterroles', 'clusterrolebindings'],
          verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
        },
        READ_CONFIGMAPS,
      ],
    );
    const objects = [
      binding('ClusterRoleBinding', 'rbac-stage-reader', { kind: 'ClusterRole', name: 'rbac-stage-reader' }),
      binding('RoleBinding', 'reads-here', { kind: 'ClusterRole', name: 'rbac-stage-reader' }, NS),
      role('ClusterRole', 'rbac-stage-reader'),
    ];
    try {
      const result = await runAs(identity, 'rbac-stage-cluster', NS, objects);
      expect(result.error).toBeUndefined();
      expect(result.resources.map((r) => `${r.action} ${r.kind} ${r.name}`).sort()).toEqual([
        'created ClusterRole rbac-stage-reader',
        'created ClusterRoleBinding rbac-stage-reader',
        'created RoleBinding reads-here',
      ]);
      expect(result.outcome).toBe('Synced');
      expect(await live('clusterrolebinding', 'rbac-stage-reader')).toBeDefined();
    } finally {
      await kubectl(
        cp.kubeconfig,
        'delete',
        'clusterrolebinding,clusterrole',
        'rbac-stage-reader',
        '--ignore-not-found',
      );
    }
  });

  it('refuses a Role granting what the identity does not hold with the API server message naming verb and resource, and writes nothing', async () => {
    const NS = 'rbac-stage-escalate';
    const identity = await deployIdentity('admin', NS);
    // The namespace `admin` may only read quotas: a Role that writes them escalates.
    const quotas: PolicyRule = { apiGroups: [''], resources: ['resourcequotas'], verbs: ['update'] };
    const result = await runAs(identity, 'rbac-stage-escalate', NS, [
      role('Role', 'secret-reader', NS, [quotas]),
      binding('RoleBinding', 'secret-reader', { kind: 'Role', name: 'secret-reader' }, NS),
      configMap('settings', NS, { a: '1' }),
    ]);
    expect(result.outcome).toBe('Failed');
    expect(actionOf(result, 'Role', 'secret-reader')).toMatchObject({
      action: 'failed',
      message: expect.stringMatching(
        /not currently held.*Resources:\["resourcequotas"\].*Verbs:\["update"\]/s,
      ),
    });
    // The binding was never dry-run against a missing role: no misleading NotFound.
    expect(actionOf(result, 'RoleBinding', 'secret-reader')).toMatchObject({ action: 'skipped' });
    expect(actionOf(result, 'RoleBinding', 'secret-reader')?.message).not.toMatch(/NotFound|404/);
    expect(actionOf(result, 'ConfigMap', 'settings')?.action).toBe('skipped');
    expect(result.error).toMatch(/nothing was applied: 1 object\(s\) failed/);
    expect(await live('role', 'secret-reader', NS)).toBeUndefined();
    expect(await live('configmap', 'settings', NS)).toBeUndefined();
  });

  it('names the missing verb and resource when the identity may not create bindings; only the Role went first', async () => {
    const NS = 'rbac-stage-nobind';
    const identity = await scopedIdentity(NS, [
      { apiGroups: [RBAC_GROUP], resources: ['roles'], verbs: NAMESPACE_ADMIN_RBAC.verbs },
      {
        apiGroups: [RBAC_GROUP],
        resources: ['rolebindings'],
        verbs: ['get', 'list', 'watch', 'patch', 'update'],
      },
      NAMESPACE_EDIT_CORE,
      READ_CONFIGMAPS,
    ]);
    const result = await runAs(identity, 'rbac-stage-nobind', NS, [
      role('Role', 'reader', NS),
      binding('RoleBinding', 'reader', { kind: 'Role', name: 'reader' }, NS),
      configMap('settings', NS, { a: '1' }),
    ]);
    expect(result.outcome).toBe('Failed');
    expect(actionOf(result, 'RoleBinding', 'reader')).toMatchObject({
      action: 'failed',
      message: expect.stringMatching(/Forbidden.*cannot create resource "rolebindings"/),
    });
    expect(actionOf(result, 'Role', 'reader')?.action).toBe('created');
    expect(actionOf(result, 'ConfigMap', 'settings')?.action).toBe('skipped');
    expect(result.error).toMatch(/written first.*Role rbac-stage-nobind\/reader/);
    expect(await live('configmap', 'settings', NS)).toBeUndefined();
  });
});
