/**
 * The run event's detail for each outcome, `changed` from the stored previous run, the size cap,
 * and publishing: EventBridge is AWS's side, so a mocked client stands in for it; the history is
 * the real embedded store.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteHistoryStore } from '../../lambda/history/sqlite-store.ts';
import type { SyncRecord } from '../../lambda/history/store.ts';
import type { SyncLogger } from '../../lambda/log.ts';
import { runEventPublisher } from '../../lambda/notify/publish.ts';
import {
  detailBytes,
  hasChanged,
  MAX_DETAIL_BYTES,
  previousFinishedRun,
  runEventDetail,
} from '../../lambda/notify/run-event.ts';
import type { ResourceResult } from '../../lambda/reconcile/types.ts';

const REVISION = 'a'.repeat(40);

function run(overrides: Partial<SyncRecord> = {}): SyncRecord {
  return {
    runId: 'run-2',
    app: 'events-app',
    revision: REVISION,
    outcome: 'Synced',
    dryRun: false,
    trigger: 'schedule',
    cluster: 'prod (eu-west-1)',
    startedAt: '2026-12-01T10:00:00.000Z',
    finishedAt: '2026-12-01T10:00:01.500Z',
    durationMs: 1500,
    resources: [],
    counts: {},
    health: 'Healthy',
    ...overrides,
  };
}

function resource(name: string, action: ResourceResult['action'], message?: string): ResourceResult {
  return { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'web', name, action, message };
}

describe('run event detail', () => {
  it('describes a Synced run: ids, revisions, counts, no objects when nothing needs attention', () => {
    const detail = runEventDetail(
      run({
        resources: [resource('a', 'created'), resource('b', 'unchanged')],
        counts: { created: 1, unchanged: 1 },
      }),
      run({ runId: 'run-1' }),
      'b'.repeat(40),
    );
    expect(detail).toEqual({
      app: 'events-app',
      cluster: 'prod (eu-west-1)',
      runId: 'run-2',
      trigger: 'schedule',
      dryRun: false,
      outcome: 'Synced',
      health: 'Healthy',
      revision: REVISION,
      previousRevision: 'b'.repeat(40),
      startedAt: '2026-12-01T10:00:00.000Z',
      finishedAt: '2026-12-01T10:00:01.500Z',
      durationMs: 1500,
      counts: { created: 1, unchanged: 1 },
      objects: [],
      objectsOmitted: 0,
      changed: false,
      previousOutcome: 'Synced',
      previousHealth: 'Healthy',
      summary: `events-app: Synced (was Synced/Healthy), health Healthy, revision ${REVISION.slice(0, 12)}`,
    });
  });

  it('names drifted, orphaned and pruned objects of an OutOfSync run, never their diff', () => {
    const detail = runEventDetail(
      run({
        outcome: 'OutOfSync',
        resources: [
          { ...resource('drifted-one', 'drifted', 'was deleted from the cluster'), diff: '- data: x' },
          resource('left', 'orphaned'),
          resource('gone', 'pruned'),
          resource('same', 'unchanged'),
        ],
      }),
      run({ runId: 'run-1' }),
    );
    expect(detail.changed).toBe(true);
    expect(detail.objects).toEqual([
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        namespace: 'web',
        name: 'drifted-one',
        action: 'drifted',
        message: 'was deleted from the cluster',
      },
      { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'web', name: 'left', action: 'orphaned' },
      { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'web', name: 'gone', action: 'pruned' },
    ]);
    expect(JSON.stringify(detail)).not.toContain('data: x');
    expect(detail.summary).toBe(
      `events-app: OutOfSync (was Synced/Healthy), health Healthy, revision ${REVISION.slice(0, 12)}. ` +
        'ConfigMap web/drifted-one drifted: was deleted from the cluster; ConfigMap web/left orphaned; ConfigMap web/gone pruned',
    );
  });

  it('carries the error of a Failed run and no health', () => {
    const detail = runEventDetail(
      run({
        outcome: 'Failed',
        health: undefined,
        revision: '',
        error: 'fetch source: "repo" <gone>\nretry later',
      }),
      run({ runId: 'run-1' }),
    );
    expect(detail).toMatchObject({
      outcome: 'Failed',
      error: 'fetch source: "repo" <gone>\nretry later',
      changed: true,
    });
    expect(detail).not.toHaveProperty('health');
    // The summary is pasted into an input template: no quotes, angle brackets or line breaks.
    expect(detail.summary).toBe(
      "events-app: Failed (was Synced/Healthy). error: fetch source: 'repo' 'gone' retry later",
    );
  });

  it('marks a Skipped run (lease held by another run) as not changed', () => {
    const skipped = run({
      outcome: 'Skipped',
      health: undefined,
      revision: '',
      error: 'another sync holds the lease',
    });
    expect(runEventDetail(skipped, run({ runId: 'run-1' })).changed).toBe(false);
    expect(runEventDetail(skipped, undefined).changed).toBe(false);
  });

  it('counts a first run as a change, and a recovery back to Synced as one', () => {
    expect(hasChanged(run(), undefined)).toBe(true);
    expect(hasChanged(run(), run({ outcome: 'Failed', health: undefined }))).toBe(true);
    expect(hasChanged(run({ health: 'Degraded' }), run())).toBe(true);
    expect(
      hasChanged(
        run({ outcome: 'Failed', health: undefined, error: 'other' }),
        run({ outcome: 'Failed', health: undefined, error: 'one' }),
      ),
    ).toBe(false);
  });

  it('compares with the latest finished run that is not a plan, a skip or this run', () => {
    const runs = [
      run({ runId: 'run-9' }),
      run({ runId: 'run-8', outcome: 'Skipped' }),
      run({ runId: 'run-7', dryRun: true, outcome: 'OutOfSync' }),
      run({ runId: 'run-6', outcome: 'Running' }),
      run({ runId: 'run-5', outcome: 'Failed' }),
      run({ runId: 'run-4' }),
    ];
    expect(previousFinishedRun(runs, 'run-9')?.runId).toBe('run-5');
  });

  it('keeps a run with thousands of failed objects under the EventBridge entry limit', () => {
    const message = 'x'.repeat(5000);
    const resources = Array.from({ length: 3000 }, (_, i) => resource(`cm-${i}`, 'failed', message));
    const detail = runEventDetail(run({ outcome: 'Failed', resources, counts: { failed: 3000 } }), undefined);
    expect(detailBytes(detail)).toBeLessThanOrEqual(MAX_DETAIL_BYTES);
    expect(detail.objects.length).toBeGreaterThan(0);
    expect(detail.objects.length + detail.objectsOmitted).toBe(3000);
    expect(detail.objects[0]!.message!.length).toBeLessThanOrEqual(1000);
    expect(detail.summary).toContain('and 2997 more');
  });
});

describe('run event publisher', () => {
  const eventBridge = mockClient(EventBridgeClient);
  const lines: { level: string; message: string; attributes?: Record<string, unknown> }[] = [];
  const logger: SyncLogger = {
    debug: (message, attributes) => lines.push({ level: 'debug', message, attributes }),
    info: (message, attributes) => lines.push({ level: 'info', message, attributes }),
    warn: (message, attributes) => lines.push({ level: 'warn', message, attributes }),
    error: (message, attributes) => lines.push({ level: 'error', message, attributes }),
  };
  let store: SqliteHistoryStore;

  beforeEach(() => {
    eventBridge.reset();
    lines.length = 0;
    store = new SqliteHistoryStore({ path: ':memory:' });
  });
  afterEach(() => store.close());
  afterAll(() => eventBridge.restore());

  it('puts one Sync Run Finished event from source driftless on the configured bus', async () => {
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
    await store.finishRun(run({ runId: 'run-1', outcome: 'Failed', health: undefined }));
    const publish = runEventPublisher({
      eventBus: 'arn:aws:events:eu-west-1:111122223333:event-bus/ops',
      client: new EventBridgeClient({ region: 'eu-west-1' }),
      logger,
    });
    const result = await publish(run(), store, 'c'.repeat(40));
    expect(result.published).toBe(true);
    const calls = eventBridge.commandCalls(PutEventsCommand);
    expect(calls).toHaveLength(1);
    const [entry] = calls[0]!.args[0].input.Entries!;
    expect(entry).toMatchObject({
      Source: 'driftless',
      DetailType: 'Sync Run Finished',
      EventBusName: 'arn:aws:events:eu-west-1:111122223333:event-bus/ops',
    });
    // `changed` came from the stored run: Failed then Synced is a recovery.
    expect(JSON.parse(entry!.Detail!)).toMatchObject({
      runId: 'run-2',
      changed: true,
      previousOutcome: 'Failed',
      previousRevision: 'c'.repeat(40),
    });
  });

  it('finds the previous finished run behind plans and skipped runs', async () => {
    eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
    await store.finishRun(
      run({ runId: 'run-0', outcome: 'Failed', health: undefined, startedAt: '2026-12-01T09:00:00.000Z' }),
    );
    for (let i = 1; i <= 4; i++) {
      const startedAt = `2026-12-01T09:0${i}:00.000Z`;
      await store.finishRun(
        run({
          runId: `run-1-${i}`,
          outcome: i % 2 ? 'Skipped' : 'OutOfSync',
          dryRun: i % 2 === 0,
          startedAt,
        }),
      );
    }
    await store.finishRun(run());
    const publish = runEventPublisher({ client: new EventBridgeClient({ region: 'eu-west-1' }), logger });
    const { detail } = await publish(run(), store);
    expect(detail).toMatchObject({ changed: true, previousOutcome: 'Failed' });
  });

  it('logs one structured line and reports failure when PutEvents throws or refuses the entry', async () => {
    const publish = runEventPublisher({ client: new EventBridgeClient({ region: 'eu-west-1' }), logger });
    eventBridge.on(PutEventsCommand).rejects(new Error('AccessDeniedException: not authorized'));
    expect((await publish(run(), store)).published).toBe(false);
    eventBridge.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }],
    });
    expect((await publish(run(), store)).published).toBe(false);
    expect(lines).toEqual([
      {
        level: 'error',
        message: 'run event not published',
        attributes: {
          app: 'events-app',
          runId: 'run-2',
          outcome: 'Synced',
          eventBus: 'default',
          error: 'AccessDeniedException: not authorized',
        },
      },
      {
        level: 'error',
        message: 'run event not published',
        attributes: {
          app: 'events-app',
          runId: 'run-2',
          outcome: 'Synced',
          eventBus: 'default',
          error: 'EventBridge refused the event: InternalFailure: try again',
        },
      },
    ]);
  });
});
