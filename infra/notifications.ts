/**
 * Run events and the notifications built on them. The function may put events on one bus only
 * (the default bus, or `events.busArn`); an EventBridge rule per notification topic forwards the
 * events whose `detail.changed` is true (Synced -> OutOfSync, Failed or Degraded, and back) for
 * the apps routed there, with a short message made by an input transformer.
 */
import { Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import { SnsTopic } from 'aws-cdk-lib/aws-events-targets';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { DriftlessConfig } from '../lambda/config.ts';
import { RUN_EVENT_DETAIL_TYPE, RUN_EVENT_SOURCE } from '../lambda/notify/run-event.ts';
import type { NotificationsSetting } from '../lambda/notify/settings.ts';

export interface RunNotificationsProps {
  readonly config: DriftlessConfig;
  /** The agent function: it gets `DRIFTLESS_EVENT_BUS` and may put events on that bus. */
  readonly function: lambda.Function;
  readonly role: iam.IGrantable;
  /** Named in the message as where to read more. */
  readonly logGroup: logs.ILogGroup;
  /**
   * Encrypts the topic the stack creates. The rules' grant to publish gives EventBridge
   * `kms:Decrypt` and `kms:GenerateDataKey*` in the key policy when the key is defined in the app;
   * an imported key's owner adds that statement (see the README).
   * @default the topic is not encrypted at rest
   */
  readonly encryptionKey?: kms.IKey;
}

/** The event pattern of the notification rule: changed runs of these apps. */
export function changedRunsPattern(apps: readonly string[]): events.EventPattern {
  return {
    source: [RUN_EVENT_SOURCE],
    detailType: [RUN_EVENT_DETAIL_TYPE],
    detail: { changed: [true], app: [...apps] },
  };
}

export class RunNotifications extends Construct {
  /** The bus run events go to. */
  readonly eventBus: events.IEventBus;
  /** The topic the stack created for `notifications: true`, if any app uses it. */
  readonly topic?: sns.Topic;
  /** One rule per notification topic and format. */
  readonly rules: readonly events.Rule[];

  constructor(scope: Construct, id: string, props: RunNotificationsProps) {
    super(scope, id);
    const busArn = props.config.events?.busArn;
    this.eventBus = busArn
      ? events.EventBus.fromEventBusArn(this, 'Bus', busArn)
      : events.EventBus.fromEventBusName(this, 'Bus', 'default');
    // events:PutEvents on this bus only.
    this.eventBus.grantPutEventsTo(props.role);
    props.function.addEnvironment('DRIFTLESS_EVENT_BUS', busArn ?? 'default');

    const groups = new Map<string, { topicArn?: string; format: 'chatbot' | 'text'; apps: string[] }>();
    for (const app of props.config.apps) {
      const setting = resolve(app.notifications ?? props.config.notifications);
      if (!setting) continue;
      const key = `${setting.topicArn ?? 'stack'}|${setting.format}`;
      const group = groups.get(key) ?? { ...setting, apps: [] };
      group.apps.push(app.name);
      groups.set(key, group);
    }
    if ([...groups.values()].some((group) => !group.topicArn)) {
      this.topic = new sns.Topic(this, 'Topic', {
        displayName: 'driftless notifications',
        enforceSSL: true,
        masterKey: props.encryptionKey,
      });
      if (!props.encryptionKey) {
        Validations.of(this.topic).acknowledge({
          id: 'AwsSolutions-SNS2',
          reason:
            'Notifications carry app names, outcomes and object names, no secrets; EventBridge cannot publish to a topic encrypted with the AWS managed SNS key (set encryptionKey to encrypt it with yours).',
        });
      }
    }
    const query = `fields @timestamp, message, outcome, kind, name, detail, error | filter app = '${EVENT.app}' | sort @timestamp desc`;
    const where = `Logs Insights on ${props.logGroup.logGroupName}: ${query}`;
    this.rules = [...groups.values()].map((group, index) => {
      const topic = group.topicArn
        ? sns.Topic.fromTopicArn(this, `Topic${index}`, group.topicArn)
        : (this.topic as sns.ITopic);
      const rule = new events.Rule(this, `Changed${index}`, {
        description:
          `driftless: tell ${topic === this.topic ? 'the notification topic' : group.topicArn} when ${group.apps.join(', ')} change outcome or health`.slice(
            0,
            512,
          ),
        eventBus: this.eventBus,
        eventPattern: changedRunsPattern(group.apps),
      });
      rule.addTarget(new SnsTopic(topic, { message: message(group.format, where) }));
      return rule;
    });
  }
}

/** Placeholders of the input transformer, one per field of the event it reads. */
const EVENT = {
  app: events.EventField.fromPath('$.detail.app'),
  outcome: events.EventField.fromPath('$.detail.outcome'),
  summary: events.EventField.fromPath('$.detail.summary'),
};

function message(format: 'chatbot' | 'text', where: string): events.RuleTargetInput {
  if (format === 'text') return events.RuleTargetInput.fromText(`driftless ${EVENT.summary}. ${where}`);
  // AWS Chatbot (Amazon Q Developer in chat applications) renders this custom-notification shape.
  return events.RuleTargetInput.fromObject({
    version: '1.0',
    source: 'custom',
    content: {
      textType: 'client-markdown',
      title: `driftless: ${EVENT.app} is ${EVENT.outcome}`,
      description: EVENT.summary,
      nextSteps: [where],
    },
  });
}

function resolve(
  setting: NotificationsSetting | undefined,
): { topicArn?: string; format: 'chatbot' | 'text' } | undefined {
  if (setting === undefined || setting === false) return undefined;
  if (setting === true) return { format: 'chatbot' };
  return { format: setting.format, ...(setting.topicArn ? { topicArn: setting.topicArn } : {}) };
}
