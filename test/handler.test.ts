/**
 * The Lambda handler with its real environment contract: config file, DynamoDB table (dynalite),
 * a Git server that needs credentials from Secrets Manager (mocked: AWS is the other side), the
 * local API server. The EKS connection is injected (pointed at the local API server): the EKS
 * token path itself is proven in test/cluster/ against a token-verifying API server.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { type ClusterTarget, connectCluster } from '../lambda/cluster/target.ts';
import { createHandler } from '../lambda/handler.ts';
import { openHistoryStore } from '../lambda/history/open-store.ts';
import { type LocalDynamo, startDynamo } from './support/dynamodb.ts';
import { type GitServer, startGitServer } from './support/git-server.ts';
import { kubectl, kubectlGet } from './support/kubectl.ts';

const cp = inject('controlPlane');
const GIT_PASSWORD = 'handler-git-token-4f9a2c';
const TABLE = 'handler-history';

let git: GitServer;
let dynamo: LocalDynamo;
let workDir: string;
let configFile: string;
const secrets = mockClient(SecretsManagerClient);

beforeAll(async () => {
  git = await startGitServer({ auth: { username: 'deploy', password: GIT_PASSWORD }, tls: true });
  dynamo = await startDynamo({ table: TABLE });
  workDir = await mkdtemp(join(tmpdir(), 'driftless-handler-test-'));
  const repo = await git.createRepo('handler-app');
  await repo.commit({
    'app/namespace.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: handler-test\n',
    'app/configmap.yaml':
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: handler-test\ndata:\n  mode: scheduled\n',
    'README.md': 'not a manifest folder\n',
  });
  configFile = join(workDir, 'apps.yaml');
  const cluster = '    cluster: { name: prod, region: eu-west-1 }\n';
  await writeFile(
    configFile,
    `apps:\n` +
      `  - name: handler-app\n    repo: ${repo.url}\n    path: app\n    namespace: handler-test\n    credentialsSecret: git/handler-app\n    prune: true\n${cluster}` +
      `  - name: handler-broken\n    repo: ${git.url('no-such-repo')}\n    credentialsSecret: git/handler-app\n${cluster}` +
      `  - name: handler-paused\n    repo: ${repo.url}\n    suspended: true\n${cluster}` +
      `  - name: handler-scoped\n    repo: ${repo.url}\n    path: app\n    credentialsSecret: git/handler-app\n${cluster}`,
  );
});

afterAll(async () => {
  secrets.restore();
  await git?.stop();
  await dynamo?.stop();
  await rm(workDir, { recursive: true, force: true });
});

/** Everything Powertools wrote, stdout and stderr. */
let stdout: string[];
beforeEach(() => {
  secrets.reset();
  secrets.on(GetSecretValueCommand, { SecretId: 'git/handler-app' }).resolves({
    SecretString: JSON.stringify({ username: 'deploy', password: GIT_PASSWORD }),
  });
  vi.stubEnv('DRIFTLESS_CONFIG_FILE', configFile);
  vi.stubEnv('DRIFTLESS_TABLE', TABLE);
  vi.stubEnv('DRIFTLESS_CACHE_DIR', join(workDir, 'cache'));
  vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', dynamo.endpoint);
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local');
  vi.stubEnv('POWERTOOLS_METRICS_NAMESPACE', undefined);
  stdout = [];
  // Powertools writes JSON log lines (errors to stderr) and EMF documents to stdout, as in Lambda.
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout.push(String(chunk));
      return true;
    });
  }
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

/** Every JSON document written to stdout. */
function documents(): Record<string, any>[] {
  return stdout
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
}

function emf(): Record<string, any> {
  const doc = documents().find((d) => d._aws);
  expect(doc, 'an EMF document').toBeDefined();
  return doc!;
}

function localConnector(targets: ClusterTarget[]) {
  return (target: ClusterTarget) => {
    targets.push(target);
    return connectCluster({ type: 'kubeconfig', kubeconfig: cp.kubeconfig });
  };
}

