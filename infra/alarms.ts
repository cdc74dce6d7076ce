/**
 * Alarms that catch silence: an app with no `Synced` run for several schedule intervals (the
 * handler's `SyncedRuns` heartbeat; a disabled schedule or a Scheduler delivery failure never
 * runs the function, so no failure metric would ever fire), a dead-letter queue that holds
 * anything, optional drift per app, and run events EventBridge did not take.
 */
import { Annotations, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { AppConfig } from '../lambda/config.ts';
import { scheduleIntervalMinutes } from './schedule-interval.ts';

/** CloudWatch evaluates an alarm over at most one day. */
const MAX_WINDOW_MINUTES = 24 * 60;

/** A handler metric of one app (dimensions `service`, `app`, as Powertools writes them). */
export function appMetric(metricName: string, app: string, period: Duration): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: 'Driftless',
    metricName,
    dimensionsMap: { service: 'driftless', app },
    statistic: 'Sum',
    period,
  });
}

export interface AgentAlarmsProps {
  readonly apps: readonly AppConfig[];
  readonly deadLetterQueue: sqs.IQueue;
  /** Topics every alarm notifies, on alarm and on recovery. @default none */
  readonly topics?: readonly sns.ITopic[];
}

export class AgentAlarms extends Construct {
  /** Per app (not suspended, `alarms.missedRuns` > 0): no `Synced` run in `missedRuns` intervals. */
  readonly heartbeatAlarms: Readonly<Record<string, cloudwatch.Alarm>>;
  /** Per app with `alarms.drift`: a run saw drift. */
  readonly driftAlarms: Readonly<Record<string, cloudwatch.Alarm>>;
  /** The dead-letter queue holds a message: a crashed invocation or an undelivered schedule. */
  readonly deadLetterAlarm: cloudwatch.Alarm;
  /** A run event was not published (notifications depend on them). */
  readonly runEventFailuresAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: AgentAlarmsProps) {
    super(scope, id);
    const heartbeat: Record<string, cloudwatch.Alarm> = {};
    const drift: Record<string, cloudwatch.Alarm> = {};
    for (const app of props.apps) {
      const interval = scheduleIntervalMinutes(app.schedule);
      if (!app.suspended && app.alarms.missedRuns > 0) {
        const wanted = interval === undefined ? undefined : interval * app.alarms.missedRuns;
        const window = wanted === undefined ? undefined : Math.min(wanted, MAX_WINDOW_MINUTES);
        // Cut to one day, a window shorter than two intervals would alarm on one late run.
        if (window === undefined || (window < wanted! && window < 2 * interval!)) {
          Annotations.of(this).addWarningV2(
            `driftless:heartbeat-${app.name}`,
            `apps "${app.name}": no missed-run alarm: ${app.schedule} does not fire at least twice a day at a steady interval (CloudWatch alarms look back one day at most)`,
          );
        } else {
          heartbeat[app.name] = new cloudwatch.Alarm(this, `MissedRuns-${app.name}`, {
            alarmDescription: `No driftless run of ${app.name} ended Synced in ${window} minutes (${app.alarms.missedRuns} x ${app.schedule}): the schedule may be disabled, undelivered (see the dead-letter queue) or every run failing or out of sync.`,
            metric: appMetric('SyncedRuns', app.name, Duration.minutes(window)),
            threshold: 1,
            evaluationPeriods: 1,
            comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            // Silence is the point: no data means no run.
            treatMissingData: cloudwatch.TreatMissingData.BREACHING,
          });
        }
      }
      if (app.alarms.drift) {
        // One interval per period, so a drift seen by every run keeps the alarm up between runs.
        const period = Math.min(Math.max(interval ?? 5, 5), MAX_WINDOW_MINUTES);
        drift[app.name] = new cloudwatch.Alarm(this, `Drift-${app.name}`, {
          alarmDescription: `A driftless run of ${app.name} found objects that drifted from Git: the saved query driftless/drift lists them.`,
          metric: appMetric('DriftDetected', app.name, Duration.minutes(period)),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        });
      }
    }
    this.heartbeatAlarms = heartbeat;
    this.driftAlarms = drift;

    this.deadLetterAlarm = new cloudwatch.Alarm(this, 'DeadLetters', {
      alarmDescription:
        'The driftless dead-letter queue holds a message: an invocation crashed or timed out, or the scheduler could not invoke the function. Read the message for the app and the error.',
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        statistic: 'Maximum',
        period: Duration.minutes(5),
      }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.runEventFailuresAlarm = new cloudwatch.Alarm(this, 'RunEventFailures', {
      alarmDescription:
        'EventBridge did not take a driftless run event, so its notification was not sent: the log line "run event not published" says why.',
      metric: new cloudwatch.Metric({
        namespace: 'Driftless',
        metricName: 'RunEventFailures',
        dimensionsMap: { service: 'driftless' },
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    notifyTopics(
      [
        ...Object.values(heartbeat),
        ...Object.values(drift),
        this.deadLetterAlarm,
        this.runEventFailuresAlarm,
      ],
      props.topics ?? [],
    );
  }
}

/** Sends each alarm's changes (to alarm and back to OK) to each topic. */
export function notifyTopics(alarms: readonly cloudwatch.Alarm[], topics: readonly sns.ITopic[]): void {
  for (const topic of topics) {
    const action = new SnsAction(topic);
    for (const alarm of alarms) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
  }
}
