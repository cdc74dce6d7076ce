import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { DriftlessStack } from '../../infra/stack.ts';
import { appConfig, FIXTURE_ENTRY, writeConfig } from './synth-agent.ts';

/** Every optional part switched on: secrets, an assumed role, access entries, VPC, alarm e-mail. */
const fullConfig = {
  apps: [
    appConfig('nag-web', {
      credentialsSecret: 'git/web',
      cluster: { name: 'prod', region: 'eu-west-1', access: { policy: 'AmazonEKSClusterAdminPolicy' } },
    }),
    appConfig('nag-api', {
      cluster: { name: 'far', region: 'eu-west-1', roleArn: 'arn:aws:iam::444455556666:role/deployer' },
      suspended: true,
    }),
  ],
};

function nagApp(): App {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return app;
}

function violations(outdir: string): string[] {
  const file = join(outdir, 'validation-report.json');
  if (!existsSync(file)) return [];
  const report = JSON.parse(readFileSync(file, 'utf8'));
  return report.pluginReports.flatMap((plugin: any) =>
    plugin.violations.map(
      (violation: any) => `${violation.ruleName} at ${violation.violatingConstructs[0]?.constructPath}`,
    ),
  );
}

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing unacknowledged in the stack with every option on', () => {
    const app = nagApp();
    new DriftlessStack(app, 'NagFull', {
      configFile: writeConfig(fullConfig),
      entry: FIXTURE_ENTRY,
      env: { account: '111122223333', region: 'eu-west-1' },
      alarmEmail: 'ops@example.com',
      vpcId: 'vpc-0123456789abcdef0',
      subnetIds: ['subnet-0aaaaaaaaaaaaaaaa'],
    });
    const assembly = app.synth();
    expect(violations(assembly.directory)).toEqual([]);
  });

  it('finds nothing unacknowledged in the environment-agnostic default stack', () => {
    const app = nagApp();
    new DriftlessStack(app, 'NagMinimal', {
      configFile: writeConfig({ apps: [appConfig('nag-min')] }),
      entry: FIXTURE_ENTRY,
    });
    expect(violations(app.synth().directory)).toEqual([]);
  });

  it('does report a finding the stack has not acknowledged (the check is live)', () => {
    const app = nagApp();
    const stack = new DriftlessStack(app, 'NagControl', {
      configFile: writeConfig({ apps: [appConfig('nag-ctl')] }),
      entry: FIXTURE_ENTRY,
    });
    stack.agent.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: ['*'] }),
    );
    expect(() => app.synth()).toThrow(/AwsSolutions-IAM5\[Resource::\*\]/);
  });
});
