import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ApplicationLogLevel } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { PullAgent } from '../../infra/pull-agent.ts';
import { appConfig, FIXTURE_ENTRY, synthAgent, tempDir, writeConfig } from './synth-agent.ts';

describe('PullAgent function', () => {
  const { template } = synthAgent([appConfig('pa-web'), appConfig('pa-api', { suspended: true })]);

  it('runs the handler on nodejs24.x (x86_64 for the kubectl/helm layer), sized for a clone and a large sync', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['x86_64'],
      Handler: 'index.handler',
      MemorySize: 2048,
      Timeout: 600,
      EphemeralStorage: { Size: 2048 },
    });
  });

  it('passes the handler its config file, table, cache dir and Powertools names', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          DRIFTLESS_CONFIG_FILE: '/var/task/driftless.config.yaml',
          DRIFTLESS_TABLE: { Ref: Match.stringLikeRegexp('^AgentTable') },
          DRIFTLESS_CACHE_DIR: '/tmp/driftless',
          POWERTOOLS_SERVICE_NAME: 'driftless',
          POWERTOOLS_METRICS_NAMESPACE: 'Driftless',
        },
      },
    });
  });

  it('logs JSON into its own log group with a retention, kept on stack deletion by default', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      LoggingConfig: {
        LogFormat: 'JSON',
        ApplicationLogLevel: 'INFO',
        LogGroup: { Ref: Match.stringLikeRegexp('^AgentSyncLogGroup') },
      },
    });
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { RetentionInDays: 90 },
      DeletionPolicy: 'Retain',
    });
  });

  it('does not retry a failed async invocation and sends it to the dead-letter queue', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 0,
      DestinationConfig: {
        OnFailure: {
          Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AgentDeadLetterQueue'), 'Arn'] },
        },
      },
    });
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
  });
});

describe('PullAgent schedules', () => {
  const { template, stack } = synthAgent([
    appConfig('sched-web', { schedule: 'rate(10 minutes)' }),
    appConfig('sched-api', { schedule: 'cron(0/15 * * * ? *)' }),
    appConfig('sched-old', { suspended: true }),
  ]);

  it('creates one schedule per app that invokes the function with {"app": name}', () => {
    template.resourceCountIs('AWS::Scheduler::Schedule', 3);
    for (const [app, expression] of [
      ['sched-web', 'rate(10 minutes)'],
      ['sched-api', 'cron(0/15 * * * ? *)'],
      ['sched-old', 'rate(5 minutes)'],
    ]) {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: expression,
        Target: {
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AgentFunction'), 'Arn'] },
          Input: JSON.stringify({ app }),
          DeadLetterConfig: {
            Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AgentDeadLetterQueue'), 'Arn'] },
          },
        },
      });
    }
    expect(Object.keys(stack.agent.schedules).sort()).toEqual(['sched-api', 'sched-old', 'sched-web']);
  });

  it('disables the schedule of a suspended app and enables the others', () => {
    const states = Object.values(template.findResources('AWS::Scheduler::Schedule')).map((schedule) => [
      JSON.parse(schedule.Properties.Target.Input).app,
      schedule.Properties.State,
    ]);
    expect(Object.fromEntries(states)).toEqual({
      'sched-web': 'ENABLED',
      'sched-api': 'ENABLED',
      'sched-old': 'DISABLED',
    });
  });
});

describe('PullAgent history table', () => {
  const { template } = synthAgent([appConfig('table-web')]);

  it('is on demand with pk/sk string keys, TTL on expiresAt and point-in-time recovery', () => {
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      Replicas: [
        Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }),
      ],
    });
  });
});

