/**
 * Synthesised offline: run events may go to one bus only, the notification rule forwards only
 * changed runs, the push receiver's URL has no IAM auth (acknowledged: the handler verifies
 * signatures), and the alarms that catch silence exist and notify every alarm topic.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, NIST80053R5Checks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { DriftlessStack } from '../../infra/stack.ts';
import { appConfig, FIXTURE_ENTRY, synthAgent, tempDir, writeConfig } from './synth-agent.ts';

const TEAM_TOPIC = 'arn:aws:sns:eu-west-1:111122223333:team-alerts';
const BUS = 'arn:aws:events:eu-west-1:111122223333:event-bus/platform';

/** The statements of the agent role's policy that mention `action`. */
function statements(template: ReturnType<typeof synthAgent>['template'], action: string): any[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .flatMap((policy: any) => policy.Properties.PolicyDocument.Statement)
    .filter((statement: any) => [statement.Action].flat().includes(action));
}

describe('run events', () => {
  it('lets the function put events on the default bus of its account and region only', () => {
    const { template } = synthAgent([appConfig('ev-web')]);
    expect(statements(template, 'events:PutEvents')).toEqual([
      {
        Action: 'events:PutEvents',
        Effect: 'Allow',
        Resource: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':events:',
              { Ref: 'AWS::Region' },
              ':',
              { Ref: 'AWS::AccountId' },
              ':event-bus/default',
            ],
          ],
        },
      },
    ]);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ DRIFTLESS_EVENT_BUS: 'default' }) },
    });
  });

  it('uses events.busArn for the permission, the environment and the rules', () => {
    const { template } = synthAgent({
      apps: [appConfig('ev-bus')],
      events: { busArn: BUS },
      notifications: true,
    });
    expect(statements(template, 'events:PutEvents')).toEqual([
      { Action: 'events:PutEvents', Effect: 'Allow', Resource: BUS },
    ]);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ DRIFTLESS_EVENT_BUS: BUS }) },
    });
    template.hasResourceProperties('AWS::Events::Rule', { EventBusName: 'platform' });
  });

  it('names a bad bus ARN in the config error', () => {
    expect(() => synthAgent({ apps: [appConfig('ev-bad')], events: { busArn: 'platform' } })).toThrow(
      /events\.busArn: must be an EventBridge event bus ARN/,
    );
  });
});

describe('notifications', () => {
  it('forwards only changed runs of the routed apps to the topic, as an AWS Chatbot message', () => {
    const { template, stack } = synthAgent({
      apps: [
        appConfig('nt-web'),
        appConfig('nt-api', { notifications: { topicArn: TEAM_TOPIC, format: 'text' } }),
        appConfig('nt-quiet', { notifications: false }),
      ],
      notifications: true,
    });
    template.resourceCountIs('AWS::Events::Rule', 2);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: 'default',
      EventPattern: {
        source: ['driftless'],
        'detail-type': ['Sync Run Finished'],
        detail: { changed: [true], app: ['nt-web'] },
      },
      Targets: [
        {
          Arn: { Ref: Match.stringLikeRegexp('^AgentNotificationsTopic') },
          InputTransformer: {
            InputPathsMap: {
              'detail-app': '$.detail.app',
              'detail-outcome': '$.detail.outcome',
              'detail-summary': '$.detail.summary',
            },
            InputTemplate: {
              'Fn::Join': [
                '',
                [
                  Match.stringLikeRegexp(
                    '^\\{"version":"1.0","source":"custom","content":\\{"textType":"client-markdown","title":"driftless: <detail-app> is <detail-outcome>","description":<detail-summary>,"nextSteps":\\["Logs Insights on $',
                  ),
                  { Ref: Match.stringLikeRegexp('^AgentSyncLogGroup') },
                  Match.stringLikeRegexp("filter app = '<detail-app>'"),
                ],
              ],
            },
          },
        },
      ],
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { detail: { changed: [true], app: ['nt-api'] } },
      Targets: [{ Arn: TEAM_TOPIC, InputTransformer: { InputTemplate: Match.objectLike({}) } }],
    });
    // EventBridge may publish to the stack's topic; an existing topic's policy is the owner's.
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: 'sns:Publish', Principal: { Service: 'events.amazonaws.com' } }),
        ]),
      },
    });
    expect(stack.agent.notifications.topic).toBeDefined();
  });

  it('creates no rule and no topic when nothing asks for notifications', () => {
    const { template } = synthAgent([appConfig('nt-none')]);
    template.resourceCountIs('AWS::Events::Rule', 0);
    template.resourceCountIs('AWS::SNS::Topic', 0);
  });
});

