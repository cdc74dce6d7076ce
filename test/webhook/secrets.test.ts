/**
 * The receiver's secrets: one that is empty or only whitespace verifies nothing (it would make
 * the empty HMAC key, which anyone can sign with), and an app with its own secret is started only
 * by a push signed with that secret, so one leaked secret cannot start every app. Secrets Manager
 * and Lambda Invoke are AWS's side: mocked clients stand in for them.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type DriftlessConfig, parseConfig } from '../../lambda/config.ts';
import { signBody } from '../../lambda/webhook/signature.ts';
import { createWebhookHandler } from '../../lambda/webhook.ts';

const AGENT_SECRET_ID = 'driftless/webhook';
const ARN_A = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:driftless/hook-a-AbCdEf';
const ARN_B = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:driftless/hook-b-GhIjKl';
const SECRET_AGENT = 'agent-wide-secret-55d0';
const SECRET_A = 'app-a-own-secret-81fe';
const SECRET_B = 'app-b-own-secret-2c9a';
const REPO = 'https://github.com/acme/mono';
const cluster = { name: 'prod', region: 'eu-west-1' };

/** Three apps of one repository: A and B with their own secrets, C on the agent-wide one. */
const perAppConfig = parseConfig({
  webhook: true,
  apps: [
    { name: 'app-a', repo: REPO, cluster, webhook: { secretArn: ARN_A } },
    { name: 'app-b', repo: REPO, cluster, webhook: { secretArn: ARN_B } },
    { name: 'app-c', repo: REPO, cluster },
  ],
});

const secrets = mockClient(SecretsManagerClient);
const lambda = mockClient(LambdaClient);
afterAll(() => {
  secrets.restore();
  lambda.restore();
});

beforeEach(() => {
  secrets.reset();
  lambda.reset();
  secrets.on(GetSecretValueCommand, { SecretId: AGENT_SECRET_ID }).resolves({ SecretString: SECRET_AGENT });
  secrets.on(GetSecretValueCommand, { SecretId: ARN_A }).resolves({ SecretString: `${SECRET_A}\n` });
  secrets.on(GetSecretValueCommand, { SecretId: ARN_B }).resolves({ SecretString: SECRET_B });
  lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
  vi.stubEnv('DRIFTLESS_WEBHOOK_SECRET', AGENT_SECRET_ID);
  vi.stubEnv('DRIFTLESS_FUNCTION', 'driftless-agent');
  vi.stubEnv('AWS_REGION', 'eu-west-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local');
  return () => vi.unstubAllEnvs();
});

interface Line {
  level: string;
  message: string;
  attributes?: Record<string, unknown>;
}

function receiver(config: DriftlessConfig) {
  const lines: Line[] = [];
  const keep = (level: string) => (message: string, attributes?: Record<string, unknown>) =>
    lines.push({ level, message, attributes });
  const logger = { info: keep('info'), warn: keep('warn'), error: keep('error') } as never;
  return { handle: createWebhookHandler({ loadConfig: async () => config, logger }), lines };
}

function push(
  secret: string,
  body = JSON.stringify({ repository: REPO, ref: 'main' }),
): LambdaFunctionURLEvent {
  return {
    body,
    isBase64Encoded: false,
    headers: { 'content-type': 'application/json', 'x-driftless-signature-256': signBody(body, secret) },
    requestContext: { http: { method: 'POST', sourceIp: '192.0.2.1' } },
  } as unknown as LambdaFunctionURLEvent;
}

function invokedApps(): string[] {
  return lambda
    .commandCalls(InvokeCommand)
    .map((call) => JSON.parse(Buffer.from(call.args[0].input.Payload as Uint8Array).toString('utf8')).app);
}

