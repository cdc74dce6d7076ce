/**
 * What keeps an object that left Git from being pruned because deleting it would delete what must
 * stay: a Namespace deletes everything in it, a CRD deletes all its custom resources. What must
 * stay is anything this run does not prune itself: another app's object, an object no app owns,
 * one kept by annotation, one still in this app's Git set. Found as values (`Holder`), rendered
 * into the object's message once, by `describeContents`.
 */
import pLimit from 'p-limit';
import { collectionPath, type Discovery, type ResourceInfo } from '../cluster/discovery.ts';
import type { KubeClient } from '../cluster/kube-client.ts';
import { kindsDefinedBy } from './crds.ts';
import { ownerApp, pruneDisabled } from './ownership.ts';
import { describeRef } from './refs.ts';
import { APP_LABEL, type KubeObject, type ObjectRef, PRUNE_ANNOTATION } from './types.ts';

/** Helm's annotation for "never delete this object" (honoured by `helm uninstall` and upgrades). */
export const HELM_RESOURCE_POLICY = 'helm.sh/resource-policy';

/** LISTs in flight at once while looking inside a Namespace. */
const NAMESPACE_CHECK_CONCURRENCY = 8;
/** Objects named in a refusal; the rest are counted. */
const NAMED_HOLDERS = 5;
/** Only metadata is read (a Secret's data never is), with plain JSON for servers that cannot. */
const METADATA_ONLY = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';

/**
 * Kinds never counted as a Namespace's contents: events come and go on their own, and resource
 * metrics mirror the pods.
 */
const DERIVED_KINDS = new Set(['/Event', 'events.k8s.io/Event', 'metrics.k8s.io/PodMetrics']);

/** The annotation that keeps `object` from ever being pruned, if any. */
export function keptBy(object: {
  metadata: { annotations?: Record<string, string> };
}): 'prune-disabled' | 'helm-keep' | undefined {
  if (pruneDisabled(object)) return 'prune-disabled';
  const policy = object.metadata.annotations?.[HELM_RESOURCE_POLICY];
  // Helm compares trimmed and lower-cased.
  return policy?.trim().toLowerCase() === 'keep' ? 'helm-keep' : undefined;
}

/** Why one object inside a Namespace, or of a CRD, must stay. */
export type HoldReason = 'other-app' | 'no-app' | 'prune-disabled' | 'helm-keep' | 'in-git' | 'not-pruned';

export interface Holder {
  ref: ObjectRef;
  reason: HoldReason;
  /** The app another app's label names. */
  owner?: string;
}

export type Contents =
  | { state: 'clear' }
  /** `holders`: the first few; `total`: all of them. */
  | { state: 'holds'; holders: Holder[]; total: number }
  | { state: 'unreadable'; reason: string };

/** What the check needs to know about this app and this run. */
export interface ContentsCheck {
  kube: KubeClient;
  discovery: Discovery;
  app: string;
  /** The object is in this app's desired set. */
  inGit(ref: ObjectRef, uid: string | undefined): boolean;
  /** This run prunes the object itself. */
  pruned(ref: ObjectRef): boolean;
}

/** What the Namespace `namespace` holds that must stay. */
export async function namespaceContents(check: ContentsCheck, namespace: string): Promise<Contents> {
  let resources: ResourceInfo[];
  try {
    resources = (await check.discovery.namespacedListable()).filter(
      (info) => !DERIVED_KINDS.has(`${info.group}/${info.kind}`),
    );
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { state: 'unreadable', reason: `cannot check it for objects that must stay (${reason})` };
  }
  const limit = pLimit(NAMESPACE_CHECK_CONCURRENCY);
  const found = await Promise.all(resources.map((info) => limit(() => holdersIn(check, info, namespace))));
  // In discovery order, whatever order the LISTs finished in.
  const holders = found.flatMap((f) => ('holders' in f ? f.holders : []));
  const unchecked = found.find((f) => 'failed' in f);
  if (holders.length === 0 && unchecked && 'failed' in unchecked) {
    return {
      state: 'unreadable',
      reason: `cannot list its ${qualified(unchecked.info)} to check for objects that must stay (${unchecked.failed})`,
    };
  }
  return summary(holders);
}

/** Custom resources of the CRD `crd` that must stay. */
export async function customResourcesOf(check: ContentsCheck, crd: KubeObject): Promise<Contents> {
  const info = kindsDefinedBy(crd)[0];
  if (!info) return { state: 'clear' };
  const found = await holdersIn(check, info);
  if ('failed' in found) {
    return {
      state: 'unreadable',
      reason: `cannot list its ${info.kind} objects to check for ones that must stay (${found.failed})`,
    };
  }
  return summary(found.holders);
}

