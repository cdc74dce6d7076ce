/**
 * The CDK app (`npx cdk synth|deploy`): reads `driftless.config.yaml` (or `-c config=PATH`),
 * validates it, and deploys one `DriftlessStack`. cdk-nag's AwsSolutions pack checks the result.
 *
 * Context: `config`, `stackName` (default Driftless), `alarmEmail`, `alarmTopicArn`, `vpcId`, `subnetIds` and
 * `securityGroupIds` (comma-separated), `removalPolicy` (`retain` | `destroy`), `encryptionKeyArn`,
 * `recordTtlDays`, `logRetentionDays`, `deletionProtection` (`true` | `false`),
 * `reservedConcurrency`, `tracing` (`true` | `false`).
 */
import { App, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, NIST80053R5Checks } from 'cdk-nag';
import { ConfigError } from '../lambda/config.ts';
import { DriftlessStack } from './stack.ts';
import { stackSettingsFromContext } from './stack-settings.ts';

const app = new App();
const context = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  return value === undefined || value === '' ? undefined : String(value);
};
const list = (key: string) =>
  context(key)
    ?.split(',')
    .map((item) => item.trim())
    .filter(Boolean);

const removal = context('removalPolicy') ?? 'retain';
if (removal !== 'retain' && removal !== 'destroy') {
  console.error(`removalPolicy: must be "retain" or "destroy", got "${removal}"`);
  process.exit(1);
}

try {
  const settings = stackSettingsFromContext(context);
  new DriftlessStack(app, context('stackName') ?? 'Driftless', {
    // Environment-agnostic: synth needs no credentials and the stack deploys to the CLI's region.
    // Region-bound checks (an access entry's cluster region) run at deploy time as template rules.
    description: 'driftless: serverless GitOps pull agent for Amazon EKS',
    configFile: context('config') ?? 'driftless.config.yaml',
    alarmEmail: context('alarmEmail'),
    alarmTopicArn: context('alarmTopicArn'),
    vpcId: context('vpcId'),
    subnetIds: list('subnetIds'),
    securityGroupIds: list('securityGroupIds'),
    removalPolicy: removal === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    ...settings,
  });
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
// With a customer-managed key the stack is meant for regulated accounts: check NIST 800-53 R5 too.
if (context('encryptionKeyArn')) Validations.of(app).addPlugins(new NIST80053R5Checks(app));
