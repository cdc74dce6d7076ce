/**
 * The push receiver behind a Lambda Function URL: a Git host calls it on every push, it checks
 * the signature, and asynchronously invokes the agent function (`{ app, trigger: "webhook" }`)
 * for every app that follows the pushed repository and ref. The agent's lease keeps a webhook
 * run and a scheduled run of one app from reconciling at once.
 *
 * Answers: 401 for a missing or wrong signature (before the body is parsed), 413 for a body over
 * the bound, 200 to a ping, 202 to every signed push, whether it matched apps or not, so the
 * answer says nothing about which apps exist.
 *
 * Environment (the stack sets it): `DRIFTLESS_CONFIG_FILE`, `DRIFTLESS_FUNCTION` (the agent
 * function), `DRIFTLESS_WEBHOOK_SECRET` (Secrets Manager secret id),
 * `DRIFTLESS_WEBHOOK_MAX_BODY_BYTES` @default 1 MiB.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { ConfigError, type DriftlessConfig, loadConfigFile } from './config.ts';
import { errorMessage } from './log.ts';
import { appsForPush, normaliseRepoUrl, parseWebhookRequest } from './webhook/push.ts';
import { verifySignature } from './webhook/signature.ts';

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** A rotated secret is picked up within this long. */
const SECRET_CACHE_MS = 5 * 60_000;

export interface WebhookDeps {
  /** @default `loadConfigFile(DRIFTLESS_CONFIG_FILE)`, once per container */
  loadConfig?: () => Promise<DriftlessConfig>;
  /** The shared secret. @default `DRIFTLESS_WEBHOOK_SECRET` from Secrets Manager, cached 5 minutes */
  getSecret?: () => Promise<string>;
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

  return async (event) => {
    if (event.requestContext?.http?.method !== 'POST') return answer(405, 'POST a push event');
    const headers = lowercaseKeys(event.headers ?? {});
    const declared = Number(headers['content-length']);
    if (declared > maxBodyBytes) return answer(413, `body over ${maxBodyBytes} bytes`);
    const body = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
    if (body.length > maxBodyBytes) return answer(413, `body over ${maxBodyBytes} bytes`);

    const verification = verifySignature(headers, body, await getSecret());
    if (!verification.ok) {
      logger.warn('webhook refused', {
        reason: verification.reason,
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

    const apps = appsForPush((await loadConfig()).apps, request.push).map((app) => app.name);
    logger.info('webhook push', {
      provider: verification.provider,
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

function secretsManagerSecret(): () => Promise<string> {
  let client: SecretsManagerClient | undefined;
  let cached: { value: string; at: number } | undefined;
  return async () => {
    if (cached && Date.now() - cached.at < SECRET_CACHE_MS) return cached.value;
    const secretId = requireEnv('DRIFTLESS_WEBHOOK_SECRET');
    client ??= new SecretsManagerClient({});
    const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    if (!SecretString) throw new ConfigError(`webhook secret ${secretId} holds no string`);
    cached = { value: SecretString.trim(), at: Date.now() };
    return cached.value;
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
