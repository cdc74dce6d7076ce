/**
 * How the stack's functions are bundled: ESM for Node 24 by esbuild (no Docker), with the deploy
 * config copied next to the bundle, where the function reads it at `BUNDLED_CONFIG_PATH`.
 */
import { type BundlingOptions, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';

const BUNDLED_CONFIG = 'driftless.config.yaml';

/** Where a bundled function finds the deploy config. */
export const BUNDLED_CONFIG_PATH = `/var/task/${BUNDLED_CONFIG}`;

export function bundlingWithConfig(configFile: string): BundlingOptions {
  return {
    format: OutputFormat.ESM,
    target: 'node24',
    mainFields: ['module', 'main'],
    minify: true,
    sourceMap: true,
    sourcesContent: false,
    // Pin the SDK to the lock file's versions instead of the runtime's.
    bundleAwsSDK: true,
    // client-node serves kubeconfig targets only (the CLI); the Lambda reaches EKS with its own
    // signed token and never loads it. Bundled it would be 4 of the package's 5 MB.
    externalModules: ['@kubernetes/client-node'],
    // CommonJS dependencies inside an ESM bundle still call require() for Node built-ins.
    banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    forceDockerBundling: false,
    commandHooks: {
      beforeBundling: () => [],
      beforeInstall: () => [],
      afterBundling: (_inputDir: string, outputDir: string) => [
        `cp ${shellQuote(configFile)} ${shellQuote(`${outputDir}/${BUNDLED_CONFIG}`)}`,
      ],
    },
  };
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}