describe('PullAgent sync log', () => {
  const { template } = synthAgent([appConfig('log-web'), appConfig('log-api')], {
    alarmEmail: 'ops@example.com',
  });

  it('saves the sync log, failures and drift queries on the agent log group', () => {
    const queries = Object.values(template.findResources('AWS::Logs::QueryDefinition')).map(
      (q) => q.Properties,
    );
    expect(queries.map((q) => q.Name).sort()).toEqual([
      'driftless/drift',
      'driftless/failures',
      'driftless/sync-log',
    ]);
    for (const query of queries) {
      expect(query.LogGroupNames).toEqual([{ Ref: expect.stringMatching(/^AgentSyncLogGroup/) }]);
    }
    const byName = Object.fromEntries(queries.map((q) => [q.Name, q.QueryString as string]));
    expect(byName['driftless/sync-log']).toContain('filter message = "sync finished"');
    expect(byName['driftless/failures']).toContain('outcome = "Failed"');
    expect(byName['driftless/drift']).toContain('action in ["drifted", "orphaned"]');
  });

  it('alarms per app on the handler SyncFailures metric and notifies the alarm topic', () => {
    for (const app of ['log-web', 'log-api']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'Driftless',
        MetricName: 'SyncFailures',
        Dimensions: Match.arrayWith([
          { Name: 'app', Value: app },
          { Name: 'service', Value: 'driftless' },
        ]),
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [{ Ref: Match.stringLikeRegexp('^Alarms') }],
      });
    }
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^Alarms') }],
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
  });

  it('creates a dashboard', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });
});

describe('PullAgent VPC placement', () => {
  it('runs the function in the given subnets and security groups', () => {
    const { template } = synthAgent([appConfig('vpc-web')], {
      vpcId: 'vpc-0123456789abcdef0',
      subnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
      securityGroupIds: ['sg-0cccccccccccccccc'],
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      VpcConfig: {
        SubnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
        SecurityGroupIds: ['sg-0cccccccccccccccc'],
      },
    });
  });

  it('creates a security group in the VPC when none is given', () => {
    const { template } = synthAgent([appConfig('vpc-api')], {
      vpcId: 'vpc-0123456789abcdef0',
      subnetIds: ['subnet-0aaaaaaaaaaaaaaaa'],
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroup', { VpcId: 'vpc-0123456789abcdef0' });
  });

  it('runs outside any VPC by default', () => {
    const { template } = synthAgent([appConfig('novpc-web')]);
    template.hasResourceProperties('AWS::Lambda::Function', { VpcConfig: Match.absent() });
  });
});

describe('PullAgent log level', () => {
  /** The function's logging config and environment for a `logLevel` prop (no bundling). */
  const functionFor = (logLevel?: ApplicationLogLevel) => {
    const app = new App({ outdir: tempDir('cdk.out-'), context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'LogLevelTest');
    new PullAgent(stack, 'Agent', {
      configFile: writeConfig({ apps: [appConfig('log-web')] }),
      entry: FIXTURE_ENTRY,
      logLevel,
    });
    const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function');
    const [fn] = Object.values(functions) as { Properties: Record<string, any> }[];
    return {
      lambdaLevel: fn!.Properties.LoggingConfig.ApplicationLogLevel,
      powertoolsLevel: fn!.Properties.Environment.Variables.POWERTOOLS_LOG_LEVEL,
    };
  };

  it('keeps the Lambda filter at INFO for WARN and ERROR, so the EMF metric lines (no level key) behind the alarms survive', () => {
    expect(functionFor(ApplicationLogLevel.WARN)).toEqual({ lambdaLevel: 'INFO', powertoolsLevel: 'WARN' });
    expect(functionFor(ApplicationLogLevel.ERROR)).toEqual({ lambdaLevel: 'INFO', powertoolsLevel: 'ERROR' });
    expect(functionFor(ApplicationLogLevel.FATAL)).toEqual({
      lambdaLevel: 'INFO',
      powertoolsLevel: 'CRITICAL',
    });
  });

  it('lets DEBUG and TRACE through the Lambda filter too', () => {
    expect(functionFor(ApplicationLogLevel.DEBUG)).toEqual({
      lambdaLevel: 'DEBUG',
      powertoolsLevel: 'DEBUG',
    });
    expect(functionFor(ApplicationLogLevel.TRACE)).toEqual({
      lambdaLevel: 'TRACE',
      powertoolsLevel: 'TRACE',
    });
  });

  it('filters at INFO and sets no Powertools level by default', () => {
    expect(functionFor()).toEqual({ lambdaLevel: 'INFO', powertoolsLevel: undefined });
  });
});
