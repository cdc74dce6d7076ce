/**
 * Bindings and the roles they name. The API server checks a RoleBinding or ClusterRoleBinding for
 * escalation against the role in its `roleRef`: a caller without `bind` must hold every permission
 * of that role, which it cannot read while the role does not exist yet, so the binding's dry run
 * (and create) fails with the role's NotFound (fluxcd/pkg#956). Roles that bindings of the set
 * refer to are therefore written before those bindings are dry-run, as Flux does (pkg#963).
 */
import { splitApiVersion } from '../cluster/discovery.ts';
import { refKey } from './refs.ts';
import type { KubeObject, ObjectRef } from './types.ts';

const RBAC_GROUP = 'rbac.authorization.k8s.io';

function isRbac(ref: ObjectRef, kind: string): boolean {
  return ref.kind === kind && splitApiVersion(ref.apiVersion).group === RBAC_GROUP;
}

/** The `refKey` of the role a RoleBinding or ClusterRoleBinding names; undefined for other kinds. */
export function boundRoleKey(ref: ObjectRef, body: KubeObject): string | undefined {
  const isRoleBinding = isRbac(ref, 'RoleBinding');
  if (!isRoleBinding && !isRbac(ref, 'ClusterRoleBinding')) return undefined;
  const roleRef = body.roleRef as { apiGroup?: string; kind?: string; name?: string } | undefined;
  if (roleRef?.apiGroup !== RBAC_GROUP || !roleRef.name) return undefined;
  const apiVersion = `${RBAC_GROUP}/v1`;
  if (roleRef.kind === 'ClusterRole') return refKey({ apiVersion, kind: 'ClusterRole', name: roleRef.name });
  // A Role is only ever named by a RoleBinding of its own namespace.
  if (roleRef.kind === 'Role' && isRoleBinding)
    return refKey({ apiVersion, kind: 'Role', namespace: ref.namespace, name: roleRef.name });
  return undefined;
}

/**
 * For each binding in `objects` whose role is in `objects` too: that role, by the binding's key.
 */
export function rolesBoundInSet<T extends { key: string; ref: ObjectRef; body: KubeObject }>(
  objects: readonly T[],
): Map<string, T> {
  const byKey = new Map(objects.map((o) => [o.key, o]));
  const bound = new Map<string, T>();
  for (const object of objects) {
    const roleKey = boundRoleKey(object.ref, object.body);
    const role = roleKey ? byKey.get(roleKey) : undefined;
    if (role) bound.set(object.key, role);
  }
  return bound;
}
