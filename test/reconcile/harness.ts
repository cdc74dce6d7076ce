/** Shared set-up of the reconcile tests: a KubeClient on the shared control plane and manifest builders. */
import { inject } from 'vitest';
import { createKubeClient, type KubeClient, type KubeRequest } from '../../lambda/cluster/kube-client.ts';
import { reconcile } from '../../lambda/reconcile/reconcile.ts';
import type {
  AppState,
  DesiredObject,
  KubeObject,
  ReconcileOptions,
  ReconcileResult,
} from '../../lambda/reconcile/types.ts';

export const cp = inject('controlPlane');

/** A client of the test cluster that authenticates with `token`. */
export function tokenClient(token: string): KubeClient {
  return createKubeClient({
    server: cp.server,
    caPem: cp.caPem,
    authorization: async () => `Bearer ${token}`,
  });
}

export function adminClient(): KubeClient {
  return tokenClient(cp.adminToken);
}

/**
 * The platform app's identity (`driftless-platform`, examples/rbac/platform.yaml): the tests that
 * sync CRDs, webhooks and cluster RBAC run as it, not as `system:masters`.
 */
export function platformClient(): KubeClient {
  return tokenClient(cp.identities.platform.token);
}

/** Desired objects as a source would hand them over: one file per object unless named. */
export function manifests(...objects: (KubeObject | [string, KubeObject])[]): DesiredObject[] {
  return objects.map((o, i) =>
    Array.isArray(o)
      ? { object: o[1], origin: { file: o[0], document: 0 } }
      : { object: o, origin: { file: `manifests/${i}.yaml`, document: 0 } },
  );
}

/** Runs reconcile and keeps the state between runs, like the history store would. */
export function appRunner(kube: KubeClient, base: Omit<ReconcileOptions, 'revision'>) {
  let state: AppState = { inventory: [] };
  return {
    get state() {
      return state;
    },
    set state(next: AppState) {
      state = next;
    },
    async run(
      desired: DesiredObject[],
      revision: string,
      overrides: Partial<ReconcileOptions> = {},
    ): Promise<ReconcileResult> {
      const result = await reconcile({ kube, desired, options: { ...base, revision, ...overrides }, state });
      state = result.state;
      return result;
    },
  };
}

/** Looks up one object's result by kind and name. */
export function actionOf(result: ReconcileResult, kind: string, name: string) {
  return result.resources.find((r) => r.kind === kind && r.name === name);
}

export function namespace(name: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
}

/** A namespaced CRD of kind `Gizmo` (plural `gizmos`) in `group`, v1, any fields accepted. */
export function gizmoCrd(group: string): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `gizmos.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { kind: 'Gizmo', plural: 'gizmos' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  };
}

export function configMap(
  name: string,
  namespace: string | undefined,
  data: Record<string, string>,
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, ...(namespace ? { namespace } : {}) },
    data,
  };
}

export function deployment(
  name: string,
  namespace: string,
  options: { replicas?: number; image?: string; app?: string } = {},
): KubeObject {
  const app = options.app ?? name;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas: options.replicas ?? 1,
      selector: { matchLabels: { app } },
      template: {
        metadata: { labels: { app } },
        spec: {
          containers: [
            {
              name: 'web',
              image: options.image ?? 'nginx:1.25',
              ports: [{ containerPort: 80, protocol: 'TCP' }],
            },
          ],
        },
      },
    },
  };
}

/** A client that keeps every request it passes on to `kube`. */
export function recording(kube: KubeClient): { client: KubeClient; requests: KubeRequest[] } {
  const requests: KubeRequest[] = [];
  const client: KubeClient = {
    server: kube.server,
    get requestCount() {
      return kube.requestCount;
    },
    request<T>(req: KubeRequest) {
      requests.push(req);
      return kube.request<T>(req);
    },
  };
  return { client, requests };
}

/** A client that records the path of every DELETE it passes on to `kube`. */
export function recordingDeletes(kube: KubeClient) {
  const deletes: string[] = [];
  const client: KubeClient = {
    server: kube.server,
    get requestCount() {
      return kube.requestCount;
    },
    async request<T>(req: KubeRequest) {
      if (req.method === 'DELETE') deletes.push(req.path);
      return kube.request<T>(req);
    },
  };
  return { client, deletes };
}
