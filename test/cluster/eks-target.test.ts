/**
 * `connectCluster` for an EKS target, against a real kube-apiserver that authenticates tokens
 * through the aws-iam-authenticator stand-in. AWS itself (DescribeCluster, AssumeRole) is mocked.
 */
import { DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CLUSTER_CACHE_MAX_AGE_MS,
  clearEksClusterCache,
  describeEksCluster,
} from '../../lambda/cluster/eks.ts';
import { createKubeClient, type KubeClient } from '../../lambda/cluster/kube-client.ts';
import { ClusterAuthenticationError, connectCluster } from '../../lambda/cluster/target.ts';
import { getEksToken, TOKEN_PREFIX } from '../../lambda/cluster/token.ts';
import { CALLER, type EksControlPlane, startEksControlPlane } from '../support/eks-control-plane.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';

const eksMock = mockClient(EKSClient);
const stsMock = mockClient(STSClient);
const caller: AwsCredentialIdentityProvider = async () => CALLER;

/** Role in another account that the agent assumes; the verifier's STS knows its session keys. */
const ROLE_ARN = 'arn:aws:iam::444455556666:role/driftless-deployer';
const ROLE_SESSION = {
  accessKeyId: 'ASIADRIFTLESSROLE001',
  secretAccessKey: 'driftless-test-role-secret-not-real/0001',
  sessionToken: 'driftless-test-role-session-token/not+real==',
  arn: 'arn:aws:sts::444455556666:assumed-role/driftless-deployer/driftless',
};
/** Mapped to a user, but no RBAC binding gives that user anything. */
const AUDITOR = {
  accessKeyId: 'TESTKEYDRIFTLESSAUD1',
  secretAccessKey: 'driftless-test-auditor-secret-not-real',
  arn: 'arn:aws:iam::111122223333:user/auditor',
};

let eks: EksControlPlane;
const ns = 'eks-target-test';

beforeAll(async () => {
  eks = await startEksControlPlane({
    clusterName: 'prod-eu',
    identities: [CALLER, ROLE_SESSION, AUDITOR],
    accessEntries: [
      {
        arn: 'arn:aws:iam::111122223333:role/driftless-agent',
        username: 'driftless-agent',
        groups: ['driftless:deployers'],
      },
      { arn: ROLE_ARN, username: 'cross-account-deployer', groups: ['driftless:deployers'] },
      { arn: AUDITOR.arn, username: 'auditor', groups: ['auditors'] },
    ],
  });
  await kubectl(eks.cp.kubeconfig, 'create', 'namespace', ns);
});

afterAll(async () => {
  await eks?.stop();
});

beforeEach(() => {
  clearEksClusterCache();
  eksMock.reset();
  stsMock.reset();
  eksMock.on(DescribeClusterCommand).resolves(eks.describeCluster());
  eks.verifier.options.now = undefined;
});

const target = () => ({ type: 'eks' as const, name: eks.clusterName, region: eks.region });

async function createConfigMap(client: KubeClient, name: string) {
  return client.request({
    method: 'POST',
    path: `/api/v1/namespaces/${ns}/configmaps`,
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { via: 'eks-token' } },
  });
}