describe('webhook receiver', () => {
  const { template, stack } = synthAgent({ apps: [appConfig('wh-web')], webhook: true });

  it('serves a Function URL with auth NONE, acknowledged because the handler verifies signatures', () => {
    template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'NONE',
      TargetFunctionArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AgentWebhookFunction'), 'Arn'] },
    });
    const acknowledged = stack.agent.webhook!.node.metadata.filter((entry) =>
      /acknowledged/i.test(entry.type),
    );
    expect(JSON.stringify(acknowledged.map((entry) => entry.data))).toMatch(
      /LambdaFunctionPublicAccessProhibited.*the handler verifies/,
    );
  });

  it('bounds the receiver with reserved concurrency and lets it invoke the agent function and read its secret, nothing else', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      ReservedConcurrentExecutions: 2,
      MemorySize: 256,
      Timeout: 10,
      Environment: {
        Variables: {
          DRIFTLESS_CONFIG_FILE: '/var/task/driftless.config.yaml',
          DRIFTLESS_FUNCTION: { Ref: Match.stringLikeRegexp('^AgentFunction') },
          DRIFTLESS_WEBHOOK_SECRET: { Ref: Match.stringLikeRegexp('^AgentWebhookSecret') },
          POWERTOOLS_SERVICE_NAME: 'driftless-webhook',
        },
      },
    });
    expect(statements(template, 'lambda:InvokeFunction').filter((s) => !Array.isArray(s.Resource))).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        Effect: 'Allow',
        Resource: {
          'Fn::GetAtt': [expect.stringMatching(/^AgentFunction/), 'Arn'],
        },
      },
    ]);
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: { PasswordLength: 40, ExcludePunctuation: true },
    });
  });

  it('uses an existing secret by name and the configured concurrency', () => {
    const { template: existing } = synthAgent({
      apps: [appConfig('wh-own')],
      webhook: { secret: 'git/webhook', reservedConcurrency: 5 },
    });
    existing.resourceCountIs('AWS::SecretsManager::Secret', 0);
    existing.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 5 });
    expect(JSON.stringify(statements(existing, 'secretsmanager:GetSecretValue'))).toContain(
      ':secret:git/webhook-??????',
    );
  });

  it('is absent without webhook in the config', () => {
    const { template: none } = synthAgent([appConfig('wh-none')]);
    none.resourceCountIs('AWS::Lambda::Url', 0);
  });

  it('leaves no public-access finding of the NIST 800-53 pack on the receiver', () => {
    const app = new App({ outdir: tempDir('cdk.out-'), context: { 'aws:cdk:bundling-stacks': [] } });
    new DriftlessStack(app, 'NistWebhook', {
      configFile: writeConfig({ apps: [appConfig('wh-nist')], webhook: true }),
      entry: FIXTURE_ENTRY,
    });
    Validations.of(app).addPlugins(new NIST80053R5Checks(app));
    try {
      app.synth();
    } catch {
      // The pack finds plenty elsewhere (it is not the stack's pack); only the receiver matters here.
    }
    const report = join(app.outdir, 'validation-report.json');
    expect(existsSync(report)).toBe(true);
    const findings = JSON.parse(readFileSync(report, 'utf8')).pluginReports.flatMap((plugin: any) =>
      plugin.violations.map(
        (v: any) => `${v.ruleName} ${v.violatingConstructs.map((c: any) => c.constructPath).join(',')}`,
      ),
    );
    expect(
      // The pack did run on the receiver: without a key its log group is not KMS-encrypted.
      findings.some(
        (finding: string) => finding.includes('CloudWatchLogGroupEncrypted') && finding.includes('Webhook'),
      ),
    ).toBe(true);
    expect(
      findings.filter((finding: string) => /PublicAccessProhibited|FunctionUrlAuth/.test(finding)),
    ).toEqual([]);
  });
});

