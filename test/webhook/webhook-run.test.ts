/**
 * A push and the schedule at the same moment: the receiver invokes the agent for the pushed app
 * while its scheduled run is starting. The app's lease lets exactly one of them reconcile; the
 * other is recorded `Skipped`. Lambda Invoke is AWS's side, so a mocked client stands in for it
 * and runs the agent handler in this process; Git, DynamoDB and the API server are real.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { createHandler, type SyncSummary } from '../../lambda/handler.ts';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import { silentLogger } from '../../lambda/log.ts';
import { loadSource } from '../../lambda/source/source.ts';
import { signBody } from '../../lambda/webhook/signature.ts';
import { createWebhookHandler } from '../../lambda/webhook.ts';
import { type LocalDynamo, startDynamo } from '../support/dynamodb.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectl } from '../support/kubectl.ts';

const cp = inject('controlPlane');
const TABLE = 'webhook-history';
const SECRET = 'webhook-run-secret-93ab';

let git: GitServer;
let dynamo: LocalDynamo;
let workDir: string;
let configFile: string;
let repoUrl: string;
const lambda = mockClient(LambdaClient);

beforeAll(async () => {
  git = await startGitServer();
  dynamo = await startDynamo({ table: TABLE });
  workDir = await mkdtemp(join(tmpdir(), 'driftless-webhook-run-'));
  const repo = await git.createRepo('hook-app');
  await repo.commit({
    'namespace.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: webhook-test\n',
    'configmap.yaml':
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pushed\n  namespace: webhook-test\ndata:\n  by: push\n',
  });
  repoUrl = repo.url;
  configFile = join(workDir, 'apps.yaml');
  await writeFile(
    configFile,
    `apps:\n  - name: hook-app\n    repo: ${repo.url}\n    ref: main\n    namespace: webhook-test\n    cluster: { name: prod, region: eu-west-1 }\n`,
  );
});

afterAll(async () => {
  lambda.restore();
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  await git?.stop();
  await dynamo?.stop();
  await rm(workDir, { recursive: true, force: true });
});

describe('a webhook run beside a scheduled run of the same app', () => {
  it('lets one reconcile and records the other Skipped, both in the history with their trigger', async () => {
    // The agent's EMF metric lines go to stdout, as in Lambda; keep them out of the test output.
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    for (const [name, value] of Object.entries({
      DRIFTLESS_CONFIG_FILE: configFile,
      DRIFTLESS_TABLE: TABLE,
      DRIFTLESS_FUNCTION: 'driftless-agent',
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    })) {
      vi.stubEnv(name, value);
    }
    // The winner of the lease waits in its fetch until the loser has finished, so the two runs
    // overlap for certain. Were both to take the lease, both would wait here and the test time out.
    let release!: () => void;
    const loserDone = new Promise<void>((resolve) => {
      release = resolve;
    });
    const agent = createHandler({
      logger: quietLogger(),
      connect: () => connectCluster({ type: 'kubeconfig', kubeconfig: cp.kubeconfig }),
      loadSource: async (settings) => {
        await loserDone;
        return loadSource(settings, { cacheDir: join(workDir, 'cache'), logger: silentLogger });
      },
    });
    const invoked: Promise<SyncSummary>[] = [];
    lambda.on(InvokeCommand).callsFake((input) => {
      invoked.push(agent(JSON.parse(Buffer.from(input.Payload).toString('utf8'))));
      return { StatusCode: 202 };
    });
    const receiver = createWebhookHandler({ getSecret: async () => SECRET, logger: quietLogger() });

    const scheduled = agent({ app: 'hook-app' });
    const body = JSON.stringify({
      ref: 'refs/heads/main',
      repository: { html_url: `${repoUrl.replace(/\.git$/, '')}/`, default_branch: 'main' },
    });
    const response = await receiver(push(body));
    expect(response.statusCode).toBe(202);
    expect(invoked).toHaveLength(1);
    void Promise.race([scheduled, invoked[0]!]).then(release, release);
    const summaries = await Promise.all([scheduled, invoked[0]!]);

    expect(summaries.map((summary) => summary.outcome).sort()).toEqual(['Skipped', 'Synced']);
    const store = await openHistoryStore(`dynamodb:${TABLE}`, { dynamodbClient: dynamo.clientConfig });
    try {
      const runs = await store.listRuns({ app: 'hook-app' });
      expect(runs.map((run) => run.trigger).sort()).toEqual(['schedule', 'webhook']);
      expect(runs.map((run) => run.outcome).sort()).toEqual(['Skipped', 'Synced']);
    } finally {
      await store.close();
    }
    const configMaps = await kubectl(
      cp.kubeconfig,
      'get',
      'configmaps',
      '-n',
      'webhook-test',
      '-l',
      'driftless.dev/app=hook-app',
      '-o',
      'name',
    );
    expect(configMaps.trim().split('\n')).toEqual(['configmap/pushed']);
  });
});

function push(body: string): LambdaFunctionURLEvent {
  return {
    body,
    isBase64Encoded: false,
    headers: { 'x-github-event': 'push', 'x-hub-signature-256': signBody(body, SECRET) },
    requestContext: { http: { method: 'POST', sourceIp: '192.0.2.1' } },
  } as unknown as LambdaFunctionURLEvent;
}

function quietLogger() {
  return {
    info() {},
    warn() {},
    error() {},
    debug() {},
    appendKeys() {},
    removeKeys() {},
    addContext() {},
  } as never;
}
