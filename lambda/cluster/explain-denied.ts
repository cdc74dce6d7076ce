/**
 * A 401 or 403 from the API server says "Unauthorized" or "forbidden" but not which identity
 * driftless used nor where to fix it. This puts both into the Status message, so an error built
 * from it (at connect or mid-run) names the identity and points to the README's "Cluster access".
 */
import type { KubeClient, KubeRequest, KubeResponse } from './kube-client.ts';

export const ACCESS_DOCS = 'see "Cluster access" and "Troubleshooting" in the driftless README';

export interface DeniedExplanation {
  /** Who driftless authenticated as, e.g. `kubeconfig user "dev" (context "kind-dev")`. */
  identity: string;
  /**
   * The whole message of a 401, for a target that can say more than the default (EKS names the
   * access entry, cluster name and region). @default a message naming `identity`
   */
  unauthorizedMessage?: string;
}

export function explainDenied(client: KubeClient, explanation: DeniedExplanation): KubeClient {
  return {
    server: client.server,
    get requestCount() {
      return client.requestCount;
    },
    async request<T>(req: KubeRequest): Promise<KubeResponse<T>> {
      const res = await client.request<T>(req);
      const body = res.body as { message?: unknown } | undefined;
      if (!body || typeof body !== 'object' || typeof body.message !== 'string') return res;
      if (res.status === 401) {
        body.message =
          explanation.unauthorizedMessage ??
          `${body.message}: 401, the API server did not accept the credentials of ${explanation.identity} (authentication failed: expired or wrong token, certificate or access entry; ${ACCESS_DOCS})`;
      } else if (res.status === 403 && !body.message.includes(ACCESS_DOCS)) {
        body.message = `${body.message} (403: authenticated as ${explanation.identity}, but not allowed; grant it RBAC permissions or an EKS access policy: ${ACCESS_DOCS})`;
      }
      return res;
    },
  };
}
