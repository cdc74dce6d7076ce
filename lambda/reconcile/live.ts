/**
 * Reading what the app owns in the cluster: one labelled LIST per kind (cluster-wide), so a run
 * that changes nothing costs requests per kind, not per object. Objects that LIST cannot see (new,
 * not yet labelled, or another app's) are read by collection where many are missing (a first
 * sync), else by single GETs.
 */
import { collectionPath, objectPath, type ResourceInfo } from '../cluster/discovery.ts';
import type { KubeClient } from '../cluster/kube-client.ts';
import { apiErrorMessage } from './apply.ts';
import { refKey } from './refs.ts';
import { APP_LABEL, type KubeObject, type ObjectRef } from './types.ts';

/** Live objects by `refKey`, per kind; a kind whose LIST failed is absent from `listed`. */
export interface LiveIndex {
  /** Keys of `group/Kind` that were listed successfully. */
  listed: Set<string>;
  objects: Map<string, KubeObject>;
  /** `scopeKey`s of collections read whole: an object of that scope absent from `objects` does not exist. */
  complete: Set<string>;
}

/** A collection: kind plus namespace (empty for cluster-scoped kinds). */
export function scopeKey(info: ResourceInfo, namespace: string | undefined): string {
  return `${kindKey(info)}@${info.namespaced ? (namespace ?? '') : ''}`;
}

export function kindKey(info: { group: string; kind: string }): string {
  return `${info.group}/${info.kind}`;
}

/** Lists every object of each kind that carries `driftless.dev/app=<app>`. */
export async function listOwned(kube: KubeClient, kinds: ResourceInfo[], app: string): Promise<LiveIndex> {
  const index: LiveIndex = { listed: new Set(), objects: new Map(), complete: new Set() };
  const unique = new Map(kinds.map((k) => [kindKey(k), k]));
  await Promise.all(
    [...unique.entries()].map(async ([key, info]) => {
      const res = await kube.request<{ items?: KubeObject[] }>({
        method: 'GET',
        path: collectionPath(info),
        query: { labelSelector: `${APP_LABEL}=${app}` },
      });
      // Without list permission the engine falls back to one GET per object.
      if (res.status !== 200) return;
      index.listed.add(key);
      addItems(index, info, res.body.items ?? []);
    }),
  );
  return index;
}

/**
 * Reads, whole and whatever their labels, the collections in which at least `threshold` desired
 * objects are missing from `index`: one paged LIST instead of a GET per object (a first sync of
 * 1,000 objects). Found objects join `index.objects`; read scopes join `index.complete`.
 */
export async function listMissing(
  kube: KubeClient,
  index: LiveIndex,
  desired: { key: string; ref: ObjectRef; info: ResourceInfo }[],
  threshold = 4,
): Promise<void> {
  const missing = new Map<string, { info: ResourceInfo; namespace?: string; count: number }>();
  for (const { key, ref, info } of desired) {
    if (index.objects.has(key)) continue;
    const scope = scopeKey(info, ref.namespace);
    const entry = missing.get(scope) ?? { info, namespace: ref.namespace, count: 0 };
    entry.count += 1;
    missing.set(scope, entry);
  }
  await Promise.all(
    [...missing.entries()]
      .filter(([, m]) => m.count >= threshold)
      .map(async ([scope, { info, namespace }]) => {
        const found: KubeObject[] = [];
        let next: string | undefined;
        do {
          const res = await kube.request<{ items?: KubeObject[]; metadata?: { continue?: string } }>({
            method: 'GET',
            path: collectionPath(info, namespace),
            query: { limit: 500, continue: next },
          });
          // Without list permission, each object falls back to its own GET.
          if (res.status !== 200) return;
          found.push(...(res.body.items ?? []));
          next = res.body.metadata?.continue || undefined;
        } while (next);
        addItems(index, info, found);
        index.complete.add(scope);
      }),
  );
}

function addItems(index: LiveIndex, info: ResourceInfo, items: KubeObject[]): void {
  for (const item of items) {
    // List items omit apiVersion/kind; keep the ref shape the rest of the engine uses.
    const object = { ...item, apiVersion: info.apiVersion, kind: info.kind };
    const ref: ObjectRef = { apiVersion: info.apiVersion, kind: info.kind, name: item.metadata.name };
    if (info.namespaced) ref.namespace = item.metadata.namespace;
    index.objects.set(refKey(ref), object);
  }
}

export type GetOutcome = { ok: true; object: KubeObject | undefined } | { ok: false; message: string };

/** Reads one object; `object` is undefined when it does not exist. */
export async function getObject(kube: KubeClient, info: ResourceInfo, ref: ObjectRef): Promise<GetOutcome> {
  const res = await kube.request<KubeObject>({
    method: 'GET',
    path: objectPath(info, ref.name, ref.namespace),
  });
  if (res.status === 200) return { ok: true, object: res.body };
  if (res.status === 404) return { ok: true, object: undefined };
  return { ok: false, message: apiErrorMessage(ref, res.status, res.body) };
}
