/**
 * Synthesises a `DriftlessStack` from a config written to a temp file, with asset bundling
 * skipped (the `aws:cdk:bundling-stacks` context) so each test takes a second, not an esbuild run.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll } from 'vitest';
import { stringify } from 'yaml';
import { DriftlessStack, type DriftlessStackProps } from '../../infra/stack.ts';

// One temp root per test file, removed after it: cloud assemblies add up.
const TEMP_ROOT = mkdtempSync(join(tmpdir(), 'driftless-infra-'));
afterAll(() => rmSync(TEMP_ROOT, { recursive: true, force: true }));

/** A fresh directory under this process's temp root. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(TEMP_ROOT, prefix));
}

/** The stand-in handler: NodejsFunction insists its entry exists even when bundling is skipped. */
export const FIXTURE_ENTRY = join(import.meta.dirname, 'fixtures', 'handler.ts');

/** Writes `config` (an object, or YAML text) to a fresh temp file and returns its path. */
export function writeConfig(config: unknown): string {
  const dir = tempDir('config-');
  const file = join(dir, 'driftless.config.yaml');
  writeFileSync(file, typeof config === 'string' ? config : stringify(config));
  return file;
}

/** A minimal valid app; override what a test is about. */
export function appConfig(name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    repo: `https://git.example.com/${name}.git`,
    cluster: { name: 'prod', region: 'eu-west-1' },
    ...overrides,
  };
}

export interface Synthesised {
  app: App;
  stack: DriftlessStack;
  template: Template;
}

/** Synthesises the stack for `config` (apps list or whole config) with cdk-nag registered. */
export function synthAgent(
  config: unknown,
  props: Partial<DriftlessStackProps> & { bundle?: boolean; nag?: boolean } = {},
): Synthesised {
  const { bundle = false, nag = true, ...stackProps } = props;
  const app = new App({
    outdir: tempDir('cdk.out-'),
    context: bundle ? {} : { 'aws:cdk:bundling-stacks': [] },
  });
  const stack = new DriftlessStack(app, 'DriftlessTest', {
    configFile: writeConfig(Array.isArray(config) ? { apps: config } : config),
    entry: FIXTURE_ENTRY,
    ...stackProps,
  });
  if (nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, template: Template.fromStack(stack as Stack) };
}
