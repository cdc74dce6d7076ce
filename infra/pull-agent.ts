/**
 * `PullAgent`: the whole serverless GitOps pull agent as one construct. A Lambda function runs
 * the driftless engine, one EventBridge Scheduler schedule per app invokes it with `{ app }`,
 * a DynamoDB table keeps the sync history, state and leases, and CloudWatch holds the sync log.
 */
import { resolve } from 'node:path';
import { Duration, RemovalPolicy, Size, Stack, Stage, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Schedule, ScheduleExpression, ScheduleGroup, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ConfigError, type DriftlessConfig } from '../lambda/config.ts';
import { agentConfig, type DriftlessConfigInput } from './agent-config.ts';
import { AgentAlarms, notifyTopics } from './alarms.ts';
import { AppIdentities } from './app-identity.ts';
import { BUNDLED_CONFIG_PATH, bundlingWithConfig } from './bundling.ts';
import type { ClusterAccessEntries } from './cluster-access.ts';
import { acknowledgeDesignFindings } from './compliance.ts';
import { encryptedWith, HISTORY_TABLE_ACTIONS } from './encryption.ts';
import { RunNotifications } from './notifications.ts';
import { renderRuntime } from './render-layer.ts';
import { SyncLog } from './sync-log.ts';
import { WebhookReceiver } from './webhook.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..');

/** Where the config file lands inside the function package, and the path the handler reads. */

export interface PullAgentProps {
  /**
   * The driftless config file (YAML): validated at synth (errors name the setting, e.g.
   * `apps[0].cluster.region`), turned into schedules and IAM, and copied into the function package.
   */
  readonly configFile?: string;
  /**
   * The config as a typed object instead of a file, for a CDK app that builds its app list in
   * code; validated the same way (errors name the setting, e.g. `apps[0].cluster.region`).
   * @default read from `configFile`; give exactly one of the two
   */
  readonly config?: DriftlessConfigInput;
  /**
   * The handler's entry file (exports `handler`).
   * @default the repository's `lambda/handler.ts`
   */
  readonly entry?: string;
  /**
   * Memory of the function: the clone is held in memory and CPU grows with memory.
   * @default 2048
   */
  readonly memorySize?: number;
  /**
   * Time limit of one invocation: a clone, a large sync and waits for CRDs.
   * @default Duration.minutes(10)
   */
  readonly timeout?: Duration;
  /**
   * Size of `/tmp`, which holds the checkout cache (`/tmp/driftless`).
   * @default Size.gibibytes(2)
   */
  readonly ephemeralStorageSize?: Size;
  /**
   * Log level of the handler's logger, passed as `POWERTOOLS_LOG_LEVEL`. Lambda's own
   * application-log filter stays at INFO (or at DEBUG/TRACE when that is asked for) whatever this
   * says: Lambda files a line without a `level` key, such as the EMF metric lines behind the
   * `SyncFailures` alarms, as INFO, so a WARN filter would drop them and silence the alarms.
   * Note: Powertools Logger 2.x follows Lambda's level (`AWS_LAMBDA_LOG_LEVEL`) over
   * `POWERTOOLS_LOG_LEVEL`, so a level quieter than INFO only takes effect where the handler's
   * logger applies `POWERTOOLS_LOG_LEVEL` itself.
   * @default lambda.ApplicationLogLevel.INFO
   */
  readonly logLevel?: lambda.ApplicationLogLevel;
  /**
   * How long the sync log is kept.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What `cdk destroy` does with the history table and the log group.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * VPC to run the function in, for clusters with a private endpoint only. The subnets need a
   * route to the Git host, and endpoints or NAT for STS, EKS, DynamoDB and Secrets Manager.
   * @default no VPC: the function reaches public endpoints
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Subnets in `vpc`.
   * @default the VPC's private subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Security groups of the function in `vpc`; the cluster's security group must admit them on 443.
   * @default a new security group with all outbound traffic allowed
   */
  readonly securityGroups?: ec2.ISecurityGroup[];
  /**
   * Topic the failed-sync and invocation-error alarms notify.
   * @default no notification: the alarms show in the CloudWatch console
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * More topics every alarm notifies (on alarm and on recovery), e.g. an existing team topic.
   * @default none
   */
  readonly alarmTopics?: readonly sns.ITopic[];
  /**
   * Create a CloudWatch dashboard with failures, invocations, durations and the sync log.
   * @default true
   */
  readonly dashboard?: boolean;
  /**
   * Customer-managed KMS key for the history table, the log group and the dead-letter queue (and
   * the alarm topic of `DriftlessStack`). A key made in the same stack gets the key-policy
   * statements CloudWatch Logs needs; an imported key needs them in its own policy (see README).
   * @default AWS owned or AWS managed keys
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Days a run record is kept in the table before DynamoDB TTL deletes it (app state never expires).
   * @default 90
   */
  readonly recordTtlDays?: number;
  /**
   * Refuse to delete the history table (also through CloudFormation) until this is turned off.
   * @default true
   */
  readonly deletionProtection?: boolean;
  /**
   * Concurrent executions reserved for the function (and so its cap).
   * @default no reservation: the account's unreserved pool
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Send X-Ray traces of each invocation.
   * @default false
   */
  readonly tracing?: boolean;
}

