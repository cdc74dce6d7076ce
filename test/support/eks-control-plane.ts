/**
 * A private control plane that authenticates like EKS: kube-apiserver with the token verifier as
 * its TokenReview webhook, and RBAC that lets the verifier's `driftless:deployers` group do
 * anything. Pair it with a mocked `DescribeCluster` that answers `describeCluster()`.
 */
import type { DescribeClusterCommandOutput } from '@aws-sdk/client-eks';
import { type ControlPlane, startControlPlane } from './control-plane.ts';
import { kubectl } from './kubectl.ts';
import {
  type AccessEntry,
  type StsIdentity,
  startTokenVerifier,
  type TokenVerifier,
  type TokenVerifierOptions,
} from './token-verifier.ts';

/** The group bound to `cluster-admin`. */
export const DEPLOYERS_GROUP = 'driftless:deployers';

/** Fake credentials of the caller (the Lambda's role), known to the verifier's "STS". */
export const CALLER: StsIdentity = {
  accessKeyId: 'TESTKEYDRIFTLESS0001',
  secretAccessKey: 'driftless-test-secret-key-not-real/0001',
  sessionToken: 'driftless-test-session-token+not/real==',
  arn: 'arn:aws:sts::111122223333:assumed-role/driftless-agent/lambda-session',
};

/** The caller's role, mapped to a deployer. */
export const CALLER_ENTRY: AccessEntry = {
  arn: 'arn:aws:iam::111122223333:role/driftless-agent',
  username: 'driftless-agent',
  groups: [DEPLOYERS_GROUP],
};

export interface EksControlPlane {
  cp: ControlPlane;
  verifier: TokenVerifier;
  clusterName: string;
  region: string;
  /** What EKS `DescribeCluster` answers for this cluster. */
  describeCluster(status?: string): DescribeClusterCommandOutput;
  stop(): Promise<void>;
}

export interface EksControlPlaneOptions
  extends Partial<Omit<TokenVerifierOptions, 'clusterName' | 'region'>> {
  clusterName: string;
  /** @default 'eu-west-1' */
  region?: string;
}

export async function startEksControlPlane(options: EksControlPlaneOptions): Promise<EksControlPlane> {
  const region = options.region ?? 'eu-west-1';
  const verifier = await startTokenVerifier({
    clusterName: options.clusterName,
    region,
    identities: options.identities ?? [CALLER],
    accessEntries: options.accessEntries ?? [CALLER_ENTRY],
    now: options.now,
  });
  let cp: ControlPlane;
  try {
    cp = await startControlPlane({ tokenWebhookUrl: verifier.url });
  } catch (error) {
    await verifier.stop();
    throw error;
  }
  await kubectl(
    cp.kubeconfig,
    'create',
    'clusterrolebinding',
    'driftless-deployers',
    '--clusterrole=cluster-admin',
    `--group=${DEPLOYERS_GROUP}`,
  );
  return {
    cp,
    verifier,
    clusterName: options.clusterName,
    region,
    describeCluster: (status = 'ACTIVE') => ({
      $metadata: {},
      cluster: {
        name: options.clusterName,
        arn: `arn:aws:eks:${region}:111122223333:cluster/${options.clusterName}`,
        status: status as 'ACTIVE',
        endpoint: cp.server,
        certificateAuthority: { data: Buffer.from(cp.caPem).toString('base64') },
      },
    }),
    async stop() {
      await cp.stop();
      await verifier.stop();
    },
  };
}
