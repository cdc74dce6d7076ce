/**
 * Scoped identities for the reconcile tests, as a KubeClient and as a kubeconfig (for kubectl):
 * - `deployIdentity`: one the README recommends (the test cluster's `edit`, `admin` or
 *   `platform` user, test/support/identities.ts), `edit`/`admin` bound in the test's namespace;
 * - `scopedIdentity`: a ServiceAccount whose rights are exactly the rules given, for a test about
 *   one missing permission, with its token from the TokenRequest API.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSuccess } from '../../lambda/cluster/api-errors.ts';
import type { KubeClient } from '../../lambda/cluster/kube-client.ts';
import { grantNamespace, type IdentityName } from '../support/identities.ts';
import { adminClient, cp, tokenClient } from './harness.ts';

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export interface ScopedIdentity {
  kube: KubeClient;
  kubeconfig: string;
  /** `system:serviceaccount:<namespace>:deployer` */
  user: string;
}

/** What the built-in namespace `admin` ClusterRole grants on RBAC: no `bind`, no `escalate`. */
export const NAMESPACE_ADMIN_RBAC: PolicyRule = {
  apiGroups: ['rbac.authorization.k8s.io'],
  resources: ['roles', 'rolebindings'],
  verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
};

/** What `admin`/`edit` grant on the core kinds a test set uses. */
export const NAMESPACE_EDIT_CORE: PolicyRule = {
  apiGroups: [''],
  resources: ['configmaps', 'services', 'serviceaccounts'],
  verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
};

const RBAC = 'rbac.authorization.k8s.io/v1';

/**
 * The test cluster's `name` identity; `edit` and `admin` are bound to the built-in role of that
 * name in `namespace`, which is created first (as a platform team would). The built-in roles get
 * their rules from kube-controller-manager's aggregation.
 */
export async function deployIdentity(name: IdentityName, namespace: string): Promise<ScopedIdentity> {
  const res = await adminClient().request({
    method: 'POST',
    path: '/api/v1/namespaces',
    body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
  });
  if (!isSuccess(res) && res.status !== 409)
    throw new Error(`creating namespace ${namespace}: HTTP ${res.status}`);
  if (name !== 'platform') await grantNamespace(cp.kubeconfig, name, namespace);
  const identity = cp.identities[name];
  return {
    kube: tokenClient(identity.token),
    kubeconfig: identity.kubeconfig,
    user: identity.user,
  };
}

/**
 * Creates `namespace` (as the cluster admin), a `deployer` ServiceAccount in it bound to `rules`
 * there and to `clusterRules` cluster-wide, and mints its token (one hour).
 */
export async function scopedIdentity(
  namespace: string,
  rules: PolicyRule[],
  clusterRules: PolicyRule[] = [],
): Promise<ScopedIdentity> {
  const admin = adminClient();
  const subject = { kind: 'ServiceAccount', name: 'deployer', namespace };
  const create = async (path: string, body: object) => {
    const res = await admin.request({ method: 'POST', path, body });
    if (!isSuccess(res) && res.status !== 409)
      throw new Error(`creating ${path} failed: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  await create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  await create(`/api/v1/namespaces/${namespace}/serviceaccounts`, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'deployer' },
  });
  await create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`, {
    apiVersion: RBAC,
    kind: 'Role',
    metadata: { name: 'deployer' },
    rules,
  });
  await create(`/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`, {
    apiVersion: RBAC,
    kind: 'RoleBinding',
    metadata: { name: 'deployer' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'deployer' },
    subjects: [subject],
  });
  if (clusterRules.length > 0) {
    await create('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      apiVersion: RBAC,
      kind: 'ClusterRole',
      metadata: { name: `${namespace}-deployer` },
      rules: clusterRules,
    });
    await create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: RBAC,
      kind: 'ClusterRoleBinding',
      metadata: { name: `${namespace}-deployer` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${namespace}-deployer` },
      subjects: [subject],
    });
  }
  // The TokenRequest API, as `kubectl create token` uses it.
  const minted = (await create(`/api/v1/namespaces/${namespace}/serviceaccounts/deployer/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 3600 },
  })) as { status: { token: string } };
  const token = minted.status.token;
  const kubeconfig = join(await mkdtemp(join(tmpdir(), 'driftless-scoped-')), 'kubeconfig');
  await writeFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': namespace,
      contexts: [{ name: namespace, context: { cluster: 'local', user: namespace, namespace } }],
      clusters: [{ name: 'local', cluster: { server: cp.server, 'certificate-authority': cp.caFile } }],
      users: [{ name: namespace, user: { token } }],
    }),
  );
  return {
    kube: tokenClient(token),
    kubeconfig,
    user: `system:serviceaccount:${namespace}:deployer`,
  };
}