/** A scheduled driftless pull agent: function, schedules, history table, sync log and alarms. */
export class PullAgent extends Construct {
  /** The validated config the agent was built from. */
  readonly config: DriftlessConfig;
  readonly function: NodejsFunction;
  /** The function's execution role: scoped to the listed clusters, secrets and roles. */
  readonly role: iam.Role;
  /** Sync history, per-app state and leases (`pk`/`sk`, TTL attribute `expiresAt`). */
  readonly table: dynamodb.TableV2;
  /** The sync log: the function's JSON logs. */
  readonly logGroup: logs.LogGroup;
  /** Invocations that failed (crash, timeout) or that the scheduler could not deliver. */
  readonly deadLetterQueue: sqs.Queue;
  /** One schedule per app, keyed by app name. */
  readonly schedules: Readonly<Record<string, Schedule>>;
  /** The role the schedules invoke the function with. */
  readonly schedulerRole: iam.Role;
  /** One IAM role per app, the identity its runs have in the cluster. */
  readonly appIdentities: AppIdentities;
  /** EKS access entries of the apps' roles, when the config asks for them. */
  readonly accessEntries: ClusterAccessEntries;
  /** Saved queries, alarms and dashboard. */
  readonly syncLog: SyncLog;
  /** Run events (bus and permission) and the notification rules. */
  readonly notifications: RunNotifications;
  /** The push receiver, when the config sets `webhook`. */
  readonly webhook?: WebhookReceiver;
  /** Alarms on silence: missed runs, dead letters, drift, unpublished run events. */
  readonly alarms: AgentAlarms;
  /** kubectl and helm for Kustomize and Helm apps; absent when every app is `render: plain`. */
  readonly renderLayer?: lambda.ILayerVersion;
  /** The customer-managed key the stack's stores use, for any further topic or queue made beside it. */
  readonly encryptionKey?: kms.IKey;

  constructor(scope: Construct, id: string, props: PullAgentProps) {
    super(scope, id);
    const { config, file: configFile, source } = agentConfig(props, Stage.of(this)?.outdir);
    this.config = config;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const recordTtlDays = props.recordTtlDays ?? 90;
    if (!Number.isInteger(recordTtlDays) || recordTtlDays < 1) {
      throw new ConfigError(
        `recordTtlDays: must be a whole number of days, at least 1 (got ${recordTtlDays})`,
      );
    }
    this.encryptionKey = props.encryptionKey;
    const encryption = encryptedWith(this, props.encryptionKey);

    this.table = new dynamodb.TableV2(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billing: dynamodb.Billing.onDemand(),
      timeToLiveAttribute: 'expiresAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy,
    });
    encryption.encryptTable(this.table);

