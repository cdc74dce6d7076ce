/** Identity of objects across desired manifests, live objects and the inventory. */
import { splitApiVersion } from '../cluster/discovery.ts';
import type { ObjectRef } from './types.ts';

/**
 * A key that names one object regardless of the API version it is read through
 * (`apps/Deployment/ns/web`), so `apps/v1` in Git matches the same object in the inventory.
 */
export function refKey(ref: ObjectRef): string {
  const { group } = splitApiVersion(ref.apiVersion);
  return `${group}/${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

/**
 * Kinds that Kubernetes serves under two API groups as one stored object: the same Ingress read
 * as `extensions/v1beta1` and `networking.k8s.io/v1` is one object, so it is one identity.
 */
const GROUP_ALIASES: Record<string, string> = {
  'extensions/Ingress': 'networking.k8s.io',
  'extensions/NetworkPolicy': 'networking.k8s.io',
  'extensions/PodSecurityPolicy': 'policy',
  'extensions/Deployment': 'apps',
  'extensions/DaemonSet': 'apps',
  'extensions/ReplicaSet': 'apps',
  'events.k8s.io/Event': '',
};

/** Like `refKey`, but equal for the API groups that serve one stored object (duplicate detection). */
export function identityKey(ref: ObjectRef): string {
  const { group } = splitApiVersion(ref.apiVersion);
  const canonical = GROUP_ALIASES[`${group}/${ref.kind}`] ?? group;
  return `${canonical}/${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

/** How messages name an object: `Deployment nginx/web`, `Namespace nginx`. */
export function describeRef(ref: ObjectRef): string {
  return ref.namespace ? `${ref.kind} ${ref.namespace}/${ref.name}` : `${ref.kind} ${ref.name}`;
}

/** The ObjectRef part of a larger value (drops every other field). */
export function toRef(ref: ObjectRef): ObjectRef {
  return ref.namespace === undefined
    ? { apiVersion: ref.apiVersion, kind: ref.kind, name: ref.name }
    : { apiVersion: ref.apiVersion, kind: ref.kind, namespace: ref.namespace, name: ref.name };
}
