/**
 * "Read the sync log in CloudWatch": saved Logs Insights queries over the agent's log group, an
 * alarm per app on failed syncs (the handler's EMF metric), one on crashed invocations, and a
 * small dashboard. The queries read the keys `lambda/log.ts` writes: the `sync finished` line
 * (`app`, `revision`, `outcome`, `durationMs`, `error`) and the `object <action>` lines
 * (`action`, `kind`, `namespace`, `name`).
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

/** The saved queries, by the name they get in the Logs Insights console (folder `driftless`). */
export const SYNC_LOG_QUERIES = {
  'driftless/sync-log': new logs.QueryString({
    fields: ['@timestamp', 'app', 'outcome', 'revision', 'durationMs', 'trigger', 'error'],
    filterStatements: ['message = "sync finished"'],
    sort: '@timestamp desc',
    limit: 200,
  }),
  'driftless/failures': new logs.QueryString({
    fields: [
      '@timestamp',
      'app',
      'revision',
      'outcome',
      'kind',
      'namespace',
      'name',
      'detail',
      'error',
      '@message',
    ],
    // Failed runs, failed objects, handler errors, and invocations that crashed or timed out.
    filterStatements: [
      'outcome = "Failed" or action = "failed" or level = "ERROR" or (type = "platform.report" and record.status != "success")',
    ],
    sort: '@timestamp desc',
    limit: 200,
  }),
  'driftless/drift': new logs.QueryString({
    fields: ['@timestamp', 'app', 'revision', 'action', 'kind', 'namespace', 'name', 'detail', 'outcome'],
    filterStatements: ['action in ["drifted", "orphaned"] or outcome = "OutOfSync"'],
    sort: '@timestamp desc',
    limit: 200,
  }),
} as const;

/**
 * The handler's EMF metric: `SyncFailures` is 1 for a failed run, 0 otherwise, with the
 * dimensions `service` (Powertools' default) and `app`. A metric is named by all its dimensions,
 * so there is one per app.
 */
export function syncFailuresMetric(app: string, period = Duration.minutes(5)): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: 'Driftless',
    metricName: 'SyncFailures',
    dimensionsMap: { service: 'driftless', app },
    statistic: 'Sum',
    period,
  });
}

export interface SyncLogProps {
  /** Names of the apps the agent syncs. */
  readonly apps: readonly string[];
  readonly function: lambda.IFunction;
  readonly logGroup: logs.ILogGroup;
  /** Where alarms notify. @default no notification */
  readonly alarmTopic?: sns.ITopic;
  /** @default true */
  readonly dashboard?: boolean;
}

/** Saved queries, alarms and dashboard for one pull agent. */
export class SyncLog extends Construct {
  /** Saved Logs Insights queries, keyed as in `SYNC_LOG_QUERIES`. */
  readonly queries: Readonly<Record<keyof typeof SYNC_LOG_QUERIES, logs.QueryDefinition>>;
  /** Per app: in alarm when a sync of the app ends `Failed` (recorded in the history, not thrown). */
  readonly syncFailuresAlarms: Readonly<Record<string, cloudwatch.Alarm>>;
  /** In alarm when an invocation itself fails (crash, timeout): the handler could not report. */
  readonly invocationErrorsAlarm: cloudwatch.Alarm;
  readonly dashboard?: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: SyncLogProps) {
    super(scope, id);
    const queries = {} as Record<keyof typeof SYNC_LOG_QUERIES, logs.QueryDefinition>;
    for (const [name, queryString] of Object.entries(SYNC_LOG_QUERIES)) {
      queries[name as keyof typeof SYNC_LOG_QUERIES] = new logs.QueryDefinition(
        this,
        name.replace('/', '-'),
        {
          queryDefinitionName: name,
          queryString,
          logGroups: [props.logGroup],
        },
      );
    }
    this.queries = queries;

    const period = Duration.minutes(5);
    const syncFailures = props.apps.map((app) => syncFailuresMetric(app, period));
    const syncFailuresAlarms: Record<string, cloudwatch.Alarm> = {};
    props.apps.forEach((app, index) => {
      syncFailuresAlarms[app] = new cloudwatch.Alarm(this, `SyncFailures-${app}`, {
        alarmDescription: `A driftless sync of ${app} failed: the saved query driftless/failures shows why.`,
        metric: syncFailures[index]!,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    });
    this.syncFailuresAlarms = syncFailuresAlarms;
    const errors = props.function.metricErrors({ statistic: 'Sum', period });
    this.invocationErrorsAlarm = new cloudwatch.Alarm(this, 'InvocationErrors', {
      alarmDescription:
        'The driftless function crashed or timed out: the event is in the dead-letter queue; see driftless/failures.',
      metric: errors,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopic) {
      const action = new SnsAction(props.alarmTopic);
      for (const alarm of [...Object.values(syncFailuresAlarms), this.invocationErrorsAlarm]) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }

    if (props.dashboard ?? true) {
      this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
        defaultInterval: Duration.days(1),
        widgets: [
          [
            new cloudwatch.GraphWidget({ title: 'Failed syncs', left: syncFailures, width: 8 }),
            new cloudwatch.GraphWidget({
              title: 'Invocations and errors',
              left: [props.function.metricInvocations({ statistic: 'Sum', period }), errors],
              width: 8,
            }),
            new cloudwatch.GraphWidget({
              title: 'Sync duration',
              left: [props.function.metricDuration({ statistic: 'Maximum', period })],
              width: 8,
            }),
          ],
          [
            new cloudwatch.LogQueryWidget({
              title: 'Sync log',
              logGroupNames: [props.logGroup.logGroupName],
              queryString: SYNC_LOG_QUERIES['driftless/sync-log'].toString(),
              width: 24,
              height: 8,
            }),
          ],
        ],
      });
    }
  }
}
