/**
 * The cdk-nag findings the pull agent leaves on purpose, each with its reason. AwsSolutions runs
 * on every synth; the NIST 800-53 R5 pack runs when the stack has a customer-managed key
 * (`infra/app.ts`), so its acknowledgements are the exceptions a regulated review gets to read.
 */
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

export interface ComplianceScope {
  /** The function's role and each app's role. */
  roles: IConstruct[];
  /** The schedules' role. */
  schedulerRole: IConstruct;
  function: IConstruct;
  encrypted: boolean;
  inVpc: boolean;
  reservedConcurrency: boolean;
  tracing: boolean;
  /** The alarms, and whether they notify anyone. */
  alarms: IConstruct[];
  alarmsNotify: boolean;
}

/** Acknowledges the findings that follow from the design, naming the setting that changes each. */
export function acknowledgeDesignFindings(scope: ComplianceScope): void {
  for (const role of [...scope.roles, scope.schedulerRole]) {
    Validations.of(role).acknowledge({
      id: 'NIST.800.53.R5-IAMNoInlinePolicy',
      reason:
        "Each statement names only this role's own resources (its app's cluster, secret and role; the agent's table, log group and queue); an inline policy lives and dies with the one role it serves, so no other principal can be given it.",
    });
  }
  if (scope.encrypted) {
    for (const action of ['kms:ReEncrypt*', 'kms:GenerateDataKey*']) {
      Validations.of(scope.roles[0] as IConstruct).acknowledge({
        id: `AwsSolutions-IAM5[Action::${action}]`,
        reason:
          "Granted on the stack's one customer-managed key only, by CDK's grants for the encrypted table and dead-letter queue: the calls DynamoDB and SQS make for that key.",
      });
    }
  }
  if (scope.tracing) {
    Validations.of(scope.roles[0] as IConstruct).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only with tracing on: xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource scoping.',
    });
  }
  Validations.of(scope.function).acknowledge({
    id: 'NIST.800.53.R5-LambdaDLQ',
    reason:
      "Failed asynchronous invocations go to the stack's dead-letter queue through the function's on-failure destination, which keeps the error and request context a DeadLetterConfig would drop.",
  });
  if (!scope.inVpc) {
    Validations.of(scope.function).acknowledge({
      id: 'NIST.800.53.R5-LambdaInsideVPC',
      reason:
        'The function reaches the Git host and public EKS endpoints; set vpcId and subnetIds (context) for clusters with a private endpoint, which also satisfies this rule.',
    });
  }
  for (const alarms of scope.alarmsNotify ? [] : scope.alarms) {
    Validations.of(alarms).acknowledge({
      id: 'NIST.800.53.R5-CloudWatchAlarmAction',
      reason:
        'No notification target was given: the alarms show in the CloudWatch console. Set alarmEmail or alarmTopicArn (context), or alarmTopic, to be told.',
    });
  }
  if (!scope.reservedConcurrency) {
    Validations.of(scope.function).acknowledge({
      id: 'NIST.800.53.R5-LambdaConcurrency',
      reason:
        "Off by default: a reservation takes from the account's concurrency pool. Each app's lease already allows one sync at a time; set reservedConcurrency (context) to cap the function.",
    });
  }
}