describe('handler', () => {
  it('syncs the app the event names and returns the run summary, logs and metrics', async () => {
    const targets: ClusterTarget[] = [];
    const handler = createHandler({ gitCa: [git.ca ?? ''], connect: localConnector(targets) });
    const summary = await handler({ app: 'handler-app' });

    expect(targets).toEqual([
      {
        type: 'eks',
        name: 'prod',
        region: 'eu-west-1',
        roleArn: undefined,
        sessionName: 'driftless-handler-app',
      },
    ]);
    expect(summary).toMatchObject({
      app: 'handler-app',
      cluster: 'prod (eu-west-1)',
      outcome: 'Synced',
      dryRun: false,
      counts: { created: 2 },
      revision: expect.stringMatching(/^[0-9a-f]{40}$/),
    });
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'settings', 'handler-test'))?.data.mode).toBe(
      'scheduled',
    );

    const store = await openHistoryStore(`dynamodb:${TABLE}`, { dynamodbClient: dynamo.clientConfig });
    try {
      const [run] = await store.listRuns({ app: 'handler-app' });
      expect(run).toMatchObject({ runId: summary.runId, outcome: 'Synced', trigger: 'schedule' });
    } finally {
      await store.close();
    }

    const logs = documents().filter((d) => d.message);
    const finished = logs.filter((d) => d.message === 'sync finished');
    expect(finished).toHaveLength(1);
    expect(finished[0]).toMatchObject({
      level: 'INFO',
      service: 'driftless',
      app: 'handler-app',
      cluster: 'prod (eu-west-1)',
      revision: summary.revision,
      outcome: 'Synced',
      counts: { created: 2 },
      durationMs: expect.any(Number),
    });
    const objects = logs.filter((d) => d.message === 'object created');
    expect(objects.map((d) => [d.action, d.kind, d.namespace, d.name])).toEqual([
      ['created', 'Namespace', undefined, 'handler-test'],
      ['created', 'ConfigMap', 'handler-test', 'settings'],
    ]);

    const metrics = emf();
    const definition = metrics._aws.CloudWatchMetrics[0];
    expect(definition.Namespace).toBe('Driftless');
    expect(definition.Dimensions[0]).toEqual(expect.arrayContaining(['app']));
    expect(definition.Metrics.map((m: { Name: string }) => m.Name).sort()).toEqual([
      'DriftDetected',
      'ObjectsApplied',
      'ObjectsPruned',
      'SyncDuration',
      'SyncFailures',
      'SyncRuns',
      'SyncedRuns',
    ]);
    expect(metrics).toMatchObject({
      app: 'handler-app',
      SyncRuns: 1,
      SyncFailures: 0,
      ObjectsApplied: 2,
      ObjectsPruned: 0,
      SyncedRuns: 1,
    });

    // The Git credential came from Secrets Manager and went nowhere else.
    const everything = stdout.join('');
    expect(everything).not.toContain(GIT_PASSWORD);
    expect(everything).not.toContain(Buffer.from(`deploy:${GIT_PASSWORD}`).toString('base64'));
  });

  it("applies the app's scope from the config: objects outside it fail the run before any write", async () => {
    // No namespace in the config: the scope is the default namespace only, and no Namespace but it.
    const summary = await createHandler({ gitCa: [git.ca ?? ''], connect: localConnector([]) })({
      app: 'handler-scoped',
    });
    expect(summary.outcome).toBe('Failed');
    expect(summary.error).toMatch(
      /Namespace handler-test is outside the app's scope: .*scope\.namespaces \[default\]/,
    );
    expect(summary.error).toMatch(/ConfigMap handler-test\/settings is outside the app's scope/);
    expect(summary.counts).toEqual({});
  });

  it('reports a deleted object as drift on the same revision and counts it in DriftDetected', async () => {
    const handler = createHandler({ gitCa: [git.ca ?? ''], connect: localConnector([]) });
    await handler({ app: 'handler-app' });
    stdout.length = 0;
    await kubectl(cp.kubeconfig, 'delete', 'configmap', 'settings', '-n', 'handler-test');
    // The app config has no self-heal: drift is reported, not healed.
    const summary = await handler({ app: 'handler-app' });
    expect(summary.outcome).toBe('OutOfSync');
    expect(emf()).toMatchObject({ DriftDetected: 1, ObjectsApplied: 0 });
    // The reason reaches CloudWatch under `detail` (Powertools drops a `message` attribute).
    expect(documents().find((d) => d.message === 'object drifted')).toMatchObject({
      kind: 'ConfigMap',
      name: 'settings',
      detail: expect.stringMatching(/was deleted from the cluster; self-heal is off/),
    });
    expect(documents().some((d) => /reserved key/.test(String(d.message)))).toBe(false);
  });

  it('returns a failed sync as a result (not an invocation error) and counts it in SyncFailures', async () => {
    const handler = createHandler({ gitCa: [git.ca ?? ''], connect: localConnector([]) });
    const summary = await handler({ app: 'handler-broken' });
    expect(summary.outcome).toBe('Failed');
    expect(summary.error).toMatch(/^fetch source: /);
    expect(summary.error).not.toContain(GIT_PASSWORD);
    expect(emf()).toMatchObject({ SyncRuns: 1, SyncFailures: 1 });
    expect(documents().find((d) => d.message === 'sync finished')).toMatchObject({
      level: 'ERROR',
      outcome: 'Failed',
    });
  });

  it('keeps run records as many days as DRIFTLESS_RECORD_TTL_DAYS says', async () => {
    vi.stubEnv('DRIFTLESS_RECORD_TTL_DAYS', '7');
    const summary = await createHandler({ gitCa: [git.ca ?? ''], connect: localConnector([]) })({
      app: 'handler-app',
    });
    const client = new DynamoDBClient(dynamo.clientConfig);
    try {
      const { Items = [] } = await client.send(new ScanCommand({ TableName: TABLE }));
      const record = Items.find((item) => item.sk?.S?.includes(summary.runId ?? 'none') && item.expiresAt);
      expect(Number(record?.expiresAt?.N)).toBe(
        Math.floor(Date.parse(summary.startedAt ?? '') / 1000) + 7 * 86_400,
      );
    } finally {
      client.destroy();
    }
  });

  it('does nothing for a suspended app', async () => {
    const targets: ClusterTarget[] = [];
    const summary = await createHandler({ gitCa: [git.ca ?? ''], connect: localConnector(targets) })({
      app: 'handler-paused',
    });
    expect(summary.outcome).toBe('Suspended');
    expect(targets).toEqual([]);
  });

  it('throws for invocation-level errors: bad event, unknown app, invalid config, missing table', async () => {
    const handler = createHandler({ gitCa: [git.ca ?? ''], connect: localConnector([]) });
    await expect(handler({})).rejects.toThrow(/invalid event .*"app"/);
    await expect(handler({ app: 'nope' })).rejects.toThrow(/unknown app "nope": no app of that name/);
    // A huge name is cut, and the configured apps are never listed to the invoker.
    const huge = await handler({ app: 'x'.repeat(300_000) }).then(
      () => '',
      (error: Error) => error.message,
    );
    expect(huge.length).toBeLessThan(300);
    expect(huge).toContain('(300002 characters)');
    expect(huge).not.toContain('handler-app');

    const badConfig = join(workDir, 'bad.yaml');
    await writeFile(
      badConfig,
      'apps:\n  - name: Bad_Name\n    repo: x\n    cluster: { name: c, region: nowhere }\n',
    );
    vi.stubEnv('DRIFTLESS_CONFIG_FILE', badConfig);
    const badConfigHandler = createHandler({ gitCa: [git.ca ?? ''], connect: localConnector([]) });
    await expect(badConfigHandler({ app: 'x' })).rejects.toThrow(
      /apps\[0\]\.name[\s\S]*apps\[0\]\.cluster\.region/,
    );

    vi.stubEnv('DRIFTLESS_CONFIG_FILE', configFile);
    vi.stubEnv('DRIFTLESS_TABLE', 'no-such-table');
    const noTable = createHandler({ gitCa: [git.ca ?? ''], connect: localConnector([]) });
    await expect(noTable({ app: 'handler-app' })).rejects.toThrow(
      /history store failed|not found|non-existent/i,
    );
  });
});