describe('alarms that catch silence', () => {
  const { template } = synthAgent(
    [
      appConfig('al-web'),
      appConfig('al-hourly', { schedule: 'rate(1 hour)', alarms: { missedRuns: 2, drift: true } }),
      appConfig('al-cron', { schedule: 'cron(0/15 * * * ? *)' }),
      appConfig('al-daily', { schedule: 'cron(0 9 * * ? *)' }),
      appConfig('al-off', { alarms: { missedRuns: 0 } }),
      appConfig('al-paused', { suspended: true }),
    ],
    { alarmEmail: 'ops@example.com', alarmTopicArn: TEAM_TOPIC },
  );

  function alarm(metricName: string, app?: string): any[] {
    return Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
      (resource: any) =>
        resource.Properties.MetricName === metricName &&
        (app === undefined || resource.Properties.Dimensions.some((d: any) => d.Value === app)),
    );
  }

  it('alarms when no run of an app ended Synced for N schedule intervals, treating no data as silence', () => {
    for (const [app, period] of [
      ['al-web', 900],
      ['al-hourly', 7200],
      ['al-cron', 2700],
    ] as const) {
      const [found] = alarm('SyncedRuns', app);
      expect(found?.Properties).toMatchObject({
        Namespace: 'Driftless',
        Statistic: 'Sum',
        Period: period,
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
        TreatMissingData: 'breaching',
      });
    }
    // Daily: one day is the longest CloudWatch window; turned off, suspended: none.
    for (const app of ['al-daily', 'al-off', 'al-paused']) expect(alarm('SyncedRuns', app)).toEqual([]);
  });

  it('alarms on a non-empty dead-letter queue, on drift where asked, and on unpublished run events', () => {
    expect(alarm('ApproximateNumberOfMessagesVisible')[0]?.Properties).toMatchObject({
      Namespace: 'AWS/SQS',
      Statistic: 'Maximum',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(
      alarm('DriftDetected').map((a) => a.Properties.Dimensions.find((d: any) => d.Name === 'app').Value),
    ).toEqual(['al-hourly']);
    expect(alarm('DriftDetected')[0].Properties.Period).toBe(3600);
    expect(alarm('RunEventFailures')).toHaveLength(1);
  });

  it('sends every alarm to the alarm e-mail topic and to alarmTopicArn', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as any[];
    expect(alarms.length).toBeGreaterThanOrEqual(12);
    for (const found of alarms) {
      expect(found.Properties.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^Alarms/) }, TEAM_TOPIC]);
      expect(found.Properties.OKActions).toEqual([{ Ref: expect.stringMatching(/^Alarms/) }, TEAM_TOPIC]);
    }
  });

  it('rejects an alarmTopicArn that is not an SNS topic ARN', () => {
    expect(() => synthAgent([appConfig('al-bad')], { alarmTopicArn: 'team-alerts' })).toThrow(
      /alarmTopicArn: must be an SNS topic ARN/,
    );
  });
});

describe('cdk-nag AwsSolutions with every reaction on', () => {
  it('finds nothing unacknowledged', () => {
    const app = new App({ outdir: tempDir('cdk.out-'), context: { 'aws:cdk:bundling-stacks': [] } });
    new DriftlessStack(app, 'NagReactions', {
      configFile: writeConfig({
        apps: [
          appConfig('rn-web', { alarms: { drift: true } }),
          appConfig('rn-api', { notifications: { topicArn: TEAM_TOPIC } }),
        ],
        events: { busArn: BUS },
        notifications: true,
        webhook: true,
      }),
      entry: FIXTURE_ENTRY,
      alarmEmail: 'ops@example.com',
      alarmTopicArn: TEAM_TOPIC,
    });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).not.toThrow();
  });
});
