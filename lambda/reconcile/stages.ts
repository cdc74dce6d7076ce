/**
 * Apply order. Like Flux's ssa `sort.go`: definitions first so later objects can land in them,
 * cluster-wide RBAC and classes next, then everything else, and admission webhooks and policies
 * last: applied before the Service they call is there, a `failurePolicy: Fail` webhook rejects
 * its own siblings. Prune walks the stages backwards and
 * deletes Namespaces last, because deleting a Namespace deletes everything in it.
 */
import { splitApiVersion } from '../cluster/discovery.ts';

/** Namespaces and CustomResourceDefinitions. */
export const DEFINITIONS_STAGE = 0;
/** Cluster-scoped RBAC and classes (StorageClass, IngressClass, PriorityClass, ...). */
export const CLUSTER_STAGE = 1;
/** Everything else, including custom resources. */
export const WORKLOAD_STAGE = 2;
/** Admission webhook configurations and admission policies, once what they call is in place. */
export const ADMISSION_STAGE = 3;

/** How messages name a stage (`stage "workloads" failed`). */
export const STAGE_NAMES: Readonly<Record<number, string>> = {
  [DEFINITIONS_STAGE]: 'namespaces and CRDs',
  [CLUSTER_STAGE]: 'cluster RBAC and classes',
  [WORKLOAD_STAGE]: 'workloads',
  [ADMISSION_STAGE]: 'admission',
};

const ADMISSION_KINDS = new Set([
  'admissionregistration.k8s.io/ValidatingWebhookConfiguration',
  'admissionregistration.k8s.io/MutatingWebhookConfiguration',
  'admissionregistration.k8s.io/ValidatingAdmissionPolicy',
  'admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding',
  'admissionregistration.k8s.io/MutatingAdmissionPolicy',
  'admissionregistration.k8s.io/MutatingAdmissionPolicyBinding',
]);

const CLUSTER_KINDS = new Set([
  'rbac.authorization.k8s.io/ClusterRole',
  'rbac.authorization.k8s.io/ClusterRoleBinding',
  'storage.k8s.io/StorageClass',
  'storage.k8s.io/CSIDriver',
  'networking.k8s.io/IngressClass',
  'scheduling.k8s.io/PriorityClass',
  'node.k8s.io/RuntimeClass',
  'policy/PodSecurityPolicy',
  'snapshot.storage.k8s.io/VolumeSnapshotClass',
]);

/** The apply stage of a kind. */
export function stageOf(apiVersion: string, kind: string): number {
  const { group } = splitApiVersion(apiVersion);
  if (
    (group === '' && kind === 'Namespace') ||
    (group === 'apiextensions.k8s.io' && kind === 'CustomResourceDefinition')
  ) {
    return DEFINITIONS_STAGE;
  }
  if (ADMISSION_KINDS.has(`${group}/${kind}`)) return ADMISSION_STAGE;
  return CLUSTER_KINDS.has(`${group}/${kind}`) ? CLUSTER_STAGE : WORKLOAD_STAGE;
}

export function isNamespace(ref: { apiVersion: string; kind: string }): boolean {
  return ref.kind === 'Namespace' && splitApiVersion(ref.apiVersion).group === '';
}

export function stageName(stage: number): string {
  return STAGE_NAMES[stage] ?? `stage ${stage}`;
}

/**
 * Groups objects for prune: later stages first, Namespaces in a group of their own at the end.
 * Objects within one group may be deleted concurrently.
 */
export function pruneGroups<T extends { apiVersion: string; kind: string; stage?: number }>(
  items: T[],
): T[][] {
  const rank = (item: T) => (isNamespace(item) ? -1 : (item.stage ?? stageOf(item.apiVersion, item.kind)));
  const byRank = new Map<number, T[]>();
  for (const item of items) {
    const r = rank(item);
    byRank.set(r, [...(byRank.get(r) ?? []), item]);
  }
  return [...byRank.entries()].sort(([a], [b]) => b - a).map(([, group]) => group);
}
