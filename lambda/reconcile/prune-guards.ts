/**
 * What keeps an object that left Git from being pruned because deleting it would delete what is
 * not the app's: a Namespace deletes everything in it, a CRD deletes all its custom resources.
 */
import pLimit from 'p-limit';
import { collectionPath, type Discovery, type ResourceInfo } from '../cluster/discovery.ts';
import type { KubeClient } from '../cluster/kube-client.ts';
import { kindsDefinedBy } from './crds.ts';
import { ownerApp } from './ownership.ts';
import { describeRef } from './refs.ts';
import { APP_LABEL, type KubeObject } from './types.ts';

/** LISTs in flight at once while looking for objects that are not the app's in a Namespace. */
const NAMESPACE_CHECK_CONCURRENCY = 8;
/** Foreign custom resources named in the message of a CRD that is kept. */
const NAMED_BLOCKERS = 5;

/**
 * Kinds never counted as a Namespace's contents: events come and go on their own, and resource
 * metrics mirror the pods.
 */
const DERIVED_KINDS = new Set(['/Event', 'events.k8s.io/Event', 'metrics.k8s.io/PodMetrics']);

/** Objects every Namespace gets from the control plane. */
function automatic(info: ResourceInfo, item: KubeObject): boolean {
  if (info.group !== '') return false;
  return (
    (info.kind === 'ServiceAccount' && item.metadata.name === 'default') ||
    (info.kind === 'ConfigMap' && item.metadata.name === 'kube-root-ca.crt')
  );
}

/**
 * Why the Namespace `namespace` must not be deleted, or `undefined` when it holds nothing that
 * is not this app's. Objects created by controllers for others (with an ownerReference) and the
 * namespace's automatic objects do not count. A resource that cannot be checked (discovery or
 * LIST failed) blocks too, since deleting the Namespace would delete whatever it holds.
 */
export async function foreignObjectIn(
  ctx: { kube: KubeClient; discovery: Discovery },
  namespace: string,
  app: string,
): Promise<string | undefined> {
  let resources: ResourceInfo[];
  try {
    resources = (await ctx.discovery.namespacedListable()).filter(
      (info) => !DERIVED_KINDS.has(`${info.group}/${info.kind}`),
    );
  } catch (error) {
    return `cannot check it for objects that are not this app's (${error instanceof Error ? error.message : String(error)})`;
  }
  const limit = pLimit(NAMESPACE_CHECK_CONCURRENCY);
  /** The first foreign object seen: no further LIST is sent once one is. */
  let found: string | undefined;
  let unchecked: string | undefined;
  await Promise.all(
    resources.map((info) =>
      limit(async () => {
        let next: string | undefined;
        do {
          if (found) return;
          const res = await listSoon(ctx.kube, collectionPath(info, namespace), {
            labelSelector: `${APP_LABEL}!=${app}`,
            limit: 500,
            continue: next,
          });
          // The kind went away during the run (its CRD was deleted): nothing of it is left.
          if (res.status === 404) return;
          if (res.status !== 200) {
            const reason = (res.body as { message?: string } | undefined)?.message ?? '';
            unchecked ??= `cannot list its ${qualified(info)} to check for objects that are not this app's (HTTP ${res.status}${reason ? `: ${reason}` : ''})`;
            return;
          }
          const item = (res.body.items ?? []).find(
            (i) => !(i.metadata.ownerReferences as unknown[] | undefined)?.length && !automatic(info, i),
          );
          if (item) {
            const other = describeRef({
              apiVersion: info.apiVersion,
              kind: info.kind,
              namespace,
              name: item.metadata.name,
            });
            const owner = ownerApp(item);
            found ??= owner
              ? `it holds ${other} of app "${owner}"; left in place until that object is gone`
              : `it holds ${other}, which is not this app's (no ${APP_LABEL} label); left in place until that object is gone`;
          }
          next = res.body.metadata?.continue || undefined;
        } while (next);
      }),
    ),
  );
  return found ?? unchecked;
}

/** Why the CRD `crd` must not be deleted (custom resources of it that are not this app's), if so. */
export async function foreignCustomResources(
  kube: KubeClient,
  crd: KubeObject,
  app: string,
): Promise<string | undefined> {
  const info = kindsDefinedBy(crd)[0];
  if (!info) return undefined;
  const res = await listSoon(kube, collectionPath(info), {
    labelSelector: `${APP_LABEL}!=${app}`,
    limit: NAMED_BLOCKERS,
  });
  if (res.status === 404) return undefined;
  if (res.status !== 200) {
    return `cannot list its ${info.kind} objects to check for ones that are not this app's (HTTP ${res.status})`;
  }
  const items = res.body.items ?? [];
  if (items.length === 0) return undefined;
  const named = items.map((item) =>
    describeRef({
      apiVersion: info.apiVersion,
      kind: info.kind,
      namespace: item.metadata.namespace,
      name: item.metadata.name,
    }),
  );
  const more = res.body.metadata?.continue ? ' and more' : '';
  return `custom resources of it exist that this app does not own (${named.join(', ')}${more}); deleting the CRD would delete them; left in place until they are gone`;
}

/** Attempts of a LIST the server answers 429 (a CRD's storage still initializing, throttling). */
const BUSY_ATTEMPTS = 4;

/** A LIST, asked again (after a second) while the server answers 429. */
async function listSoon(kube: KubeClient, path: string, query: Record<string, string | number | undefined>) {
  for (let attempt = 1; ; attempt++) {
    const res = await kube.request<{ items?: KubeObject[]; metadata?: { continue?: string } }>({
      method: 'GET',
      path,
      query,
    });
    if (res.status !== 429 || attempt >= BUSY_ATTEMPTS) return res;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** `deployments.apps`, `configmaps` (core), as kubectl names resources. */
function qualified(info: ResourceInfo): string {
  return info.group ? `${info.resource}.${info.group}` : info.resource;
}
