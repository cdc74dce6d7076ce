/**
 * `DriftlessStack`: the deployable unit: one `PullAgent`, an optional e-mail alarm topic, VPC
 * placement from plain IDs (no lookups, so `cdk synth` runs offline), and outputs to find things.
 */
import { Aws, CfnOutput, Fn, type RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { PullAgent } from './pull-agent.ts';

export interface DriftlessStackProps extends StackProps {
  /** The driftless config file. */
  readonly configFile: string;
  /** @default the repository's `lambda/handler.ts` */
  readonly entry?: string;
  /** E-mail address told about failed syncs. @default no notification */
  readonly alarmEmail?: string;
  /** An existing SNS topic every alarm also notifies. @default none */
  readonly alarmTopicArn?: string;
  /**
   * Run the function in this VPC (private-endpoint clusters); needs `subnetIds`.
   * @default no VPC
   */
  readonly vpcId?: string;
  /** Subnets of `vpcId` for the function. */
  readonly subnetIds?: string[];
  /** @default a new security group in `vpcId` */
  readonly securityGroupIds?: string[];
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** @default true */
  readonly dashboard?: boolean;
  /**
   * ARN of a customer-managed KMS key for the table, log group, dead-letter queue and alarm topic.
   * @default AWS owned or AWS managed keys
   */
  readonly encryptionKeyArn?: string;
  /** Days a run record is kept. @default 90 */
  readonly recordTtlDays?: number;
  /** Days the sync log is kept. @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /** @default true */
  readonly deletionProtection?: boolean;
  /** @default no reservation */
  readonly reservedConcurrentExecutions?: number;
  /** X-Ray tracing of the function. @default false */
  readonly tracing?: boolean;
}

export class DriftlessStack extends Stack {
  readonly agent: PullAgent;

  constructor(scope: Construct, id: string, props: DriftlessStackProps) {
    super(scope, id, props);

    const encryptionKey = props.encryptionKeyArn
      ? kms.Key.fromKeyArn(this, 'EncryptionKey', props.encryptionKeyArn)
      : undefined;
    let alarmTopic: sns.Topic | undefined;
    if (props.alarmEmail) {
      alarmTopic = new sns.Topic(this, 'Alarms', {
        displayName: 'driftless alarms',
        enforceSSL: true,
        masterKey: encryptionKey,
      });
      alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));
      if (!encryptionKey) {
        Validations.of(alarmTopic).acknowledge({
          id: 'AwsSolutions-SNS2',
          reason:
            'Alarm notifications carry no secrets (alarm name and state); CloudWatch cannot publish to a topic encrypted with the AWS managed SNS key. Set encryptionKeyArn to encrypt it with a customer-managed key.',
        });
      }
    }

    let vpc: ec2.IVpc | undefined;
    let vpcSubnets: ec2.SubnetSelection | undefined;
    let securityGroups: ec2.ISecurityGroup[] | undefined;
    if (props.vpcId) {
      if (!props.subnetIds?.length)
        throw new Error('subnetIds: list the subnets of vpcId the function runs in');
      // Explicit subnets make the VPC's own subnet layout (and so a lookup) unnecessary.
      vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', { vpcId: props.vpcId, availabilityZones: Fn.getAzs() });
      vpcSubnets = {
        subnets: props.subnetIds.map((subnetId) => ec2.Subnet.fromSubnetId(this, subnetId, subnetId)),
      };
      securityGroups = props.securityGroupIds?.map((groupId) =>
        ec2.SecurityGroup.fromSecurityGroupId(this, groupId, groupId),
      );
    } else if (props.subnetIds?.length || props.securityGroupIds?.length) {
      throw new Error('vpcId: set it when giving subnetIds or securityGroupIds');
    }

    if (
      props.alarmTopicArn &&
      !/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/.test(props.alarmTopicArn)
    ) {
      throw new Error(`alarmTopicArn: must be an SNS topic ARN, got "${props.alarmTopicArn}"`);
    }
    this.agent = new PullAgent(this, 'Agent', {
      configFile: props.configFile,
      entry: props.entry,
      alarmTopic,
      alarmTopics: props.alarmTopicArn
        ? [sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn)]
        : [],
      vpc,
      vpcSubnets,
      securityGroups,
      removalPolicy: props.removalPolicy,
      dashboard: props.dashboard,
      encryptionKey,
      recordTtlDays: props.recordTtlDays,
      logRetention: props.logRetention,
      deletionProtection: props.deletionProtection,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      tracing: props.tracing,
    });

    new CfnOutput(this, 'TableName', { value: this.agent.table.tableName });
    new CfnOutput(this, 'HistoryCommand', {
      description: 'Read the sync history from your machine (in a checkout of driftless)',
      // The table lives in the stack's region, which need not be the reader's default one.
      value: `AWS_REGION=${Aws.REGION} npx driftless history --history dynamodb:${this.agent.table.tableName}`,
    });
    new CfnOutput(this, 'FunctionName', { value: this.agent.function.functionName });
    new CfnOutput(this, 'AgentRoleArn', {
      description:
        "The function's role: it may only assume the apps' roles and has no cluster access of its own",
      value: this.agent.role.roleArn,
    });
    for (const [app, role] of Object.entries(this.agent.appIdentities.roles)) {
      // App names are lowercase: an upper-case X for each "-" keeps the output IDs distinct.
      new CfnOutput(this, `AppRole${app.replaceAll('-', 'X')}`, {
        description: `Role of app ${app}: admit it to its cluster yourself (access entry or aws-auth) when its config sets no cluster.access`,
        value: role.roleArn,
      });
    }
    new CfnOutput(this, 'LogGroupName', { value: this.agent.logGroup.logGroupName });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.agent.deadLetterQueue.queueUrl });
    if (this.agent.notifications.topic) {
      new CfnOutput(this, 'NotificationTopicArn', {
        description:
          'Subscribe AWS Chatbot or an e-mail address: app changes (Synced, OutOfSync, Failed, Degraded)',
        value: this.agent.notifications.topic.topicArn,
      });
    }
    if (this.agent.webhook) {
      new CfnOutput(this, 'WebhookUrl', {
        description: 'Payload URL for the Git host (content type application/json)',
        value: this.agent.webhook.url.url,
      });
      new CfnOutput(this, 'WebhookSecretArn', {
        description:
          'The webhook secret: `aws secretsmanager get-secret-value --secret-id` it for the Git host',
        value: this.agent.webhook.secret.secretArn,
      });
    }
  }
}
