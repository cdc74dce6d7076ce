/**
 * API discovery: which resource (plural name, scope) serves a kind in an apiVersion.
 *
 * Group-version resource lists (`/api/v1`, `/apis/<group>/<version>`) are fetched lazily and
 * cached for the life of one discovery (one run), so a run pays one request per group-version it
 * touches. `/api` and `/apis` are read only to explain an unknown kind (which versions a group
 * serves). `invalidate(groupVersion)` drops a cached list, e.g. after a CRD became Established.
 * `namespacedListable()` walks every served group (preferred versions only), for the rare
 * question "what is in this namespace?"; it is cached for the run too.
 */
import pLimit from 'p-limit';
import { isNotFound, isSuccess } from './api-errors.ts';
import type { KubeClient } from './kube-client.ts';

/** How a kind is served by the API server. */
export interface ResourceInfo {
  /** `''` for the core group. */
  group: string;
  version: string;
  /** `apps/v1`, `v1` for core. */
  apiVersion: string;
  kind: string;
  /** Plural resource name used in paths, e.g. `deployments`. */
  resource: string;
  namespaced: boolean;
}

interface ApiResourceList {
  resources?: { name: string; kind: string; namespaced: boolean; verbs?: string[] }[];
}

interface ApiGroupList {
  groups?: {
    name: string;
    versions: { groupVersion: string; version: string }[];
    preferredVersion?: { groupVersion: string };
  }[];
}

export interface Discovery {
  /** Resolves a kind, or `undefined` when the server does not serve it (yet). */
  resolve(apiVersion: string, kind: string): Promise<ResourceInfo | undefined>;
  /** Forgets the cached resource list of a group-version so the next `resolve` asks again. */
  invalidate(apiVersion: string): void;
  /** Versions the server serves for a group (for error messages); `[]` if the group is unknown. */
  servedVersions(group: string): Promise<string[]>;
  /**
   * Every namespaced resource that supports `list`, in each group's preferred version (one
   * version of a stored object is enough to see it), custom resources included. Throws when a
   * group-version cannot be discovered (an aggregated API that is down), because then the answer
   * would be incomplete.
   */
  namespacedListable(): Promise<ResourceInfo[]>;
  /**
   * Like `namespacedListable`, with the cluster-scoped resources too. With `onUnavailable`, a
   * group-version whose discovery fails (an aggregated API without a serving pod answers 503)
   * is skipped and told, instead of failing the whole list.
   */
  listable(onUnavailable?: (apiVersion: string, error: Error) => void): Promise<ResourceInfo[]>;
}