    this.logGroup = new logs.LogGroup(this, 'SyncLogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      encryptionKey: props.encryptionKey,
      removalPolicy,
    });

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.days(14),
      ...encryption.queue,
      enforceSSL: true,
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is the dead-letter queue of the function and the schedules; it needs none of its own.',
    });

    // An own role: the default one carries the managed AWSLambdaBasicExecutionRole (logs on `*`).
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'driftless pull agent: reads Git credentials, signs EKS tokens, writes sync history',
    });
    if (props.vpc) {
      this.role.addManagedPolicy(
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'),
      );
      Validations.of(this.role).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        reason:
          'Lambda needs the ENI permissions of this AWS managed policy to run in a VPC; they support no resource scoping.',
      });
    }

    // Before the function: a config error should not wait for a bundle.
    this.appIdentities = new AppIdentities(this, 'AppRoles', {
      functionRole: this.role,
      apps: this.config.apps,
      source,
    });
    this.accessEntries = this.appIdentities.accessEntries;

    const render = renderRuntime(this, this.config);
    this.renderLayer = render.layer;
    this.function = new NodejsFunction(this, 'Function', {
      description: 'driftless: syncs Git to EKS (server-side apply, prune, self-heal)',
      entry: props.entry ?? resolve(REPO_ROOT, 'lambda/handler.ts'),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: resolve(REPO_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: render.architecture,
      layers: render.layer ? [render.layer] : undefined,
      role: this.role,
      memorySize: props.memorySize ?? 2048,
      timeout: props.timeout ?? Duration.minutes(10),
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      tracing: props.tracing ? lambda.Tracing.ACTIVE : undefined,
      ephemeralStorageSize: props.ephemeralStorageSize ?? Size.gibibytes(2),
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambdaLogFilter(props.logLevel),
      // INFO keeps the platform.report line: duration, memory used, and timeouts.
      systemLogLevelV2: lambda.SystemLogLevel.INFO,
      logGroup: this.logGroup,
      // The schedule fires again soon: a retry would only race the next run for the lease.
      retryAttempts: 0,
      onFailure: new SqsDestination(this.deadLetterQueue),
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: props.securityGroups,
      environment: {
        DRIFTLESS_CONFIG_FILE: BUNDLED_CONFIG_PATH,
        DRIFTLESS_TABLE: this.table.tableName,
        DRIFTLESS_CACHE_DIR: '/tmp/driftless',
        DRIFTLESS_APP_ROLE_ARN_PREFIX: this.appIdentities.roleArnPrefix,
        DRIFTLESS_RECORD_TTL_DAYS: String(recordTtlDays),
        POWERTOOLS_SERVICE_NAME: 'driftless',
        POWERTOOLS_METRICS_NAMESPACE: 'Driftless',
        ...(props.logLevel ? { POWERTOOLS_LOG_LEVEL: powertoolsLevel(props.logLevel) } : {}),
      },
      bundling: bundlingWithConfig(configFile),
    });

    // A given role gets no log permissions from Lambda: grant them on the agent's log group only.
    this.logGroup.grantWrite(this.role);
    // Exactly the calls the DynamoDB store makes: no Scan, BatchWrite, table or stream actions.
    this.table.grant(this.role, ...HISTORY_TABLE_ACTIONS);
    props.encryptionKey?.grantEncryptDecrypt(this.role);

    // One role for all schedules, owned here so its single wildcard can be explained.
    // The stack's own schedule group: the role trusts Scheduler only on behalf of these schedules.
    const scheduleGroup = new ScheduleGroup(this, 'ScheduleGroup', { removalPolicy: RemovalPolicy.DESTROY });
    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: {
            'aws:SourceAccount': Stack.of(this).account,
            'aws:SourceArn': scheduleGroup.scheduleGroupArn,
          },
        },
      }),
      description: 'driftless schedules: invoke the pull agent function',
    });
    const schedules: Record<string, Schedule> = {};
    const schedulesScope = new Construct(this, 'Schedules');
    for (const app of this.config.apps) {
      schedules[app.name] = new Schedule(schedulesScope, app.name, {
        description: `driftless sync of ${app.name} from ${app.repo}`.slice(0, 512),
        schedule: ScheduleExpression.expression(app.schedule),
        scheduleGroup,
        enabled: !app.suspended,
        target: new LambdaInvoke(this.function, {
          input: ScheduleTargetInput.fromObject({ app: app.name }),
          role: this.schedulerRole,
          deadLetterQueue: this.deadLetterQueue,
          // A missed run is made up by the next one; stale invocations only add noise.
          retryAttempts: 2,
          maxEventAge: Duration.hours(1),
        }),
      });
    }
    this.schedules = schedules;

    this.syncLog = new SyncLog(this, 'SyncLog', {
      apps: this.config.apps.map((app) => app.name),
      function: this.function,
      logGroup: this.logGroup,
      alarmTopic: props.alarmTopic,
      dashboard: props.dashboard,
    });

    this.notifications = new RunNotifications(this, 'Notifications', {
      config: this.config,
      function: this.function,
      role: this.role,
      logGroup: this.logGroup,
      encryptionKey: props.encryptionKey,
    });
    const webhook = this.config.webhook;
    if (webhook) {
      this.webhook = new WebhookReceiver(this, 'Webhook', {
        configFile,
        agentFunction: this.function,
        ...(webhook === true
          ? {}
          : { secret: webhook.secret, reservedConcurrency: webhook.reservedConcurrency }),
        appSecretArns: this.config.apps.flatMap((app) => app.webhook?.secretArn ?? []),
        encryptionKey: props.encryptionKey,
        deadLetterQueue: this.deadLetterQueue,
        logRetention: props.logRetention,
        removalPolicy,
      });
    }
    const alarmTopics = [...(props.alarmTopic ? [props.alarmTopic] : []), ...(props.alarmTopics ?? [])];
    this.alarms = new AgentAlarms(this, 'Alarms', {
      apps: this.config.apps,
      deadLetterQueue: this.deadLetterQueue,
      topics: alarmTopics,
    });
    notifyTopics(
      [...Object.values(this.syncLog.syncFailuresAlarms), this.syncLog.invocationErrorsAlarm],
      props.alarmTopics ?? [],
    );

    this.acknowledgeScopedWildcards();
    acknowledgeDesignFindings({
      roles: [this.role, ...Object.values(this.appIdentities.roles)],
      schedulerRole: this.schedulerRole,
      function: this.function,
      encrypted: props.encryptionKey !== undefined,
      inVpc: props.vpc !== undefined,
      reservedConcurrency: props.reservedConcurrentExecutions !== undefined,
      tracing: props.tracing === true,
      alarms: [this.syncLog, this.alarms],
      alarmsNotify: alarmTopics.length > 0,
    });
  }

  /** The one wildcard left is a suffix of a resource this construct owns; it says why. */
  private acknowledgeScopedWildcards(): void {
    const stack = Stack.of(this);
    const functionId = stack.getLogicalId(this.function.node.defaultChild as lambda.CfnFunction);
    Validations.of(this.schedulerRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${functionId}.Arn>:*]`,
      reason:
        "grantInvoke's qualifier suffix: versions and aliases of the agent's own function, nothing else.",
    });
  }
}

/**
 * Lambda's application-log filter: never above INFO, where it would drop the metric lines (no
 * `level` key, so filed as INFO) the alarms are built on; more verbose when the user asks.
 */
function lambdaLogFilter(level?: lambda.ApplicationLogLevel): lambda.ApplicationLogLevel {
  const { TRACE, DEBUG, INFO } = lambda.ApplicationLogLevel;
  return level === TRACE || level === DEBUG ? level : INFO;
}

/** Powertools names Lambda's FATAL `CRITICAL`; the other level names are the same. */
function powertoolsLevel(level: lambda.ApplicationLogLevel): string {
  return level === lambda.ApplicationLogLevel.FATAL ? 'CRITICAL' : level;
}
