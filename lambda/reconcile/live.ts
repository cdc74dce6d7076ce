/**
 * Reading what the app owns in the cluster: one labelled LIST per kind (cluster-wide), so a run
 * that changes nothing costs requests per kind, not per object; and single GETs for objects the
 * LIST cannot see (not yet labelled, or another app's).
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
}

export function kindKey(info: { group: string; kind: string }): string {
  return `${info.group}/${info.kind}`;
}

/** Lists every object of each kind that carries `driftless.dev/app=<app>`. */
export async function listOwned(kube: KubeClient, kinds: ResourceInfo[], app: string): Promise<LiveIndex> {
  const index: LiveIndex = { listed: new Set(), objects: new Map() };
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
      for (const item of res.body.items ?? []) {
        // List items omit apiVersion/kind; keep the ref shape the rest of the engine uses.
        const object = { ...item, apiVersion: info.apiVersion, kind: info.kind };
        const ref: ObjectRef = { apiVersion: info.apiVersion, kind: info.kind, name: item.metadata.name };
        if (info.namespaced) ref.namespace = item.metadata.namespace;
        index.objects.set(refKey(ref), object);
      }
    }),
  );
  return index;
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
