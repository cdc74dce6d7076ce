/**
 * A Kubernetes client for an app's target: an EKS cluster by name (the Lambda) or a kubeconfig
 * context (the CLI, tests). EKS needs no kubeconfig and no long-lived credential: the endpoint
 * comes from `DescribeCluster`, the bearer token is signed here from the caller's AWS identity
 * and renewed while the client lives.
 */
import { EKSClient } from '@aws-sdk/client-eks';
import { STSClient } from '@aws-sdk/client-sts';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { KubeConfig } from '@kubernetes/client-node';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { assumedRoleCredentials } from './assume-role.ts';
import { describeEksCluster } from './eks.ts';
import {
  createKubeClient,
  type KubeClient,
  type KubeRequest,
  type KubeResponse,
  kubeClientFromKubeConfig,
} from './kube-client.ts';
import { eksTokenSource } from './token.ts';

export type ClusterTarget =
  | {
      type: 'eks';
      /** The EKS cluster's name. */
      name: string;
      region: string;
      /** A role to assume first, e.g. in the cluster's account. @default the caller's own identity */
      roleArn?: string;
    }
  | {
      type: 'kubeconfig';
      /** Path of a kubeconfig file. @default `KUBECONFIG`, else `~/.kube/config` */
      kubeconfig?: string;
      /** @default the kubeconfig's current context */
      context?: string;
    };

export interface ConnectOptions {
  /**
   * The EKS API client: an instance (used as is, e.g. a mocked one) or a factory that gets the
   * region and the credentials to use (the assumed role's when `roleArn` is set).
   * @default `new EKSClient({ region, credentials })`
   */
  eks?: EKSClient | ((region: string, credentials: AwsCredentialIdentityProvider) => EKSClient);
  /**
   * The STS client that assumes `roleArn`: an instance or a factory.
   * @default `new STSClient({ region, credentials })`
   */
  sts?: STSClient | ((region: string, credentials: AwsCredentialIdentityProvider) => STSClient);
  /** The caller's AWS identity. @default the SDK's default chain (in Lambda, the function's role) */
  credentials?: AwsCredentialIdentityProvider;
  /** The clock, in epoch ms; signs tokens and ages caches. @default Date.now */
  now?: () => number;
  /** Per-request timeout of the Kubernetes client. @default 30_000 */
  timeoutMs?: number;
}

/** The cluster refused the credentials driftless presented (HTTP 401). */
export class ClusterAuthenticationError extends Error {
  override name = 'ClusterAuthenticationError';
}

/**
 * Connects to `target`. For EKS it also sends one `GET /version` with the token, so a token the
 * cluster does not accept fails here with a `ClusterAuthenticationError` that says what to check,
 * instead of as a bare 401 somewhere in a sync.
 */
export async function connectCluster(
  target: ClusterTarget,
  options: ConnectOptions = {},
): Promise<KubeClient> {
  if (target.type === 'kubeconfig') return connectKubeConfig(target, options);

  const now = options.now ?? Date.now;
  const baseCredentials = options.credentials ?? fromNodeProviderChain();
  const credentials = target.roleArn
    ? assumedRoleCredentials({
        roleArn: target.roleArn,
        sts: clientFrom(options.sts, target.region, baseCredentials, STSClient),
        now,
      })
    : baseCredentials;
  const eks = clientFrom(options.eks, target.region, credentials, EKSClient);
  const { server, caPem } = await describeEksCluster({ ...target, eks, now });
  const token = eksTokenSource({ clusterName: target.name, region: target.region, credentials, now });
  const identity = target.roleArn ? `role ${target.roleArn}` : 'the AWS identity driftless runs as';
  const rejection =
    `EKS cluster "${target.name}" (${server}) rejected the token: 401 Unauthorized, authentication failed. ` +
    `Check that ${identity} has an EKS access entry (or an aws-auth mapping) on this cluster, ` +
    `and that the cluster name and region (${target.region}) are right.`;
  const client = explainUnauthorized(
    createKubeClient({
      server,
      caPem,
      timeoutMs: options.timeoutMs,
      authorization: async () => `Bearer ${await token()}`,
    }),
    rejection,
  );

  const probe = await client.request({ method: 'GET', path: '/version' });
  if (probe.status === 401) throw new ClusterAuthenticationError(rejection);
  return client;
}

/**
 * EKS answers a rejected token with a bare `Unauthorized`. This puts the reason and what to check
 * into the 401 Status message, so an error built from it (e.g. by the engine, mid-run, when
 * access was revoked) names authentication and the cluster. Everything else passes through.
 */
function explainUnauthorized(client: KubeClient, explanation: string): KubeClient {
  return {
    server: client.server,
    get requestCount() {
      return client.requestCount;
    },
    async request<T>(req: KubeRequest): Promise<KubeResponse<T>> {
      const res = await client.request<T>(req);
      if (res.status === 401 && res.body && typeof res.body === 'object' && 'message' in res.body) {
        (res.body as { message: unknown }).message = explanation;
      }
      return res;
    },
  };
}

async function connectKubeConfig(
  target: Extract<ClusterTarget, { type: 'kubeconfig' }>,
  options: ConnectOptions,
): Promise<KubeClient> {
  const kc = new KubeConfig();
  if (target.kubeconfig) kc.loadFromFile(target.kubeconfig);
  else kc.loadFromDefault();
  if (target.context) {
    if (!kc.getContextObject(target.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new Error(
        `kubeconfig ${target.kubeconfig ?? '(default)'} has no context "${target.context}"; it has: ${known.join(', ') || 'none'}`,
      );
    }
    kc.setCurrentContext(target.context);
  }
  return kubeClientFromKubeConfig(kc, { timeoutMs: options.timeoutMs });
}

function clientFrom<C>(
  given: C | ((region: string, credentials: AwsCredentialIdentityProvider) => C) | undefined,
  region: string,
  credentials: AwsCredentialIdentityProvider,
  Client: new (config: { region: string; credentials: AwsCredentialIdentityProvider }) => C,
): C {
  if (given === undefined) return new Client({ region, credentials });
  return typeof given === 'function'
    ? (given as (region: string, credentials: AwsCredentialIdentityProvider) => C)(region, credentials)
    : given;
}