describe('an empty or whitespace-only webhook secret', () => {
  const config = parseConfig({ webhook: true, apps: [{ name: 'web', repo: REPO, cluster }] });

  for (const [name, value] of [
    ['whitespace', ' \n\t '],
    ['empty', ''],
  ] as const) {
    it(`refuses every push, even one signed with the empty key, and says so once (${name})`, async () => {
      secrets.on(GetSecretValueCommand, { SecretId: AGENT_SECRET_ID }).resolves({ SecretString: value });
      const { handle, lines } = receiver(config);
      for (const secret of ['', ' \n\t ', 'anything']) {
        expect(await handle(push(secret))).toMatchObject({ statusCode: 401 });
      }
      expect(invokedApps()).toEqual([]);
      const refused = lines.filter((line) => line.message.startsWith('webhook secret refused'));
      expect(refused).toHaveLength(1);
      expect(refused[0]).toMatchObject({
        level: 'error',
        attributes: { setting: expect.stringContaining('DRIFTLESS_WEBHOOK_SECRET') },
      });
    });
  }

  it('refuses a secret that holds no string at all (a binary secret) the same way', async () => {
    secrets
      .on(GetSecretValueCommand, { SecretId: AGENT_SECRET_ID })
      .resolves({ SecretBinary: new Uint8Array() });
    const { handle } = receiver(config);
    expect((await handle(push(''))).statusCode).toBe(401);
    expect(invokedApps()).toEqual([]);
  });

  it("refuses an app's own empty secret by its setting and keeps the other apps working", async () => {
    secrets.on(GetSecretValueCommand, { SecretId: ARN_B }).resolves({ SecretString: '   ' });
    const { handle, lines } = receiver(perAppConfig);
    expect((await handle(push(''))).statusCode).toBe(401);
    expect((await handle(push(SECRET_A))).statusCode).toBe(202);
    expect(invokedApps()).toEqual(['app-a']);
    expect(lines.filter((line) => line.message.startsWith('webhook secret refused'))).toEqual([
      expect.objectContaining({ attributes: { setting: 'apps[1].webhook.secretArn', secretArn: ARN_B } }),
    ]);
  });
});

describe('per-app webhook secrets', () => {
  it("starts only app A for a push signed with A's secret, though B and C follow the same repository", async () => {
    const { handle, lines } = receiver(perAppConfig);
    expect((await handle(push(SECRET_A))).statusCode).toBe(202);
    expect(invokedApps()).toEqual(['app-a']);
    expect(lines.find((line) => line.message === 'webhook push')?.attributes).toMatchObject({
      signedWith: ['apps[0].webhook.secretArn'],
      apps: ['app-a'],
    });
  });

  it("starts only B for B's secret (GitLab token too), and only the apps without their own for the agent-wide one", async () => {
    const { handle } = receiver(perAppConfig);
    await handle(push(SECRET_B));
    expect(invokedApps()).toEqual(['app-b']);
    lambda.resetHistory();
    const body = JSON.stringify({
      ref: 'refs/heads/main',
      project: { git_http_url: `${REPO}.git`, default_branch: 'main' },
    });
    const gitlab = {
      ...push(SECRET_B, body),
      headers: { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': SECRET_B },
    } as LambdaFunctionURLEvent;
    expect((await handle(gitlab)).statusCode).toBe(202);
    expect(invokedApps()).toEqual(['app-b']);
    lambda.resetHistory();
    await handle(push(SECRET_AGENT));
    expect(invokedApps()).toEqual(['app-c']);
  });

  it('starts nothing and answers 401 for a secret no app holds', async () => {
    const { handle } = receiver(perAppConfig);
    expect(await handle(push('a-leaked-guess'))).toMatchObject({ statusCode: 401 });
    expect(invokedApps()).toEqual([]);
  });

  it('reads each secret once by its ARN, and the agent-wide one by the environment', async () => {
    const { handle } = receiver(perAppConfig);
    await handle(push(SECRET_A));
    await handle(push(SECRET_B));
    const read = secrets.commandCalls(GetSecretValueCommand).map((call) => call.args[0].input.SecretId);
    expect(read.sort()).toEqual([AGENT_SECRET_ID, ARN_A, ARN_B].sort());
  });
});

describe('the per-app webhook setting', () => {
  it('names the app when the receiver is off or the ARN is not a secret ARN', () => {
    expect(() =>
      parseConfig({ apps: [{ name: 'a', repo: REPO, cluster, webhook: { secretArn: ARN_A } }] }),
    ).toThrow(/apps\[0\]\.webhook: needs the push receiver: set webhook: true/);
    expect(() =>
      parseConfig({
        webhook: true,
        apps: [{ name: 'a', repo: REPO, cluster, webhook: { secretArn: 'hook-a' } }],
      }),
    ).toThrow(/apps\[0\]\.webhook\.secretArn: must be a Secrets Manager secret ARN/);
  });
});
