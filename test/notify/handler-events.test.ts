/**
 * Run events from the Lambda handler end to end: real runs against the local API server, the Git
 * server and DynamoDB (dynalite); EventBridge is AWS's side, so a mocked client stands in for it.
 * `changed` is computed from the previous run stored in the table, not from the container.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { createHandler } from '../../lambda/handler.ts';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import type { RunEventDetail } from '../../lambda/notify/run-event.ts';
import { type LocalDynamo, startDynamo } from '../support/dynamodb.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectl } from '../support/kubectl.ts';

const cp = inject('controlPlane');
const TABLE = 'events-history';
const BUS = 'arn:aws:events:eu-west-1:111122223333:event-bus/driftless';
const SECRET_VALUE = 'events-secret-value-51c9';
const DRIFTED_SECRET_VALUE = 'events-drifted-value-0e7b';

let git: GitServer;
let dynamo: LocalDynamo;
let workDir: string;
const eventBridge = mockClient(EventBridgeClient);

beforeAll(async () => {
  git = await startGitServer();
  dynamo = await startDynamo({ table: TABLE });
  workDir = await mkdtemp(join(tmpdir(), 'driftless-events-test-'));
  const repo = await git.createRepo('events-app');
  await repo.commit({
    'namespace.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: events-test\n',
    'configmap.yaml':
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: events-test\ndata:\n  mode: on\n',
    'secret.yaml': `apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n  namespace: events-test\nstringData:\n  token: ${SECRET_VALUE}\n`,
  });
  const cluster = '    cluster: { name: prod, region: eu-west-1 }\n';
  const configFile = join(workDir, 'apps.yaml');
  await writeFile(
    configFile,
    `apps:\n  - name: events-app\n    repo: ${repo.url}\n    namespace: events-test\n${cluster}` +
      `  - name: events-broken\n    repo: ${git.url('no-such-repo')}\n${cluster}`,
  );
  vi.stubEnv('DRIFTLESS_CONFIG_FILE', configFile);
});

afterAll(async () => {
  eventBridge.restore();
  await git?.stop();
  await dynamo?.stop();
  await rm(workDir, { recursive: true, force: true });
});

let output: string[];
beforeEach(() => {
  eventBridge.reset();
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e' }] });
  vi.stubEnv('DRIFTLESS_CONFIG_FILE', join(workDir, 'apps.yaml'));
  vi.stubEnv('DRIFTLESS_TABLE', TABLE);
  vi.stubEnv('DRIFTLESS_CACHE_DIR', join(workDir, 'cache'));
  vi.stubEnv('DRIFTLESS_EVENT_BUS', BUS);
  vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', dynamo.endpoint);
  vi.stubEnv('AWS_REGION', 'eu-west-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local');
  output = [];
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      output.push(String(chunk));
      return true;
    });
  }
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

function handler() {
  return createHandler({ connect: () => connectCluster({ type: 'kubeconfig', kubeconfig: cp.kubeconfig }) });
}

/** The details of the events put since the last reset, after checking their envelope. */
function events(): RunEventDetail[] {
  return eventBridge.commandCalls(PutEventsCommand).map((call) => {
    const entries = call.args[0].input.Entries!;
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      Source: 'driftless',
      DetailType: 'Sync Run Finished',
      EventBusName: BUS,
    });
    return JSON.parse(entries[0]!.Detail!);
  });
}

function documents(): Record<string, any>[] {
  return output
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
}

describe('run events from the handler', () => {
  it('puts one event per run, changed only when outcome or health moves, without Secret values', async () => {
    const first = await handler()({ app: 'events-app' });
    expect(first.error).toBeUndefined();
    expect(first.outcome).toBe('Synced');
    const [created] = events();
    expect(created).toMatchObject({
      app: 'events-app',
      cluster: 'prod (eu-west-1)',
      runId: first.runId,
      trigger: 'schedule',
      dryRun: false,
      outcome: 'Synced',
      revision: first.revision,
      counts: { created: 3 },
      objects: [],
      changed: true,
    });
    expect(created).not.toHaveProperty('previousOutcome');

    eventBridge.resetHistory();
    const second = await handler()({ app: 'events-app' });
    expect(events()).toEqual([
      expect.objectContaining({
        runId: second.runId,
        outcome: 'Synced',
        changed: false,
        previousOutcome: 'Synced',
        previousRevision: first.revision,
      }),
    ]);

    // Drift, not healed: the ConfigMap deleted, the Secret's value changed by hand.
    await kubectl(cp.kubeconfig, 'delete', 'configmap', 'settings', '-n', 'events-test');
    await kubectl(
      cp.kubeconfig,
      'patch',
      'secret',
      'token',
      '-n',
      'events-test',
      '--type',
      'merge',
      '-p',
      JSON.stringify({ stringData: { token: DRIFTED_SECRET_VALUE } }),
    );
    eventBridge.resetHistory();
    const drifted = await handler()({ app: 'events-app' });
    expect(drifted.outcome).toBe('OutOfSync');
    const [outOfSync] = events();
    expect(outOfSync).toMatchObject({
      outcome: 'OutOfSync',
      changed: true,
      previousOutcome: 'Synced',
      counts: { drifted: 2 },
    });
    expect(outOfSync!.objects.map((object) => [object.kind, object.name, object.action])).toEqual(
      expect.arrayContaining([
        ['ConfigMap', 'settings', 'drifted'],
        ['Secret', 'token', 'drifted'],
      ]),
    );
    expect(outOfSync!.summary).toMatch(/^events-app: OutOfSync \(was Synced/);
    const sent = JSON.stringify(eventBridge.commandCalls(PutEventsCommand).map((call) => call.args[0].input));
    for (const value of [SECRET_VALUE, DRIFTED_SECRET_VALUE]) {
      expect(sent).not.toContain(value);
      expect(sent).not.toContain(Buffer.from(value).toString('base64'));
    }

    // Still drifted: the same outcome again is not a change.
    eventBridge.resetHistory();
    await handler()({ app: 'events-app' });
    expect(events()).toEqual([expect.objectContaining({ outcome: 'OutOfSync', changed: false })]);
  });

  it('puts a Failed run with its error', async () => {
    const summary = await handler()({ app: 'events-broken' });
    expect(events()).toEqual([
      expect.objectContaining({
        app: 'events-broken',
        outcome: 'Failed',
        error: summary.error,
        changed: true,
        objects: [],
      }),
    ]);
  });

  it('keeps the run when PutEvents fails: recorded, logged as one line, counted in RunEventFailures', async () => {
    eventBridge
      .on(PutEventsCommand)
      .rejects(new Error('AccessDeniedException: events:PutEvents not allowed'));
    const summary = await handler()({ app: 'events-app' });
    expect(['Synced', 'OutOfSync']).toContain(summary.outcome);

    const store = await openHistoryStore(`dynamodb:${TABLE}`, { dynamodbClient: dynamo.clientConfig });
    try {
      const [latest] = await store.listRuns({ app: 'events-app', limit: 1 });
      expect(latest).toMatchObject({ runId: summary.runId, outcome: summary.outcome });
    } finally {
      await store.close();
    }
    const failures = documents().filter((doc) => doc.message === 'run event not published');
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      level: 'ERROR',
      app: 'events-app',
      runId: summary.runId,
      eventBus: BUS,
      error: expect.stringMatching(/AccessDenied/),
    });
    const metric = documents().find((doc) => doc.RunEventFailures !== undefined);
    expect(metric).toMatchObject({ RunEventFailures: 1, service: 'driftless' });
    expect(metric?._aws.CloudWatchMetrics[0].Dimensions[0]).toEqual(['service']);
  });
});
