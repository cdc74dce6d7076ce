/**
 * The push receiver as a regulated review reads it: with per-app webhook secrets it may read
 * exactly the agent-wide secret and those (nothing else), and with a customer-managed key it
 * passes cdk-nag's AwsSolutions and NIST 800-53 R5 packs: encrypted log group, the generated
 * secret on the key, a dead-letter queue, rotation and VPC acknowledged with their reasons.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, NIST80053R5Checks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { DriftlessStack } from '../../infra/stack.ts';
import { appConfig, FIXTURE_ENTRY, synthAgent, tempDir, writeConfig } from './synth-agent.ts';

const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555';
const ARN_A = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:driftless/hook-a-AbCdEf';
const ARN_B = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:driftless/hook-b';

const perAppConfig = {
  webhook: true,
  apps: [
    appConfig('wh-a', { webhook: { secretArn: ARN_A } }),
    appConfig('wh-b', { webhook: { secretArn: ARN_B } }),
    appConfig('wh-b2', { webhook: { secretArn: ARN_B } }),
    appConfig('wh-c'),
  ],
};

/** The resources of every `secretsmanager:GetSecretValue` statement of the receiver's role. */
function receiverSecretResources(template: Template): unknown[] {
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^AgentWebhookRole') }] },
  });
  return Object.values(policies).flatMap((policy: any) =>
    policy.Properties.PolicyDocument.Statement.filter((statement: any) =>
      [statement.Action].flat().includes('secretsmanager:GetSecretValue'),
    ).map((statement: any) => statement.Resource),
  );
}

function violations(outdir: string): string[] {
  const file = join(outdir, 'validation-report.json');
  if (!existsSync(file)) return [];
  return JSON.parse(readFileSync(file, 'utf8')).pluginReports.flatMap((plugin: any) =>
    plugin.violations.map((v: any) => `${v.ruleName} at ${v.violatingConstructs[0]?.constructPath}`),
  );
}

describe('per-app webhook secrets', () => {
  it('lets the receiver read the agent-wide secret and exactly the apps’ own secrets', () => {
    const { template } = synthAgent(perAppConfig);
    const resources = receiverSecretResources(template);
    expect(resources).toHaveLength(3);
    expect(JSON.stringify(resources)).toMatch(/"Ref":"AgentWebhookSecret/);
    expect(resources).toContain(ARN_A);
    // A partial ARN is granted with the six characters Secrets Manager appends, never `*`.
    expect(JSON.stringify(resources)).toContain(`${ARN_B}-??????`);
    expect(JSON.stringify(resources)).not.toContain('*');
  });

  it('grants no app secret when no app has one', () => {
    const { template } = synthAgent({ webhook: true, apps: [appConfig('wh-only')] });
    expect(receiverSecretResources(template)).toHaveLength(1);
  });

  it('gives the agent function no webhook secret', () => {
    const { template } = synthAgent(perAppConfig);
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^AgentRole') }] },
    });
    expect(JSON.stringify(policies)).not.toMatch(/hook-a|hook-b|WebhookSecret/);
  });
});

describe('the receiver with a customer-managed key', () => {
  const { template } = synthAgent(perAppConfig, { encryptionKeyArn: KEY_ARN });

  it('encrypts its log group and the generated secret with the key, and has a dead-letter queue', () => {
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      KmsKeyId: KEY_ARN,
      RetentionInDays: Match.anyValue(),
    });
    template.hasResourceProperties('AWS::SecretsManager::Secret', { KmsKeyId: KEY_ARN });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'driftless-webhook' }) },
      DeadLetterConfig: {
        TargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AgentDeadLetterQueue'), 'Arn'] },
      },
    });
  });

  for (const vpc of [false, true]) {
    it(`passes AwsSolutions and NIST 800-53 R5 with nothing unacknowledged${vpc ? ', in a VPC' : ''}`, () => {
      const app = new App({ outdir: tempDir('nist-webhook-'), context: { 'aws:cdk:bundling-stacks': [] } });
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new NIST80053R5Checks(app));
      new DriftlessStack(app, 'NistWebhook', {
        configFile: writeConfig(perAppConfig),
        entry: FIXTURE_ENTRY,
        encryptionKeyArn: KEY_ARN,
        alarmEmail: 'ops@example.com',
        ...(vpc ? { vpcId: 'vpc-0123456789abcdef0', subnetIds: ['subnet-0aaaaaaaaaaaaaaaa'] } : {}),
      });
      expect(violations(app.synth().directory)).toEqual([]);
    });
  }
});
