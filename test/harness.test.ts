/** Smoke tests: each local server the integration tests rely on is real and usable. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConditionalCheckFailedException, DynamoDB } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubectlBinary } from './support/control-plane.ts';
import { type LocalDynamo, startDynamo } from './support/dynamodb.ts';
import { type GitServer, startGitServer } from './support/git-server.ts';
import { kubectl, kubectlGet } from './support/kubectl.ts';

const exec = promisify(execFile);

describe('local control plane', () => {
  const cp = inject('controlPlane');

  it('creates a Namespace that kubectl reads back', async () => {
    await kubectl(cp.kubeconfig, 'create', 'namespace', 'harness-smoke');
    const ns = await kubectlGet(cp.kubeconfig, 'namespace', 'harness-smoke');
    expect(ns?.metadata.name).toBe('harness-smoke');
    expect(ns?.metadata.uid).toMatch(/[0-9a-f-]{36}/);
  });

  it('enforces RBAC: an unknown token is rejected', async () => {
    await expect(
      exec(kubectlBinary(), [
        '--server',
        cp.server,
        '--certificate-authority',
        cp.caFile,
        '--token',
        'not-a-token',
        'get',
        'ns',
      ]),
    ).rejects.toThrow(/Unauthorized|must be logged in/);
  });
});

describe('local git http server', () => {
  let git: GitServer;
  let dir: string;
  beforeAll(async () => {
    git = await startGitServer({ auth: { username: 'alice', password: 's3cret' }, tls: true });
    dir = await mkdtemp(join(tmpdir(), 'driftless-clone-'));
  });
  afterAll(async () => {
    await git.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves a pushed commit over smart HTTPS with Basic auth and refuses without it', async () => {
    const repo = await git.createRepo('team/app');
    const sha = await repo.commit({ 'hello.yaml': 'kind: ConfigMap\n' });
    const authed = repo.url.replace('https://', 'https://alice:s3cret@');
    // git trusts the server's own certificate the way a user's git trusts a private CA.
    const trusting = { env: { ...process.env, GIT_SSL_CAINFO: git.caFile } };
    await exec('git', ['clone', '--quiet', authed, join(dir, 'ok')], trusting);
    const { stdout } = await exec('git', ['-C', join(dir, 'ok'), 'rev-parse', 'HEAD']);
    expect(stdout.trim()).toBe(sha);
    await expect(
      exec('git', ['clone', '--quiet', repo.url, join(dir, 'anon')], {
        env: { ...trusting.env, GIT_TERMINAL_PROMPT: '0' },
      }),
    ).rejects.toThrow(/Authentication failed|could not read Username|401/);
    expect(git.requests.some((r) => r.status === 401)).toBe(true);
    expect(git.requests.some((r) => r.path.includes('git-upload-pack') && r.bytes > 0)).toBe(true);
  });
});

describe('local DynamoDB (dynalite)', () => {
  let dynamo: LocalDynamo;
  beforeAll(async () => {
    dynamo = await startDynamo();
  });
  afterAll(async () => {
    await dynamo.stop();
  });

  it('rejects a conditional put on an existing key as DynamoDB would', async () => {
    const db = new DynamoDB(dynamo.clientConfig);
    await db.createTable({
      TableName: 'smoke',
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    });
    const put = () =>
      db.putItem({
        TableName: 'smoke',
        Item: { pk: { S: 'lease#app' } },
        ConditionExpression: 'attribute_not_exists(pk)',
      });
    await put();
    await expect(put()).rejects.toBeInstanceOf(ConditionalCheckFailedException);
  });
});
