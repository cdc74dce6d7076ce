/**
 * The push receiver (`webhook: true`): a small function behind a Lambda Function URL that a Git
 * host calls on every push. The URL has no IAM auth (a Git host cannot sign AWS requests): the
 * handler verifies the sender's HMAC signature or token against a Secrets Manager secret before
 * it does anything, and reserved concurrency bounds what a flood of requests can cost. An app may
 * have a secret of its own (`apps[i].webhook.secretArn`): the receiver may read those secrets and
 * no other, and a push signed with one starts only the apps that name it.
 */
import { resolve } from 'node:path';
import { Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { BUNDLED_CONFIG_PATH, bundlingWithConfig } from './bundling.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..');
const COMPLETE_SECRET_ARN = /^arn:[^:]+:secretsmanager:[^:]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/;

export interface WebhookReceiverProps {
  /** The config file, bundled beside the handler: it maps a pushed repository to apps. */
  readonly configFile: string;
  /** The agent function the receiver invokes asynchronously. */
  readonly agentFunction: lambda.IFunction;
  /** Secrets Manager secret (name or ARN) with the shared secret. @default a secret the stack generates */
  readonly secret?: string;
  /** The apps' own secrets (`apps[i].webhook.secretArn`): the receiver may read these too. @default none */
  readonly appSecretArns?: readonly string[];
  /** Customer-managed key for the log group and the generated secret. @default AWS owned or managed keys */
  readonly encryptionKey?: kms.IKey;
  /** Where a failed asynchronous invocation of the receiver goes. @default none */
  readonly deadLetterQueue?: sqs.IQueue;
  /** @default 2 */
  readonly reservedConcurrency?: number;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /** For the log group. */
  readonly removalPolicy?: RemovalPolicy;
}

export class WebhookReceiver extends Construct {
  readonly function: NodejsFunction;
  /** Give this URL to the Git host (payload URL). */
  readonly url: lambda.FunctionUrl;
  /** The shared secret: give its value to the Git host. */
  readonly secret: secretsmanager.ISecret;
  /** The apps' own secrets the receiver reads, by ARN. */
  readonly appSecrets: readonly secretsmanager.ISecret[];
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: WebhookReceiverProps) {
    super(scope, id);
    this.secret = props.secret
      ? importSecret(this, 'Secret', props.secret)
      : generatedSecret(this, props.encryptionKey);
    const appSecrets = new Construct(this, 'AppSecrets');
    this.appSecrets = [...new Set(props.appSecretArns ?? [])].map((arn, index) =>
      importSecret(appSecrets, `Secret${index}`, arn),
    );
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      encryptionKey: props.encryptionKey,
      removalPolicy: props.removalPolicy,
    });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'driftless webhook: reads the webhook secrets, invokes the pull agent',
    });
    this.logGroup.grantWrite(role);
    for (const secret of [this.secret, ...this.appSecrets]) secret.grantRead(role);
    if (props.deadLetterQueue?.encryptionMasterKey) {
      // Lambda sends to the encrypted queue as this role: exactly the two calls SQS makes for the key.
      props.deadLetterQueue.encryptionMasterKey.grant(role, 'kms:Decrypt', 'kms:GenerateDataKey');
    }
    // The unqualified function only: grantInvoke would add its versions and aliases (`:*`).
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [props.agentFunction.functionArn],
      }),
    );

    const configFile = props.configFile;
    this.function = new NodejsFunction(this, 'Function', {
      description: 'driftless webhook: verifies a push and starts the syncs of its apps',
      entry: resolve(REPO_ROOT, 'lambda/webhook.ts'),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: resolve(REPO_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      role,
      memorySize: 256,
      // It answers within a second; the limit only stops a stuck invocation early.
      timeout: Duration.seconds(10),
      reservedConcurrentExecutions: props.reservedConcurrency ?? 2,
      deadLetterQueue: props.deadLetterQueue,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.INFO,
      logGroup: this.logGroup,
      environment: {
        DRIFTLESS_CONFIG_FILE: BUNDLED_CONFIG_PATH,
        DRIFTLESS_FUNCTION: props.agentFunction.functionName,
        DRIFTLESS_WEBHOOK_SECRET: this.secret.secretArn,
        POWERTOOLS_SERVICE_NAME: 'driftless-webhook',
      },
      bundling: bundlingWithConfig(configFile),
    });

    this.url = this.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
    const reason =
      'A Git host cannot sign AWS requests, so the URL takes no IAM auth: the handler verifies the GitHub X-Hub-Signature-256 / generic HMAC-SHA256 signature or the GitLab token against the Secrets Manager secret (constant-time), answers 401 before parsing the payload otherwise, and reserved concurrency bounds it.';
    for (const pack of ['NIST.800.53.R4', 'NIST.800.53.R5', 'HIPAA.Security', 'PCI.DSS.321']) {
      for (const rule of ['LambdaFunctionPublicAccessProhibited', 'LambdaFunctionUrlAuth']) {
        Validations.of(this).acknowledge({ id: `${pack}-${rule}`, reason });
      }
    }
    Validations.of(role).acknowledge({
      id: 'NIST.800.53.R5-IAMNoInlinePolicy',
      reason:
        "Each statement names only the receiver's own resources (its log group, the webhook secrets the config names, the agent function, the dead-letter queue's key); an inline policy lives and dies with this one role, so no other principal can be given it.",
    });
    Validations.of(this.function).acknowledge({
      id: 'NIST.800.53.R5-LambdaInsideVPC',
      reason:
        'The receiver reaches nothing in a VPC: it is called over its Function URL and calls only Secrets Manager and Lambda Invoke, public AWS APIs; a VPC would need endpoints for both without narrowing what it can reach.',
    });
  }
}

function importSecret(scope: Construct, id: string, secret: string): secretsmanager.ISecret {
  if (COMPLETE_SECRET_ARN.test(secret)) return secretsmanager.Secret.fromSecretCompleteArn(scope, id, secret);
  if (secret.startsWith('arn:')) return secretsmanager.Secret.fromSecretPartialArn(scope, id, secret);
  return secretsmanager.Secret.fromSecretNameV2(scope, id, secret);
}

function generatedSecret(scope: Construct, encryptionKey?: kms.IKey): secretsmanager.Secret {
  const secret = new secretsmanager.Secret(scope, 'Secret', {
    description:
      'driftless webhook: the secret shared with the Git host (GitHub/generic HMAC key, GitLab token)',
    generateSecretString: { passwordLength: 40, excludePunctuation: true },
    encryptionKey,
  });
  const reason =
    'The value is shared with the Git host by hand; rotating it means updating the webhook there too (put a new value, then change the Git host within 5 minutes, the receiver cache).';
  for (const id of ['AwsSolutions-SMG4', 'NIST.800.53.R5-SecretsManagerRotationEnabled']) {
    Validations.of(secret).acknowledge({ id, reason });
  }
  return secret;
}