/** The sentence of a refusal: what the Namespace or CRD holds, the first few named. */
export function describeContents(kind: 'namespace' | 'crd', contents: Contents): string {
  if (contents.state === 'clear') return 'nothing keeps it';
  if (contents.state === 'unreadable') return contents.reason;
  const { holders, total } = contents;
  const named = holders.map(describeHolder).join(', ');
  const list =
    total > holders.length ? `${named} and ${total - holders.length} more (${total} in all)` : named;
  if (kind === 'crd') {
    return `custom resources of it must stay (${list}); deleting the CRD would delete them; left in place until they are gone`;
  }
  return `it holds ${list}; left in place until ${total === 1 ? 'that object is' : 'they are'} gone`;
}

function describeHolder({ ref, reason, owner }: Holder): string {
  const name = describeRef(ref);
  switch (reason) {
    case 'other-app':
      return `${name} of app "${owner}"`;
    case 'no-app':
      return `${name} (owned by no app: no ${APP_LABEL} label)`;
    case 'prune-disabled':
      return `${name} (${PRUNE_ANNOTATION}: disabled)`;
    case 'helm-keep':
      return `${name} (${HELM_RESOURCE_POLICY}: keep)`;
    case 'in-git':
      return `${name} (still in this app's Git set)`;
    case 'not-pruned':
      return `${name} (labelled for this app, but not pruned by this run)`;
  }
}

function summary(all: Holder[]): Contents {
  return all.length === 0
    ? { state: 'clear' }
    : { state: 'holds', holders: all.slice(0, NAMED_HOLDERS), total: all.length };
}

/** Why `item` must stay when what holds it is deleted, or `undefined` when it may go with it. */
function holdReason(check: ContentsCheck, info: ResourceInfo, item: KubeObject): Holder | undefined {
  // Made by a controller for another object (ReplicaSets, Pods): it goes with its owner.
  if ((item.metadata.ownerReferences as unknown[] | undefined)?.length) return undefined;
  if (automatic(info, item)) return undefined;
  const ref: ObjectRef = { apiVersion: info.apiVersion, kind: info.kind, name: item.metadata.name };
  if (item.metadata.namespace) ref.namespace = item.metadata.namespace;
  const owner = ownerApp(item);
  if (owner === undefined) return { ref, reason: 'no-app' };
  if (owner !== check.app) return { ref, reason: 'other-app', owner };
  const kept = keptBy(item);
  if (kept) return { ref, reason: kept };
  if (check.inGit(ref, item.metadata.uid as string | undefined)) return { ref, reason: 'in-git' };
  return check.pruned(ref) ? undefined : { ref, reason: 'not-pruned' };
}

/** Objects every Namespace gets from the control plane. */
function automatic(info: ResourceInfo, item: KubeObject): boolean {
  if (info.group !== '') return false;
  return (
    (info.kind === 'ServiceAccount' && item.metadata.name === 'default') ||
    (info.kind === 'ConfigMap' && item.metadata.name === 'kube-root-ca.crt')
  );
}

/** Every object of `info` (in `namespace`, or everywhere) that must stay; `failed` when unlisted. */
async function holdersIn(
  check: ContentsCheck,
  info: ResourceInfo,
  namespace?: string,
): Promise<{ holders: Holder[] } | { failed: string; info: ResourceInfo }> {
  const holders: Holder[] = [];
  let next: string | undefined;
  do {
    const res = await listSoon(check.kube, collectionPath(info, namespace), { limit: 500, continue: next });
    // The kind went away during the run (its CRD was deleted): nothing of it is left.
    if (res.status === 404) return { holders };
    if (res.status !== 200) {
      const reason = (res.body as { message?: string } | undefined)?.message ?? '';
      return { failed: `HTTP ${res.status}${reason ? `: ${reason}` : ''}`, info };
    }
    for (const item of res.body.items ?? []) {
      const holder = holdReason(check, info, item);
      if (holder) holders.push(holder);
    }
    next = res.body.metadata?.continue || undefined;
  } while (next);
  return { holders };
}

/** Attempts of a LIST the server answers 429 (a CRD's storage still initializing, throttling). */
const BUSY_ATTEMPTS = 4;

/** A LIST of metadata, asked again (after a second) while the server answers 429. */
async function listSoon(kube: KubeClient, path: string, query: Record<string, string | number | undefined>) {
  for (let attempt = 1; ; attempt++) {
    const res = await kube.request<{ items?: KubeObject[]; metadata?: { continue?: string } }>({
      method: 'GET',
      path,
      query,
      accept: METADATA_ONLY,
    });
    if (res.status !== 429 || attempt >= BUSY_ATTEMPTS) return res;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** `deployments.apps`, `configmaps` (core), as kubectl names resources. */
function qualified(info: ResourceInfo): string {
  return info.group ? `${info.resource}.${info.group}` : info.resource;
}
