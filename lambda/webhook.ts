/**
 * The push receiver behind a Lambda Function URL: a Git host calls it on every push, it checks
 * the signature, and asynchronously invokes the agent function (`{ app, trigger: "webhook" }`)
 * for every app that follows the pushed repository and ref. The agent's lease keeps a webhook
 * run and a scheduled run of one app from reconciling at once.
 *
 * Answers: 401 for a missing or wrong signature (before the body is parsed), 413 for a body over
 * the bound, 200 to a ping, 202 to every signed push, whether it matched apps or not, so the
 * answer says nothing about which apps exist. A push starts only the apps whose secret signed it
 * (an app's own `webhook.secretArn`, else the agent-wide secret: `webhook/secrets.ts`); an empty
 * or whitespace-only secret verifies nothing.
 *
 * Environment (the stack sets it): `DRIFTLESS_CONFIG_FILE`, `DRIFTLESS_FUNCTION` (the agent
 * function), `DRIFTLESS_WEBHOOK_SECRET` (Secrets Manager secret id of the agent-wide secret),
 * `DRIFTLESS_WEBHOOK_MAX_BODY_BYTES` @default 1 MiB.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { ConfigError, type DriftlessConfig, loadConfigFile } from './config.ts';
import { errorMessage } from './log.ts';
import { appsForPush, normaliseRepoUrl, parseWebhookRequest } from './webhook/push.ts';
import { appsSignedFor, loadWebhookKeys, type SecretReader, type WebhookKey } from './webhook/secrets.ts';
import { verifySignature } from './webhook/signature.ts';

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** A rotated secret is picked up within this long. */
const SECRET_CACHE_MS = 5 * 60_000;

export interface WebhookDeps {
  /** @default `loadConfigFile(DRIFTLESS_CONFIG_FILE)`, once per container */
  loadConfig?: () => Promise<DriftlessConfig>;
  /**
   * Reads a secret: an app's by its ARN, the agent-wide one when called without. The values are
   * kept 5 minutes. @default Secrets Manager, the agent-wide one named by `DRIFTLESS_WEBHOOK_SECRET`
   */
  getSecret?: SecretReader;
  /** Starts a sync of one app without waiting for it. @default an async Lambda Invoke of `DRIFTLESS_FUNCTION` */
  startSync?: (app: string) => Promise<void>;
  /** @default `DRIFTLESS_WEBHOOK_MAX_BODY_BYTES` or 1 MiB */
  maxBodyBytes?: number;
  /** @default a Powertools Logger, service `driftless-webhook` */
  logger?: Logger;
}

/** What the Function URL returns to the sender (a `LambdaFunctionURLResult`). */
export interface WebhookResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export type WebhookHandler = (event: LambdaFunctionURLEvent) => Promise<WebhookResponse>;

export function createWebhookHandler(deps: WebhookDeps = {}): WebhookHandler {
  const logger = deps.logger ?? new Logger({ serviceName: 'driftless-webhook' });
  const maxBodyBytes =
    deps.maxBodyBytes ?? (Number(process.env.DRIFTLESS_WEBHOOK_MAX_BODY_BYTES) || DEFAULT_MAX_BODY_BYTES);
  let config: Promise<DriftlessConfig> | undefined;
  const loadConfig = () => {
    config ??= (deps.loadConfig ?? (() => loadConfigFile(requireEnv('DRIFTLESS_CONFIG_FILE'))))().catch(
      (error: unknown) => {
        config = undefined;
        throw error;
      },
    );
    return config;
  };
  const getSecret = deps.getSecret ?? secretsManagerSecret();
  const startSync = deps.startSync ?? lambdaInvoker();
  // Loaded once per 5 minutes, so a refused secret is logged once then, not on every request.
  let keys: { value: Promise<WebhookKey[]>; at: number } | undefined;
  const loadKeys = () => {
    if (!keys || Date.now() - keys.at >= SECRET_CACHE_MS) {
      const value = loadConfig().then((loaded) => loadWebhookKeys(loaded.apps, getSecret, logger));
      keys = { value, at: Date.now() };
      value.catch(() => {
        keys = undefined;
      });
    }
    return keys.value;
  };

  return async (event) => {
    if (event.requestContext?.http?.method !== 'POST') return answer(405, 'POST a push event');
    const headers = lowercaseKeys(event.headers ?? {});
    const declared = Number(headers['content-length']);
    if (declared > maxBodyBytes) return answer(413, `body over ${maxBodyBytes} bytes`);
    const body = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
    if (body.length > maxBodyBytes) return answer(413, `body over ${maxBodyBytes} bytes`);

    const usable = await loadKeys();
    const verification = verifySignature(
      headers,
      body,
      usable.map((key) => key.value),
    );
    if (!verification.ok) {
      logger.warn('webhook refused', {
        // With no usable secret, the reason was logged once when the secrets were loaded.
        reason: usable.length
          ? verification.reason
          : 'no usable webhook secret (see "webhook secret refused")',
        sourceIp: event.requestContext.http.sourceIp,
      });
      return answer(401, 'signature missing or invalid');
    }
    let request: ReturnType<typeof parseWebhookRequest>;
    try {
      request = parseWebhookRequest(verification.provider, headers, JSON.parse(body.toString('utf8')));
    } catch (error) {
      return answer(400, `not a push event: ${errorMessage(error)}`);
    }
    if (request.kind === 'ping') return answer(200, 'pong');
    if (request.kind === 'ignored') return answer(202, 'accepted');

    const signedWith = verification.matched.map((index) => usable[index]!);
    const signedFor = appsSignedFor((await loadConfig()).apps, signedWith);
    const apps = appsForPush(signedFor, request.push).map((app) => app.name);
    logger.info('webhook push', {
      provider: verification.provider,
      signedWith: signedWith.map((key) => key.setting),
      repo: normaliseRepoUrl(request.push.repoUrls[0]!),
      ref: request.push.ref,
      apps,
    });
    const started = await Promise.allSettled(apps.map((app) => startSync(app)));
    const failed = started.flatMap((result, index) =>
      result.status === 'rejected' ? [{ app: apps[index], error: errorMessage(result.reason) }] : [],
    );
    if (failed.length) {
      logger.error('webhook could not start syncs', { failed });
      return answer(500, 'could not start the sync; the schedule will still run it');
    }
    return answer(202, 'accepted');
  };
}

function answer(statusCode: number, message: string): WebhookResponse {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message }) };
}

function lowercaseKeys(headers: Record<string, string | undefined>): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(headers).map(([key, value]) => [key.toLowerCase(), value]));
}

/** A secret that holds no string (binary, or never set) reads as empty: refused like one. */
function secretsManagerSecret(): SecretReader {
  let client: SecretsManagerClient | undefined;
  return async (secretArn) => {
    const secretId = secretArn ?? requireEnv('DRIFTLESS_WEBHOOK_SECRET');
    client ??= new SecretsManagerClient({});
    const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    return SecretString ?? '';
  };
}

function lambdaInvoker(): (app: string) => Promise<void> {
  let client: LambdaClient | undefined;
  return async (app) => {
    client ??= new LambdaClient({});
    await client.send(
      new InvokeCommand({
        FunctionName: requireEnv('DRIFTLESS_FUNCTION'),
        InvocationType: 'Event',
        Payload: Buffer.from(JSON.stringify({ app, trigger: 'webhook' })),
      }),
    );
  };
}

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new ConfigError(`environment variable ${name} is not set (the stack sets it)`);
  return value;
}

/** The function the stack deploys behind the Function URL: `webhook.handler`. */
export const handler: WebhookHandler = createWebhookHandler();
