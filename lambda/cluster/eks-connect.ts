/**
 * The EKS half of `connectCluster`, loaded on demand: DescribeCluster for the endpoint and CA, a
 * token signed from the caller's AWS identity (or an assumed role) and renewed while the client lives.
 */
import { EKSClient } from '@aws-sdk/client-eks';
import { STSClient } from '@aws-sdk/client-sts';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { isUnauthorized } from './api-errors.ts';
import { assumedRoleCredentials } from './assume-role.ts';
import { describeEksCluster } from './eks.ts';
import { explainDenied } from './explain-denied.ts';
import { createKubeClient, type KubeClient } from './kube-client.ts';
import { ClusterAuthenticationError, type ClusterTarget, type ConnectOptions } from './target.ts';
import { eksTokenSource } from './token.ts';

export async function connectEks(
  target: Extract<ClusterTarget, { type: 'eks' }>,
  options: ConnectOptions,
): Promise<KubeClient> {
  const now = options.now ?? Date.now;
  const baseCredentials = options.credentials ?? fromNodeProviderChain();
  const credentials = target.roleArn
    ? assumedRoleCredentials({
        roleArn: target.roleArn,
        sts: clientFrom(options.sts, target.region, baseCredentials, STSClient),
        sessionName: target.sessionName,
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
  // EKS answers a rejected token with a bare `Unauthorized`: an error built from it (at connect or
  // mid-run, when access was revoked) names authentication, the cluster and what to check.
  const client = explainDenied(
    createKubeClient({
      server,
      caPem,
      timeoutMs: options.timeoutMs,
      authorization: async () => `Bearer ${await token()}`,
    }),
    {
      identity: identity.replace(
        /^the AWS identity driftless runs as$/,
        'the AWS identity driftless runs as (aws sts get-caller-identity)',
      ),
      unauthorizedMessage: rejection,
    },
  );

  const probe = await client.request({ method: 'GET', path: '/version' });
  if (isUnauthorized(probe)) throw new ClusterAuthenticationError(rejection);
  return client;
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
