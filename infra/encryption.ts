/**
 * Encryption at rest with an optional customer-managed KMS key: the history table, the log group,
 * the dead-letter queue and any SNS topic the stack creates. Without a key each uses the AWS owned
 * or AWS managed key of its service. The function's environment holds no secret either way.
 */
import { ArnFormat, Aws, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

export { HISTORY_TABLE_ACTIONS } from '../lambda/history/dynamodb-store.ts';

/** How each store of the stack is encrypted. */
export interface StackEncryption {
  /** Puts the table (its one replica) under the key. */
  encryptTable(table: dynamodb.TableV2): void;
  queue: Pick<sqs.QueueProps, 'encryption' | 'encryptionMasterKey'>;
}

/**
 * The encryption settings for `key`. A key defined in this app gets the key-policy statements
 * CloudWatch Logs (the log group) and CloudWatch alarms (publishing to an encrypted topic) need
 * (EventBridge's, for the notification topic, comes with its rules' publish grant);
 * an imported key's policy is its owner's to change (the README lists the statements).
 */
export function encryptedWith(scope: Construct, key?: kms.IKey): StackEncryption {
  if (!key) return { encryptTable: () => {}, queue: { encryption: sqs.QueueEncryption.SQS_MANAGED } };
  const stack = Stack.of(scope);
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'DriftlessLogGroup',
      principals: [new iam.ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: {
        ArnLike: {
          'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
            service: 'logs',
            resource: 'log-group',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        },
      },
    }),
  );
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'DriftlessAlarmsToEncryptedTopic',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
    }),
  );
  return {
    // TableV2's own `encryption` needs the stack's region at synth (it maps keys to replica
    // regions); the stack is region-agnostic, and the table has one replica: set it directly.
    encryptTable: (table) => {
      const cfn = table.node.defaultChild as dynamodb.CfnGlobalTable;
      cfn.addPropertyOverride('SSESpecification', { SSEEnabled: true, SSEType: 'KMS' });
      cfn.addPropertyOverride('Replicas.0.SSESpecification', { KMSMasterKeyId: key.keyArn });
    },
    queue: { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: key },
  };
}
