/**
 * Puts a finished run on EventBridge. Telling is best effort: a failed `PutEvents` (an error, or
 * an entry EventBridge refused) never fails or loses the run, which is already recorded. It is
 * logged as one structured line and reported to the caller, which counts it in a metric.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { HistoryStore, SyncRecord } from '../history/store.ts';
import { errorMessage, type SyncLogger } from '../log.ts';
import {
  previousFinishedRun,
  RUN_EVENT_DETAIL_TYPE,
  RUN_EVENT_SOURCE,
  type RunEventDetail,
  runEventDetail,
} from './run-event.ts';

/**
 * How many stored runs to read for the previous finished one: usually it is right behind this
 * run; plans and skipped runs can sit between. Each record holds its objects, so read few first.
 */
const PREVIOUS_RUN_SCANS = [3, 25];

export interface RunEventPublisherOptions {
  /** Event bus name or ARN. @default 'default' */
  eventBus?: string;
  /** @default a new EventBridgeClient (honours AWS_ENDPOINT_URL_EVENTBRIDGE) */
  client?: EventBridgeClient;
  logger: SyncLogger;
}

/** What publishing did: the detail sent (or that would have been), and whether EventBridge took it. */
export interface PublishedRunEvent {
  detail?: RunEventDetail;
  published: boolean;
}

export type RunEventPublisher = (
  run: SyncRecord,
  store: HistoryStore,
  previousRevision?: string,
) => Promise<PublishedRunEvent>;

/** Builds a publisher bound to one bus; the client is made on first use and reused. */
export function runEventPublisher(options: RunEventPublisherOptions): RunEventPublisher {
  let client = options.client;
  const eventBus = options.eventBus || 'default';
  return async (run, store, previousRevision) => {
    let detail: RunEventDetail | undefined;
    try {
      // `changed` compares with what the history holds, not with this container's memory.
      detail = runEventDetail(run, await previousRun(store, run), previousRevision);
      client ??= new EventBridgeClient({});
      const result = await client.send(
        new PutEventsCommand({
          Entries: [
            {
              Source: RUN_EVENT_SOURCE,
              DetailType: RUN_EVENT_DETAIL_TYPE,
              Detail: JSON.stringify(detail),
              EventBusName: eventBus,
              Time: run.finishedAt ? new Date(run.finishedAt) : undefined,
            },
          ],
        }),
      );
      const refused = result.Entries?.find((entry) => entry.ErrorCode);
      if (result.FailedEntryCount || refused) {
        throw new Error(`EventBridge refused the event: ${refused?.ErrorCode}: ${refused?.ErrorMessage}`);
      }
      return { detail, published: true };
    } catch (error) {
      options.logger.error('run event not published', {
        app: run.app,
        runId: run.runId,
        outcome: run.outcome,
        eventBus,
        error: errorMessage(error),
      });
      return { detail, published: false };
    }
  };
}

async function previousRun(store: HistoryStore, run: SyncRecord): Promise<SyncRecord | undefined> {
  for (const limit of PREVIOUS_RUN_SCANS) {
    const recent = await store.listRuns({ app: run.app, limit });
    const previous = previousFinishedRun(recent, run.runId);
    if (previous || recent.length < limit) return previous;
  }
  return undefined;
}
