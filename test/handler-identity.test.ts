/**
 * Each run acts as its app's own role: the handler assumes `DRIFTLESS_APP_ROLE_ARN_PREFIX` + app
 * with the session name `driftless-<app>`, and reads the Git secret, describes the cluster and
 * (for a cross-account cluster) assumes the cluster's role with those credentials, never with the
 * function's. STS, Secrets Manager and EKS are stand-ins (AWS is the other side); each records
 * whose credentials called it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { clearEksClusterCache } from '../lambda/cluster/eks.ts';
import { connectCluster } from '../lambda/cluster/target.ts';
import { createHandler } from '../lambda/handler.ts';
import { type LocalDynamo, startDynamo } from './support/dynamodb.ts';
import { type GitServer, startGitServer } from './support/git-server.ts';

const cp = inject('controlPlane');
const PREFIX = 'arn:aws:iam::111122223333:role/driftless/0a1b2c3d-eu-west-1-';
const FAR_ROLE = 'arn:aws:iam::444455556666:role/deployer';
const GIT_PASSWORD = 'identity-git-token-7d1e';
const TABLE = 'identity-history';

const sts = mockClient(STSClient);
const secrets = mockClient(SecretsManagerClient);
const eks = mockClient(EKSClient);

let git: GitServer;
let dynamo: LocalDynamo;
let workDir: string;
let configFile: string;

/** Who called what: `service action <- access key id`. */
let calls: string[];

async function caller(getClient: () => { config: { credentials: unknown } }): Promise<string> {
  const provider = getClient().config.credentials as AwsCredentialIdentityProvider;
  return (await provider()).accessKeyId;
}

beforeAll(async () => {
  git = await startGitServer({ auth: { username: 'deploy', password: GIT_PASSWORD }, tls: true });
  dynamo = await startDynamo({ table: TABLE });
  workDir = await mkdtemp(join(tmpdir(), 'driftless-handler-identity-'));
  const repo = await git.createRepo('identity-app');
  await repo.commit({
    'cm.yaml':
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: identity\n  namespace: default\ndata:\n  a: "1"\n',
  });
  configFile = join(workDir, 'apps.yaml');
  await writeFile(
    configFile,
    `apps:\n  - name: id-web\n    repo: ${repo.url}\n    credentialsSecret: git/id-web\n    cluster: { name: prod, region: eu-west-1 }\n` +
      `  - name: id-far\n    repo: ${repo.url}\n    credentialsSecret: git/id-web\n    cluster: { name: partner, region: eu-west-1, roleArn: "${FAR_ROLE}" }\n`,
  );
});

afterAll(async () => {
  sts.restore();
  secrets.restore();
  eks.restore();
  await git?.stop();
  await dynamo?.stop();
  await rm(workDir, { recursive: true, force: true });
});

beforeEach(() => {
  calls = [];
  clearEksClusterCache();
  sts.reset();
  secrets.reset();
  eks.reset();
  sts.on(AssumeRoleCommand).callsFake(async (input, getClient) => {
    calls.push(`sts AssumeRole ${input.RoleArn} as ${input.RoleSessionName} <- ${await caller(getClient)}`);
    return {
      Credentials: {
        AccessKeyId: `KEY-${input.RoleSessionName}-${input.RoleArn.split('/').at(-1)}`,
        SecretAccessKey: 'assumed-secret',
        SessionToken: 'assumed-session',
        Expiration: new Date(Date.now() + 3_600_000),
      },
    };
  });
  secrets.on(GetSecretValueCommand).callsFake(async (input, getClient) => {
    calls.push(`secretsmanager GetSecretValue ${input.SecretId} <- ${await caller(getClient)}`);
    return { SecretString: JSON.stringify({ username: 'deploy', password: GIT_PASSWORD }) };
  });
  eks.on(DescribeClusterCommand).callsFake(async (input, getClient) => {
    calls.push(`eks DescribeCluster ${input.name} <- ${await caller(getClient)}`);
    return {
      cluster: {
        name: input.name,
        status: 'ACTIVE',
        endpoint: cp.server,
        certificateAuthority: { data: Buffer.from(cp.caPem).toString('base64') },
      },
    };
  });
  vi.stubEnv('DRIFTLESS_CONFIG_FILE', configFile);
  vi.stubEnv('DRIFTLESS_TABLE', TABLE);
  vi.stubEnv('DRIFTLESS_CACHE_DIR', join(workDir, 'cache'));
  vi.stubEnv('DRIFTLESS_APP_ROLE_ARN_PREFIX', PREFIX);
  vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', dynamo.endpoint);
  vi.stubEnv('AWS_REGION', 'eu-west-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'FUNCTION-KEY');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'function-secret');
  // Powertools' log lines are not what these tests read.
  for (const stream of [process.stdout, process.stderr]) vi.spyOn(stream, 'write').mockReturnValue(true);
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe('per-app identity', () => {
  it("assumes the app's role as driftless-<app> and reads its secret and cluster with it, not the function's", async () => {
    const summary = await createHandler({ gitCa: [git.ca ?? ''] })({ app: 'id-web' });
    // The local API server knows no EKS token: the run reaches the cluster first (its identity
    // keys the state) and is refused there, before the secret is needed.
    expect(summary.outcome).toBe('Failed');
    expect(summary.error).toMatch(/rejected the token: 401/);
    expect(calls).toEqual([
      `sts AssumeRole ${PREFIX}id-web as driftless-id-web <- FUNCTION-KEY`,
      'eks DescribeCluster prod <- KEY-driftless-id-web-0a1b2c3d-eu-west-1-id-web',
    ]);
  });

  it("reads the app's Git secret with the app's role, not the function's", async () => {
    // A cluster that accepts the run (the local API server as admin), so the source is fetched.
    const summary = await createHandler({
      gitCa: [git.ca ?? ''],
      connect: () => connectCluster({ type: 'kubeconfig', kubeconfig: cp.kubeconfig }),
    })({ app: 'id-web' });
    expect(summary.error).toBeUndefined();
    expect(calls).toEqual([
      `sts AssumeRole ${PREFIX}id-web as driftless-id-web <- FUNCTION-KEY`,
      'secretsmanager GetSecretValue git/id-web <- KEY-driftless-id-web-0a1b2c3d-eu-west-1-id-web',
    ]);
  });

  it("reaches a cross-account cluster's role from the app's role, in a session named for the app", async () => {
    await createHandler({ gitCa: [git.ca ?? ''] })({ app: 'id-far' });
    expect(calls).toEqual([
      `sts AssumeRole ${PREFIX}id-far as driftless-id-far <- FUNCTION-KEY`,
      `sts AssumeRole ${FAR_ROLE} as driftless-id-far <- KEY-driftless-id-far-0a1b2c3d-eu-west-1-id-far`,
      'eks DescribeCluster partner <- KEY-driftless-id-far-deployer',
    ]);
  });

  it('keeps one set of app credentials per app across warm invocations', async () => {
    const handler = createHandler({ gitCa: [git.ca ?? ''] });
    await handler({ app: 'id-web' });
    await handler({ app: 'id-web' });
    expect(calls.filter((call) => call.startsWith('sts AssumeRole'))).toHaveLength(1);
  });
});