/** A valid token with its presigned URL edited, sent straight to the API server. */
async function requestWithEditedToken(edit: (url: URL) => void) {
  const { token } = await getEksToken({
    clusterName: eks.clusterName,
    region: eks.region,
    credentials: CALLER,
  });
  const url = new URL(Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8'));
  edit(url);
  const edited = TOKEN_PREFIX + Buffer.from(url.toString()).toString('base64url');
  const client = createKubeClient({
    server: eks.cp.server,
    caPem: eks.cp.caPem,
    authorization: async () => `Bearer ${edited}`,
  });
  return client.request<{ reason?: string; code?: number }>({ method: 'GET', path: '/api/v1/namespaces' });
}

describe('connectCluster to an EKS cluster', () => {
  it('creates and reads objects through the real API server with a signed token', async () => {
    const client = await connectCluster(target(), { credentials: caller });
    expect(client.server).toBe(eks.cp.server);
    const created = await client.request({
      method: 'POST',
      path: '/api/v1/namespaces',
      body: { metadata: { name: 'created-with-eks-token' } },
    });
    expect(created.status).toBe(201);
    expect(await kubectlGet(eks.cp.kubeconfig, 'namespace', 'created-with-eks-token')).toBeDefined();
    expect((await createConfigMap(client, 'hello')).status).toBe(201);

    const read = await client.request<{ data: Record<string, string> }>({
      method: 'GET',
      path: `/api/v1/namespaces/${ns}/configmaps/hello`,
    });
    expect(read.status).toBe(200);
    expect(read.body.data.via).toBe('eks-token');
    expect((await kubectlGet(eks.cp.kubeconfig, 'configmap', 'hello', ns))?.data).toEqual({
      via: 'eks-token',
    });

    const review = eks.verifier.reviews.at(-1);
    expect(review).toMatchObject({
      authenticated: true,
      username: 'driftless-agent',
      accessKeyId: CALLER.accessKeyId,
    });
    expect(eksMock.commandCalls(DescribeClusterCommand)[0]?.args[0].input).toEqual({ name: 'prod-eu' });
  });

  it('maps the IAM identity to a Kubernetes user that RBAC then judges', async () => {
    const client = await connectCluster(target(), { credentials: async () => AUDITOR });
    const denied = await createConfigMap(client, 'audit');
    expect(denied.status).toBe(403);
    expect((denied.body as { message: string }).message).toContain('User "auditor" cannot create resource');
  });

  it('explains a 403: the identity it came from and the README section on access entries', async () => {
    const client = await connectCluster(target(), { credentials: async () => AUDITOR });
    const denied = await createConfigMap(client, 'audit-hint');
    const message = (denied.body as { message: string }).message;
    expect(message).toMatch(
      /authenticated as the AWS identity driftless runs as \(aws sts get-caller-identity\)/,
    );
    expect(message).toMatch(/EKS access policy: see "Cluster access"/);
  });

  it('asks DescribeCluster once per warm container, not once per connect', async () => {
    await connectCluster(target(), { credentials: caller });
    await connectCluster(target(), { credentials: caller });
    expect(eksMock.commandCalls(DescribeClusterCommand)).toHaveLength(1);
  });

  it('asks DescribeCluster again once the cached answer is older than its bound', async () => {
    let clock = Date.now();
    const input = {
      name: 'prod-eu',
      region: 'eu-west-1',
      eks: new EKSClient({ region: 'eu-west-1' }),
      now: () => clock,
    };
    await describeEksCluster(input);
    clock += CLUSTER_CACHE_MAX_AGE_MS - 1;
    await describeEksCluster(input);
    expect(eksMock.commandCalls(DescribeClusterCommand)).toHaveLength(1);
    clock += 1;
    await describeEksCluster(input);
    expect(eksMock.commandCalls(DescribeClusterCommand)).toHaveLength(2);
  });

  it('assumes roleArn first and signs DescribeCluster and the token with the role session', async () => {
    stsMock.on(AssumeRoleCommand).resolves({
      Credentials: {
        AccessKeyId: ROLE_SESSION.accessKeyId,
        SecretAccessKey: ROLE_SESSION.secretAccessKey,
        SessionToken: ROLE_SESSION.sessionToken,
        Expiration: new Date(Date.now() + 3_600_000),
      },
      AssumedRoleUser: { Arn: ROLE_SESSION.arn, AssumedRoleId: 'AROA:driftless' },
    });
    let stsCredentials: AwsCredentialIdentityProvider | undefined;
    let eksCredentials: AwsCredentialIdentityProvider | undefined;
    const client = await connectCluster(
      { ...target(), roleArn: ROLE_ARN },
      {
        credentials: caller,
        sts: (region, credentials) => {
          stsCredentials = credentials;
          return new STSClient({ region, credentials });
        },
        eks: (region, credentials) => {
          eksCredentials = credentials;
          return new EKSClient({ region, credentials });
        },
      },
    );
    expect((await createConfigMap(client, 'from-role')).status).toBe(201);

    expect(stsMock.commandCalls(AssumeRoleCommand)[0]?.args[0].input).toEqual({
      RoleArn: ROLE_ARN,
      RoleSessionName: 'driftless',
    });
    expect(stsCredentials).toBe(caller);
    expect((await eksCredentials?.())?.accessKeyId).toBe(ROLE_SESSION.accessKeyId);
    expect(eks.verifier.reviews.at(-1)).toMatchObject({
      authenticated: true,
      arn: ROLE_SESSION.arn,
      accessKeyId: ROLE_SESSION.accessKeyId,
      username: 'cross-account-deployer',
    });
  });

  it('renews the token every 10 minutes, so an hour-long run never sends an expired one', async () => {
    // Minutes before any other test signed, so no other test's token equals one of these.
    const start = Date.now() - 197_000;
    let clock = start;
    eks.verifier.options.now = () => clock;
    const before = eks.verifier.reviews.length;
    const client = await connectCluster(target(), { credentials: caller, now: () => clock });
    for (let minute = 0; minute < 60; minute += 1) {
      expect((await client.request({ method: 'GET', path: '/api/v1/namespaces' })).status).toBe(200);
      clock += 60_000;
    }
    // kube-apiserver reviews each token once; every review came while its token was fresh.
    const seen = eks.verifier.reviews.slice(before);
    expect(seen.every((r) => r.authenticated)).toBe(true);
    const amzDate = (ms: number) => new Date(ms).toISOString().replace(/[-:]|\.\d{3}/g, '');
    expect(seen.map((r) => r.amzDate)).toEqual(
      [0, 10, 20, 30, 40, 50].map((m) => amzDate(start + m * 60_000)),
    );
  });
});

describe('connectCluster rejects, naming authentication,', () => {
  it('a token for another cluster (401)', async () => {
    const attempt = connectCluster({ ...target(), name: 'someone-elses-cluster' }, { credentials: caller });
    await expect(attempt).rejects.toThrow(ClusterAuthenticationError);
    await expect(attempt).rejects.toThrow(/"someone-elses-cluster".*401 Unauthorized, authentication failed/);
    expect(eks.verifier.reviews.at(-1)?.reason).toMatch(/SignatureDoesNotMatch/);
  });

  it('a token whose X-Amz-Date is more than 15 minutes old (401)', async () => {
    const stale = Date.now() - 16 * 60_000;
    await expect(connectCluster(target(), { credentials: caller, now: () => stale })).rejects.toThrow(
      /401 Unauthorized, authentication failed/,
    );
    expect(eks.verifier.reviews.at(-1)?.reason).toMatch(/X-Amz-Date parameter is expired/);
  });

  it('a token signed with the wrong secret (401)', async () => {
    const forged = async () => ({ ...CALLER, secretAccessKey: 'not-the-secret' });
    await expect(connectCluster(target(), { credentials: forged })).rejects.toThrow(/authentication failed/);
    expect(eks.verifier.reviews.at(-1)?.reason).toMatch(/SignatureDoesNotMatch/);
  });

  it('never puts the token in the error message', async () => {
    const error = await connectCluster({ ...target(), name: 'other' }, { credentials: caller }).catch(
      (e: Error) => e,
    );
    const sent = eks.verifier.reviews.at(-1)?.token ?? '';
    expect(sent.startsWith(TOKEN_PREFIX)).toBe(true);
    expect(String(error)).not.toContain(sent.slice(TOKEN_PREFIX.length, TOKEN_PREFIX.length + 40));
    expect(String(error)).not.toContain(TOKEN_PREFIX);
    expect(JSON.stringify(error)).not.toContain(TOKEN_PREFIX);
  });
});

describe('the API server answers 401 for', () => {
  it('a token whose signature was tampered with', async () => {
    const res = await requestWithEditedToken((url) => {
      const signature = url.searchParams.get('X-Amz-Signature') ?? '';
      url.searchParams.set(
        'X-Amz-Signature',
        `${signature.slice(0, -1)}${signature.endsWith('0') ? '1' : '0'}`,
      );
    });
    expect(res.status).toBe(401);
    expect(res.body.reason).toBe('Unauthorized');
    expect(eks.verifier.reviews.at(-1)?.reason).toMatch(/SignatureDoesNotMatch/);
  });

  it('a token with an extra query key', async () => {
    const res = await requestWithEditedToken((url) => url.searchParams.set('X-Amz-Extra', '1'));
    expect(res.status).toBe(401);
    expect(eks.verifier.reviews.at(-1)?.reason).toMatch(/non-whitelisted query parameter "X-Amz-Extra"/);
  });
});

describe('connectCluster refuses a cluster that cannot serve', () => {
  for (const status of ['CREATING', 'PENDING', 'FAILED', 'DELETING']) {
    it(`${status}, naming the cluster and its status`, async () => {
      eksMock.on(DescribeClusterCommand).resolves(eks.describeCluster(status));
      const reviews = eks.verifier.reviews.length;
      await expect(connectCluster(target(), { credentials: caller })).rejects.toThrow(
        `EKS cluster "prod-eu" in eu-west-1 is ${status}`,
      );
      expect(eks.verifier.reviews.length).toBe(reviews);
    });
  }

  it('that DescribeCluster does not find, naming the cluster and region', async () => {
    eksMock.on(DescribeClusterCommand).rejects(
      Object.assign(new Error('No cluster found for name: prod-eu.'), {
        name: 'ResourceNotFoundException',
      }),
    );
    await expect(connectCluster(target(), { credentials: caller })).rejects.toThrow(
      'DescribeCluster of EKS cluster "prod-eu" in eu-west-1 failed: ResourceNotFoundException: No cluster found',
    );
  });

  it('but connects to an UPDATING cluster, which still serves', async () => {
    eksMock.on(DescribeClusterCommand).resolves(eks.describeCluster('UPDATING'));
    const client = await connectCluster(target(), { credentials: caller });
    expect((await client.request({ method: 'GET', path: '/api/v1/namespaces' })).status).toBe(200);
  });
});
