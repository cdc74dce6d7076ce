/**
 * The secrets a push may be signed with: the agent-wide one (`webhook.secret`, which the stack
 * passes as `DRIFTLESS_WEBHOOK_SECRET`) and each app's own (`apps[i].webhook.secretArn`). An app
 * with its own secret is started only by a push signed with it, the others only by the agent-wide
 * one, so one leaked secret cannot start every app. A secret that is empty or only whitespace is
 * refused when it is loaded: it verifies nothing, and one log line names its setting.
 */
import type { AppConfig } from '../config.ts';
import { usableSecret } from './signature.ts';

/** One secret the receiver verifies with. */
export interface WebhookKey {
  /** The setting that names the secret, for log lines. */
  setting: string;
  /** The app's secret ARN; absent for the agent-wide secret. */
  secretArn?: string;
  value: string;
}

/** Reads a secret's value: an app's by ARN, the agent-wide one without. */
export type SecretReader = (secretArn?: string) => Promise<string>;

export const AGENT_SECRET_SETTING = 'webhook.secret (environment variable DRIFTLESS_WEBHOOK_SECRET)';

/** Loads each distinct secret once; the refused ones are logged (one line each) and left out. */
export async function loadWebhookKeys(
  apps: readonly AppConfig[],
  read: SecretReader,
  logger: { error(message: string, attributes: Record<string, string>): void },
): Promise<WebhookKey[]> {
  const settings = new Map<string | undefined, string>([[undefined, AGENT_SECRET_SETTING]]);
  apps.forEach((app, index) => {
    const arn = app.webhook?.secretArn;
    if (arn && !settings.has(arn)) settings.set(arn, `apps[${index}].webhook.secretArn`);
  });
  const keys = await Promise.all(
    [...settings].map(async ([secretArn, setting]) => ({
      setting,
      secretArn,
      value: (await read(secretArn)).trim(),
    })),
  );
  for (const key of keys) {
    if (usableSecret(key.value)) continue;
    logger.error(
      `webhook secret refused: it is empty or only whitespace, so it verifies no push; put a random value (40 characters) in it and in the Git host's webhook`,
      { setting: key.setting, ...(key.secretArn ? { secretArn: key.secretArn } : {}) },
    );
  }
  return keys.filter((key) => usableSecret(key.value));
}

/** The apps the verified secrets may start: those with their own secret among them, or none of their own and the agent-wide one among them. */
export function appsSignedFor(apps: readonly AppConfig[], verified: readonly WebhookKey[]): AppConfig[] {
  const arns = new Set(verified.map((key) => key.secretArn));
  return apps.filter((app) => arns.has(app.webhook?.secretArn));
}
