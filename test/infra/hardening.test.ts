/**
 * The stack as a regulated review reads it: encryption with a customer-managed key, retention
 * settings reachable from context, deletion protection, concurrency and tracing options, the
 * Scheduler's trust, and cdk-nag's NIST 800-53 R5 pack clean when a key is set.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import { AwsSolutionsChecks, NIST80053R5Checks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { PullAgent } from '../../infra/pull-agent.ts';
import { DriftlessStack } from '../../infra/stack.ts';
import { stackSettingsFromContext } from '../../infra/stack-settings.ts';
import { ConfigError } from '../../lambda/config.ts';
import { appConfig, FIXTURE_ENTRY, synthAgent, tempDir, writeConfig } from './synth-agent.ts';

const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555';

describe('defaults', () => {
  const { template } = synthAgent([appConfig('hd-web')]);

  it('protects the history table from deletion and keeps records 90 days', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      Replicas: [Match.objectLike({ DeletionProtectionEnabled: true })],
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { DRIFTLESS_RECORD_TTL_DAYS: '90' } },
      ReservedConcurrentExecutions: Match.absent(),
      TracingConfig: Match.absent(),
    });
  });

  it("trusts Scheduler only for the stack's own schedule group, and puts every schedule in it", () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Principal: { Service: 'scheduler.amazonaws.com' },
            Condition: {
              StringEquals: {
                'aws:SourceAccount': { Ref: 'AWS::AccountId' },
                'aws:SourceArn': { 'Fn::GetAtt': [Match.stringLikeRegexp('^AgentScheduleGroup'), 'Arn'] },
              },
            },
          },
        ],
      },
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      GroupName: Match.stringLikeRegexp('-Agent-ScheduleGroup-'),
    });
  });
});

describe('with a customer-managed key and the options set', () => {
  const { template } = synthAgent([appConfig('hd-key')], {
    encryptionKeyArn: KEY_ARN,
    alarmEmail: 'ops@example.com',
    recordTtlDays: 400,
    logRetention: 2557,
    deletionProtection: false,
    reservedConcurrentExecutions: 5,
    tracing: true,
  });

  it('encrypts the table, log group, dead-letter queue and alarm topic with the key', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
      Replicas: [
        Match.objectLike({ SSESpecification: { KMSMasterKeyId: KEY_ARN }, DeletionProtectionEnabled: false }),
      ],
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { KmsKeyId: KEY_ARN, RetentionInDays: 2557 });
    template.hasResourceProperties('AWS::SQS::Queue', { KmsMasterKeyId: KEY_ARN });
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: KEY_ARN });
  });

  it('keeps records as long as asked, reserves concurrency and traces with X-Ray', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { DRIFTLESS_RECORD_TTL_DAYS: '400' } },
      ReservedConcurrentExecutions: 5,
      TracingConfig: { Mode: 'Active' },
    });
  });

  it('holds no secret in the function environment', () => {
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0];
    const variables = Object.keys(fn?.Properties.Environment.Variables ?? {});
    expect(variables.filter((name) => /SECRET|TOKEN|PASSWORD|KEY/i.test(name))).toEqual([]);
  });
});

describe('the notification topic with a customer-managed key', () => {
  it('is encrypted with the key, and a key defined in the stack lets EventBridge publish to it', () => {
    const app = new App({ outdir: tempDir('cdk.out-'), context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'KeyedNotifications');
    const key = new kms.Key(stack, 'Key', { enableKeyRotation: true });
    const agent = new PullAgent(stack, 'Agent', {
      config: {
        apps: [
          {
            name: 'kn-web',
            repo: 'https://git.example.com/kn-web.git',
            cluster: { name: 'prod', region: 'eu-west-1' },
          },
        ],
        notifications: true,
      },
      entry: FIXTURE_ENTRY,
      encryptionKey: key,
    });
    const template = Template.fromStack(stack);
    const keyId = stack.resolve((key.node.defaultChild as kms.CfnKey).logicalId);
    template.hasResourceProperties('AWS::SNS::Topic', {
      DisplayName: 'driftless notifications',
      KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
    });
    expect(agent.notifications.topic?.masterKey).toBe(key);
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
  });

  it('is encrypted with an imported key named by encryptionKeyArn', () => {
    const { template } = synthAgent(
      { apps: [appConfig('kn-arn')], notifications: true },
      { encryptionKeyArn: KEY_ARN },
    );
    template.hasResourceProperties('AWS::SNS::Topic', {
      DisplayName: 'driftless notifications',
      KmsMasterKeyId: KEY_ARN,
    });
  });
});

describe('cdk-nag NIST 800-53 R5', () => {
  const violations = (outdir: string): string[] => {
    const file = join(outdir, 'validation-report.json');
    if (!existsSync(file)) return [];
    return JSON.parse(readFileSync(file, 'utf8')).pluginReports.flatMap((plugin: any) =>
      plugin.violations.map((v: any) => `${v.ruleName} at ${v.violatingConstructs[0]?.constructPath}`),
    );
  };

  for (const vpc of [false, true]) {
    it(`finds nothing unacknowledged with encryptionKey and notifications set${vpc ? ', in a VPC' : ''}`, () => {
      const app = new App({ outdir: tempDir('nist-'), context: { 'aws:cdk:bundling-stacks': [] } });
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new NIST80053R5Checks(app));
      new DriftlessStack(app, 'NistStack', {
        configFile: writeConfig({
          apps: [
            appConfig('nist-web', {
              credentialsSecret: 'git/web',
              cluster: {
                name: 'prod',
                region: 'eu-west-1',
                access: { policy: 'AmazonEKSEditPolicy', namespaces: ['web'] },
              },
            }),
            appConfig('nist-far', {
              cluster: {
                name: 'far',
                region: 'eu-west-1',
                roleArn: 'arn:aws:iam::444455556666:role/deployer',
              },
            }),
          ],
          notifications: true,
        }),
        entry: FIXTURE_ENTRY,
        encryptionKeyArn: KEY_ARN,
        alarmEmail: 'ops@example.com',
        ...(vpc ? { vpcId: 'vpc-0123456789abcdef0', subnetIds: ['subnet-0aaaaaaaaaaaaaaaa'] } : {}),
      });
      expect(violations(app.synth().directory)).toEqual([]);
    });
  }
});

describe('settings from context', () => {
  const from = (values: Record<string, string>) => stackSettingsFromContext((key) => values[key]);

  it('reads the key, retention, protection, concurrency and tracing', () => {
    expect(
      from({
        encryptionKeyArn: KEY_ARN,
        recordTtlDays: '30',
        logRetentionDays: '365',
        deletionProtection: 'false',
        reservedConcurrency: '3',
        tracing: 'true',
      }),
    ).toEqual({
      encryptionKeyArn: KEY_ARN,
      recordTtlDays: 30,
      logRetention: 365,
      deletionProtection: false,
      reservedConcurrentExecutions: 3,
      tracing: true,
    });
    expect(from({})).toEqual({});
  });

  it('names the context key of a bad value', () => {
    expect(() => from({ recordTtlDays: '0' })).toThrow(/context recordTtlDays: must be a whole number/);
    expect(() => from({ logRetentionDays: '45' })).toThrow(/context logRetentionDays: must be one of/);
    expect(() => from({ encryptionKeyArn: 'alias/mine' })).toThrow(
      /context encryptionKeyArn: must be a KMS key ARN/,
    );
    expect(() => from({ tracing: 'yes' })).toThrow(ConfigError);
  });
});
