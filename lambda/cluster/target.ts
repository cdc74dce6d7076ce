/**
 * A Kubernetes client for an app's target: an EKS cluster by name (the Lambda) or a kubeconfig
 * context (the CLI, tests). EKS needs no kubeconfig and no long-lived credential: the endpoint
 * comes from `DescribeCluster`, the bearer token is signed here from the caller's AWS identity
 * and renewed while the client lives.
 */
import { delimiter } from 'node:path';
import type { EKSClient } from '@aws-sdk/client-eks';
import type { STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { withAwsHint } from '../aws-hints.ts';
import { explainDenied } from './explain-denied.ts';
import { createKubeClient, type KubeClient, kubeClientFromKubeConfig } from './kube-client.ts';
import {
  checkKubeConfigSize,
  defaultKubeConfigPath,
  kubeConfigSyntaxError,
  readSimpleKubeConfig,
} from './kubeconfig.ts';
import { kubeconfigIdentity, kubeconfigList, kubeconfigText, mergeKubeConfigs } from './kubeconfig-merge.ts';

export type ClusterTarget =
  | {
      type: 'eks';
      /** The EKS cluster's name. */
      name: string;
      region: string;
      /** A role to assume first, e.g. in the cluster's account. @default the caller's own identity */
      roleArn?: string;
      /** Session name for assuming `roleArn` (CloudTrail, the cluster's audit log). @default 'driftless' */
      sessionName?: string;
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
 * instead of as a bare 401 somewhere in a sync. The EKS code and the AWS SDK clients load only
 * when an EKS target is used.
 */
export async function connectCluster(
  target: ClusterTarget,
  options: ConnectOptions = {},
): Promise<KubeClient> {
  if (target.type === 'kubeconfig') return connectKubeConfig(target, options);
  const { connectEks } = await import('./eks-connect.ts');
  return connectEks(target, options).catch((error: unknown) => {
    throw withAwsHint(error);
  });
}

async function connectKubeConfig(
  target: Extract<ClusterTarget, { type: 'kubeconfig' }>,
  options: ConnectOptions,
): Promise<KubeClient> {
  const path = target.kubeconfig ?? defaultKubeConfigPath();
  const simple = path ? readSimpleKubeConfig(path, target.context) : undefined;
  const denied = { identity: kubeconfigIdentity(target.kubeconfig, target.context) };
  if (simple) return explainDenied(createKubeClient({ ...simple, timeoutMs: options.timeoutMs }), denied);

  // Exec plugins, auth providers, merged KUBECONFIG lists: client-node supports them all.
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  const list = target.kubeconfig ? undefined : kubeconfigList();
  const files = target.kubeconfig
    ? [target.kubeconfig]
    : (list ?? (process.env.KUBECONFIG ?? '').split(delimiter));
  // The same size bound as the simple reader; a parse error must not quote the file's line.
  for (const file of files.filter(Boolean)) checkKubeConfigSize(file);
  try {
    if (target.kubeconfig) kc.loadFromFile(target.kubeconfig);
    else if (list) {
      // client-node merges a list differently from kubectl (the last current-context wins, a
      // duplicate name is an error): merge it as kubectl does.
      kc.loadFromString(kubeconfigText(mergeKubeConfigs(list)));
    } else kc.loadFromDefault();
  } catch (error) {
    if ((error as Error)?.name === 'YAMLException') {
      throw kubeConfigSyntaxError(error, target.kubeconfig ?? process.env.KUBECONFIG ?? '(default)');
    }
    throw error;
  }
  if (target.context) {
    if (!kc.getContextObject(target.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new Error(
        `kubeconfig ${target.kubeconfig ?? '(default)'} has no context "${target.context}"; it has: ${known.join(', ') || 'none'}`,
      );
    }
    kc.setCurrentContext(target.context);
  }
  return explainDenied(await kubeClientFromKubeConfig(kc, { timeoutMs: options.timeoutMs }), denied);
}
