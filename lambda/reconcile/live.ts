/**
 * Reading what the app owns in the cluster: one labelled LIST per kind (cluster-wide), so a run
 * that changes nothing costs requests per kind, not per object. Objects that LIST cannot see (new,
 * not yet labelled, or another app's) are read by collection where many are missing (a first
 * sync; bounded, never Secrets), else by single GETs.
 */

import pLimit from 'p-limit';
import { isConnectionBroken, isNotFound, isSuccess } from '../cluster/api-errors.ts';
import { collectionPath, objectPath, type ResourceInfo } from '../cluster/discovery.ts';
import type { KubeClient, KubeResponse } from '../cluster/kube-client.ts';
import { apiErrorMessage } from './apply.ts';
import { describeRef, refKey } from './refs.ts';
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

/** LISTs in flight at once: a first sync lists every kind the server serves. */
const LIST_CONCURRENCY = 8;

/** Lists every object of each kind that carries `driftless.dev/app=<app>`. */
export async function listOwned(kube: KubeClient, kinds: ResourceInfo[], app: string): Promise<LiveIndex> {
  const index: LiveIndex = { listed: new Set(), objects: new Map(), complete: new Set() };
  const unique = new Map(kinds.map((k) => [kindKey(k), k]));
  const limit = pLimit(LIST_CONCURRENCY);
  await Promise.all(
    [...unique.entries()].map(([key, info]) =>
      limit(async () => {
        const res = await kube.request<{ items?: KubeObject[] }>({
          method: 'GET',
          path: collectionPath(info),
          query: { labelSelector: `${APP_LABEL}=${app}` },
        });
        // Without list permission the engine falls back to one GET per object.
        if (!isSuccess(res)) return;
        index.listed.add(key);
        addItems(index, info, res.body.items ?? []);
      }),
    ),
  );
  return index;
}

/** Page size of the unlabelled collection reads of `listMissing`. */
export const MISSING_PAGE_LIMIT = 500;
/**
 * Pages `listMissing` reads of one collection at most. A namespace shared with other tools can
 * hold thousands of objects; past this the remaining objects are read by GET.
 */
export const MISSING_MAX_PAGES = 2;

/**
 * Kinds never read whole: a namespace's Secrets are mostly other tools' (Helm keeps a large
 * Secret per release), and their values have no business in driftless' memory.
 */
const NEVER_READ_WHOLE = new Set(['/Secret']);

/**
 * Reads, whatever their labels, the collections in which at least `threshold` desired objects are
 * missing from `index`: a paged LIST instead of a GET per object (a first sync of 1,000 objects).
 * Only desired objects are kept. A collection read to its end, or whose missing objects were all
 * found, joins `index.complete`; one larger than `MISSING_MAX_PAGES` pages stays incomplete, so
 * the objects not found in it are read by GET. Secrets are always read by GET.
 */
export async function listMissing(
  kube: KubeClient,
  index: LiveIndex,
  desired: { key: string; ref: ObjectRef; info: ResourceInfo }[],
  threshold = 4,
): Promise<void> {
  const missing = new Map<string, { info: ResourceInfo; namespace?: string; keys: Set<string> }>();
  for (const { key, ref, info } of desired) {
    if (index.objects.has(key) || NEVER_READ_WHOLE.has(kindKey(info))) continue;
    const scope = scopeKey(info, ref.namespace);
    const entry = missing.get(scope) ?? { info, namespace: ref.namespace, keys: new Set<string>() };
    entry.keys.add(key);
    missing.set(scope, entry);
  }
  await Promise.all(
    [...missing.entries()]
      .filter(([, m]) => m.keys.size >= threshold)
      .map(async ([scope, { info, namespace, keys }]) => {
        let next: string | undefined;
        let pages = 0;
        do {
          const res = await kube.request<{ items?: KubeObject[]; metadata?: { continue?: string } }>({
            method: 'GET',
            path: collectionPath(info, namespace),
            query: { limit: MISSING_PAGE_LIMIT, continue: next },
          });
          // Without list permission, each object falls back to its own GET.
          if (!isSuccess(res)) return;
          pages += 1;
          for (const item of res.body.items ?? []) {
            const object = asListed(info, item);
            const key = listedKey(info, item);
            if (!keys.has(key)) continue;
            index.objects.set(key, object);
            keys.delete(key);
          }
          next = res.body.metadata?.continue || undefined;
        } while (next && keys.size > 0 && pages < MISSING_MAX_PAGES);
        // Unread pages may hold the objects not found yet: the scope is complete only when read to
        // its end or when nothing is left to find.
        if (!next || keys.size === 0) index.complete.add(scope);
      }),
  );
}

function addItems(index: LiveIndex, info: ResourceInfo, items: KubeObject[]): void {
  for (const item of items) {
    const object = asListed(info, item);
    index.objects.set(listedKey(info, item), object);
  }
}

function listedKey(info: ResourceInfo, item: KubeObject): string {
  const ref: ObjectRef = { apiVersion: info.apiVersion, kind: info.kind, name: item.metadata.name };
  if (info.namespaced) ref.namespace = item.metadata.namespace;
  return refKey(ref);
}

/** A LIST item as an object: items omit apiVersion/kind, which the rest of the engine reads. */
function asListed(info: ResourceInfo, item: KubeObject): KubeObject {
  return { ...item, apiVersion: info.apiVersion, kind: info.kind };
}

export type GetOutcome = { ok: true; object: KubeObject | undefined } | { ok: false; message: string };

/**
 * Reads one object; `object` is undefined when it does not exist. A read whose connection kept
 * breaking while the server answers others is that object's failure, not the run's.
 */
export async function getObject(kube: KubeClient, info: ResourceInfo, ref: ObjectRef): Promise<GetOutcome> {
  let res: KubeResponse<KubeObject>;
  try {
    res = await kube.request<KubeObject>({ method: 'GET', path: objectPath(info, ref.name, ref.namespace) });
  } catch (error) {
    if (!isConnectionBroken(error)) throw error;
    return { ok: false, message: `${describeRef(ref)}: ${(error as Error).message}` };
  }
  if (isSuccess(res)) return { ok: true, object: res.body };
  if (isNotFound(res)) return { ok: true, object: undefined };
  return { ok: false, message: apiErrorMessage(ref, res.status, res.body) };
}
