/**
 * CustomResourceDefinitions applied in the same run as their custom resources: what kinds they
 * will serve (so validation accepts the custom resources before the CRD exists), and waiting for
 * `Established` before anything is applied through them.
 */
import { isSuccess } from '../cluster/api-errors.ts';
import type { ResourceInfo } from '../cluster/discovery.ts';
import type { KubeClient } from '../cluster/kube-client.ts';
import type { KubeObject } from './types.ts';

const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

export function isCrd(object: { apiVersion: string; kind: string }): boolean {
  return object.kind === 'CustomResourceDefinition' && object.apiVersion.startsWith('apiextensions.k8s.io/');
}

interface CrdSpec {
  group?: string;
  scope?: string;
  names?: { kind?: string; plural?: string };
  version?: string;
  versions?: { name: string; served?: boolean }[];
}

/** The kinds (one entry per served version) a CRD manifest defines. */
export function kindsDefinedBy(crd: KubeObject): ResourceInfo[] {
  const spec = (crd.spec ?? {}) as CrdSpec;
  const group = spec.group;
  const kind = spec.names?.kind;
  const plural = spec.names?.plural;
  if (!group || !kind || !plural) return [];
  const versions = spec.versions?.filter((v) => v.served !== false).map((v) => v.name) ?? [];
  if (spec.version && !versions.includes(spec.version)) versions.push(spec.version);
  return versions.map((version) => ({
    group,
    version,
    apiVersion: `${group}/${version}`,
    kind,
    resource: plural,
    namespaced: spec.scope !== 'Cluster',
  }));
}

/**
 * Polls a CRD until its `Established` condition is True; false when `timeoutMs` passes first.
 * The first polls come quickly (a new CRD is usually Established within tens of milliseconds),
 * then every `intervalMs`.
 */
export async function waitEstablished(
  kube: KubeClient,
  name: string,
  options: { timeoutMs: number; intervalMs?: number },
): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs;
  let polls = 0;
  for (;;) {
    const res = await kube.request<KubeObject>({
      method: 'GET',
      path: `${CRD_PATH}/${encodeURIComponent(name)}`,
    });
    const conditions = (res.body?.status as { conditions?: { type: string; status: string }[] } | undefined)
      ?.conditions;
    if (isSuccess(res) && conditions?.some((c) => c.type === 'Established' && c.status === 'True'))
      return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, Math.min(options.intervalMs ?? 200, 25 * 2 ** polls)));
    polls += 1;
  }
}
