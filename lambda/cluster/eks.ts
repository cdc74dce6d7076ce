/**
 * Where an EKS cluster's API server is and which CA signs it, from `DescribeCluster`.
 *
 * A warm Lambda container syncs the same cluster every few minutes; the answer is cached per
 * container for a bounded time so a rotated CA or a recreated cluster is picked up soon after.
 */
import { DescribeClusterCommand, type EKSClient } from '@aws-sdk/client-eks';

/** How long a `DescribeCluster` answer is reused. */
export const CLUSTER_CACHE_MAX_AGE_MS = 5 * 60_000;

/** Statuses whose API server answers: `UPDATING` (version or config change) still serves. */
const SERVING_STATUSES = new Set(['ACTIVE', 'UPDATING']);

export interface EksEndpoint {
  /** `https://…eks.amazonaws.com` */
  server: string;
  /** CA bundle (PEM) of the API server's certificate. */
  caPem: string;
}

/** The cluster exists but cannot serve (creating, failed, deleting), or DescribeCluster lacks its coordinates. */
export class EksClusterNotReadyError extends Error {
  override name = 'EksClusterNotReadyError';
}

const cache = new Map<string, { endpoint: EksEndpoint; fetchedAt: number }>();

export interface DescribeEksClusterInput {
  name: string;
  region: string;
  /** Part of the cache key: the same name in another account is another cluster. */
  roleArn?: string;
  eks: EKSClient;
  /** @default Date.now */
  now?: () => number;
}

/** Endpoint and CA of a cluster that can serve; throws `EksClusterNotReadyError` naming the cluster and its status otherwise. */
export async function describeEksCluster(input: DescribeEksClusterInput): Promise<EksEndpoint> {
  const now = input.now ?? Date.now;
  const key = `${input.region}/${input.name}/${input.roleArn ?? ''}`;
  const cached = cache.get(key);
  if (cached && now() - cached.fetchedAt < CLUSTER_CACHE_MAX_AGE_MS) return cached.endpoint;

  const where = `EKS cluster "${input.name}" in ${input.region}`;
  const { cluster } = await input.eks
    .send(new DescribeClusterCommand({ name: input.name }))
    .catch((error: Error) => {
      // The SDK's message ("No cluster found for name: x.") lacks the region and the role in use.
      const via = input.roleArn ? ` (as ${input.roleArn})` : '';
      throw new Error(`DescribeCluster of ${where}${via} failed: ${error.name}: ${error.message}`, {
        cause: error,
      });
    });
  const status = cluster?.status ?? 'UNKNOWN';
  if (!SERVING_STATUSES.has(status)) {
    cache.delete(key);
    throw new EksClusterNotReadyError(
      `${where} is ${status}; driftless syncs only a cluster that is ACTIVE (or UPDATING)`,
    );
  }
  const caData = cluster?.certificateAuthority?.data;
  if (!cluster?.endpoint || !caData) {
    throw new EksClusterNotReadyError(`${where} has no API server endpoint or certificate authority yet`);
  }
  const endpoint = { server: cluster.endpoint, caPem: Buffer.from(caData, 'base64').toString('utf8') };
  cache.set(key, { endpoint, fetchedAt: now() });
  return endpoint;
}

/** Forgets every cached `DescribeCluster` answer (tests; a caller that saw the endpoint move). */
export function clearEksClusterCache(): void {
  cache.clear();
}