/** Splits `apps/v1` into group and version; `v1` is the core group. */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** Path of a collection: `/apis/apps/v1/namespaces/ns/deployments`, or cluster-wide without `namespace`. */
export function collectionPath(info: ResourceInfo, namespace?: string): string {
  const base = info.group ? `/apis/${info.group}/${info.version}` : `/api/${info.version}`;
  const ns = info.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${info.resource}`;
}

/** Path of one object. */
export function objectPath(info: ResourceInfo, name: string, namespace?: string): string {
  return `${collectionPath(info, namespace)}/${encodeURIComponent(name)}`;
}

/** Creates a discovery whose cache lives as long as the returned object. */
export function createDiscovery(kube: KubeClient): Discovery {
  const lists = new Map<string, Promise<ApiResourceList | undefined>>();
  let listable: Promise<ResourceInfo[]> | undefined;
  let everything: Promise<ResourceInfo[]> | undefined;

  const fetchList = (apiVersion: string): Promise<ApiResourceList | undefined> => {
    let pending = lists.get(apiVersion);
    if (!pending) {
      const { group, version } = splitApiVersion(apiVersion);
      const path = group ? `/apis/${group}/${version}` : `/api/${version}`;
      pending = kube.request<ApiResourceList>({ method: 'GET', path }).then((res) => {
        if (isNotFound(res)) return undefined;
        if (!isSuccess(res)) {
          throw new Error(`discovery of ${apiVersion} failed: HTTP ${res.status} ${describeBody(res.body)}`);
        }
        return res.body;
      });
      // A failed request must not poison the cache for the rest of the run.
      pending.catch(() => lists.delete(apiVersion));
      lists.set(apiVersion, pending);
    }
    return pending;
  };

  return {
    async resolve(apiVersion, kind) {
      const list = await fetchList(apiVersion);
      // Subresources (`deployments/status`) share the kind; only the top-level resource is wanted.
      const entry = list?.resources?.find((r) => r.kind === kind && !r.name.includes('/'));
      if (!entry) return undefined;
      const { group, version } = splitApiVersion(apiVersion);
      return { group, version, apiVersion, kind, resource: entry.name, namespaced: entry.namespaced };
    },
    invalidate(apiVersion) {
      lists.delete(apiVersion);
      listable = undefined;
      everything = undefined;
    },
    async servedVersions(group) {
      if (group === '') {
        const res = await kube.request<{ versions?: string[] }>({ method: 'GET', path: '/api' });
        return res.body?.versions ?? [];
      }
      const res = await kube.request<{ groups?: { name: string; versions: { version: string }[] }[] }>({
        method: 'GET',
        path: '/apis',
      });
      const found = res.body?.groups?.find((g) => g.name === group);
      return found?.versions.map((v) => v.version) ?? [];
    },
    listable(onUnavailable) {
      if (!everything) {
        const pending = listAllListable(kube, fetchList, false, onUnavailable);
        pending.catch(() => {
          if (everything === pending) everything = undefined;
        });
        everything = pending;
      }
      return everything;
    },
    namespacedListable() {
      if (!listable) {
        const pending = listAllListable(kube, fetchList, true);
        // A failure (say, an aggregated API that is down) must not stick for the rest of the run.
        pending.catch(() => {
          if (listable === pending) listable = undefined;
        });
        listable = pending;
      }
      return listable;
    },
  };
}

async function listAllListable(
  kube: KubeClient,
  fetchList: (apiVersion: string) => Promise<ApiResourceList | undefined>,
  namespacedOnly: boolean,
  onUnavailable?: (apiVersion: string, error: Error) => void,
): Promise<ResourceInfo[]> {
  const [core, apis] = await Promise.all([
    kube.request<{ versions?: string[] }>({ method: 'GET', path: '/api' }),
    kube.request<ApiGroupList>({ method: 'GET', path: '/apis' }),
  ]);
  for (const res of [core, apis]) {
    if (!isSuccess(res)) throw new Error(`discovery failed: HTTP ${res.status} ${describeBody(res.body)}`);
  }
  const groupVersions = [
    ...(core.body.versions ?? []).slice(0, 1),
    ...(apis.body.groups ?? []).flatMap((g) => {
      const preferred = g.preferredVersion?.groupVersion ?? g.versions[0]?.groupVersion;
      return preferred ? [preferred] : [];
    }),
  ];
  // A cluster with many CRDs serves a hundred group-versions or more: ask a few at a time.
  const limit = pLimit(8);
  const perVersion = await Promise.all(
    groupVersions.map(async (apiVersion) => {
      const list = await limit(() => fetchList(apiVersion)).catch((error: Error) => {
        if (!onUnavailable) throw error;
        onUnavailable(apiVersion, error);
        return undefined;
      });
      const { group, version } = splitApiVersion(apiVersion);
      return (list?.resources ?? [])
        .filter(
          (r) => (r.namespaced || !namespacedOnly) && !r.name.includes('/') && r.verbs?.includes('list'),
        )
        .map((r) => ({
          group,
          version,
          apiVersion,
          kind: r.kind,
          resource: r.name,
          namespaced: r.namespaced,
        }));
    }),
  );
  return perVersion.flat();
}

function describeBody(body: unknown): string {
  if (body && typeof body === 'object' && 'message' in body) return String(body.message);
  return typeof body === 'string' ? body.slice(0, 200) : '';
}
