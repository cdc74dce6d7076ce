/**
 * The stack's security and retention settings as CDK context (`-c recordTtlDays=30`), so they are
 * reachable from `cdk.json` or the command line, not only from the construct. Each value is
 * checked here and a bad one names its context key.
 */
import * as logs from 'aws-cdk-lib/aws-logs';
import { ConfigError } from '../lambda/config.ts';
import type { DriftlessStackProps } from './stack.ts';

type Settings = { -readonly [K in keyof StackSettings]: StackSettings[K] };
type StackSettings = Pick<
  DriftlessStackProps,
  | 'encryptionKeyArn'
  | 'recordTtlDays'
  | 'logRetention'
  | 'deletionProtection'
  | 'reservedConcurrentExecutions'
  | 'tracing'
>;

const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/;
const RETENTION_DAYS = new Set(
  Object.values(logs.RetentionDays).filter((days): days is number => typeof days === 'number'),
);

/** Reads the settings from `context` (a lookup that returns `undefined` for unset keys). */
export function stackSettingsFromContext(context: (key: string) => string | undefined): Settings {
  const settings: Settings = {};
  const keyArn = context('encryptionKeyArn');
  if (keyArn !== undefined) {
    if (!KMS_KEY_ARN.test(keyArn))
      fail('encryptionKeyArn', 'must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)');
    settings.encryptionKeyArn = keyArn;
  }
  const ttl = wholeNumber(context, 'recordTtlDays');
  if (ttl !== undefined) settings.recordTtlDays = ttl;
  const retention = wholeNumber(context, 'logRetentionDays');
  if (retention !== undefined) {
    if (!RETENTION_DAYS.has(retention)) {
      fail(
        'logRetentionDays',
        `must be one of CloudWatch Logs' retention periods: ${[...RETENTION_DAYS].sort((a, b) => a - b).join(', ')}`,
      );
    }
    settings.logRetention = retention as logs.RetentionDays;
  }
  const concurrency = wholeNumber(context, 'reservedConcurrency');
  if (concurrency !== undefined) settings.reservedConcurrentExecutions = concurrency;
  const protection = flag(context, 'deletionProtection');
  if (protection !== undefined) settings.deletionProtection = protection;
  const tracing = flag(context, 'tracing');
  if (tracing !== undefined) settings.tracing = tracing;
  return settings;
}

function wholeNumber(context: (key: string) => string | undefined, key: string): number | undefined {
  const value = context(key);
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1)
    fail(key, `must be a whole number, at least 1 (got "${value}")`);
  return number;
}

function flag(context: (key: string) => string | undefined, key: string): boolean | undefined {
  const value = context(key);
  if (value === undefined) return undefined;
  if (value !== 'true' && value !== 'false') fail(key, `must be "true" or "false" (got "${value}")`);
  return value === 'true';
}

function fail(key: string, message: string): never {
  throw new ConfigError(`context ${key}: ${message}`);
}
