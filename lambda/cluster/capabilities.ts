/**
 * What a Helm chart may ask of the cluster through `.Capabilities`: the server's version and the
 * API versions it serves, with kinds (`apps/v1`, `apps/v1/Deployment`), as Helm's own client
 * would list them. Aggregated discovery (Kubernetes 1.30+, every EKS version) answers in two
 * requests; an older server gets the group versions from `/api` and `/apis` only.
 */
import type { ClusterCapabilities } from '../source/render/settings.ts';
import type { KubeClient } from './kube-client.ts';

const AGGREGATED = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json';

interface DiscoveryList {
  kind?: string;
  /** Aggregated: `APIGroupDiscoveryList`. */
  items?: {
    metadata?: { name?: string };
    versions?: { version: string; resources?: { resource: string; responseKind?: { kind?: string } }[] }[];
  }[];
  /** Plain `/apis`: `APIGroupList`. */
  groups?: { versions: { groupVersion: string }[] }[];
  /** Plain `/api`: `APIVersions`. */
  versions?: string[];
}

export async function clusterCapabilities(kube: KubeClient): Promise<ClusterCapabilities> {
  const [version, core, groups] = await Promise.all([
    get<{ gitVersion?: string }>(kube, '/version'),
    get<DiscoveryList>(kube, '/api', AGGREGATED),
    get<DiscoveryList>(kube, '/apis', AGGREGATED),
  ]);
  const apiVersions = new Set<string>();
  for (const list of [core, groups]) {
    for (const group of list.items ?? []) {
      const name = group.metadata?.name ?? '';
      for (const { version: v, resources } of group.versions ?? []) {
        const groupVersion = name ? `${name}/${v}` : v;
        apiVersions.add(groupVersion);
        for (const resource of resources ?? []) {
          if (resource.responseKind?.kind && !resource.resource.includes('/'))
            apiVersions.add(`${groupVersion}/${resource.responseKind.kind}`);
        }
      }
    }
    for (const v of list.versions ?? []) apiVersions.add(v);
    for (const group of list.groups ?? []) for (const v of group.versions) apiVersions.add(v.groupVersion);
  }
  if (!version.gitVersion) throw new Error(`${kube.server}/version did not name the server's version`);
  return { kubeVersion: version.gitVersion, apiVersions: [...apiVersions].sort() };
}

async function get<T>(kube: KubeClient, path: string, accept?: string): Promise<T> {
  const res = await kube.request<T>({ method: 'GET', path, accept });
  if (res.status !== 200) throw new Error(`cannot read ${path} from ${kube.server}: HTTP ${res.status}`);
  return res.body;
}
