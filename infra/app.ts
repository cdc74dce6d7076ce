/**
 * The CDK app (`npx cdk synth|deploy`): reads `driftless.config.yaml` (or `-c config=PATH`),
 * validates it, and deploys one `DriftlessStack`. cdk-nag's AwsSolutions pack checks the result.
 *
 * Context: `config`, `stackName` (default Driftless), `alarmEmail`, `alarmTopicArn`, `vpcId`, `subnetIds` and
 * `securityGroupIds` (comma-separated), `removalPolicy` (`retain` | `destroy`).
 */
import { App, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError } from '../lambda/config.ts';
import { DriftlessStack } from './stack.ts';

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
  });
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
