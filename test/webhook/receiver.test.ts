/**
 * The push receiver as Lambda runs it behind a Function URL: Secrets Manager and Lambda Invoke
 * are AWS's side, so mocked clients stand in for them; everything else is the real code.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../lambda/config.ts';
import { normaliseRepoUrl } from '../../lambda/webhook/push.ts';
import { signBody } from '../../lambda/webhook/signature.ts';
import { createWebhookHandler } from '../../lambda/webhook.ts';

const SECRET = 'webhook-shared-secret-7d1e';
const cluster = { name: 'prod', region: 'eu-west-1' };
const config = parseConfig({
  apps: [
    { name: 'web', repo: 'https://github.com/acme/web.git', cluster },
    { name: 'web-staging', repo: 'https://github.com/acme/web', ref: 'staging', cluster },
    { name: 'web-release', repo: 'https://github.com/acme/web', ref: 'v2', cluster },
    { name: 'web-paused', repo: 'https://github.com/acme/web', suspended: true, cluster },
    { name: 'infra', repo: 'https://GitLab.Example.com/ops/infra.git', ref: 'main', cluster },
    { name: 'other', repo: 'https://github.com/acme/other', cluster },
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
  secrets
    .on(GetSecretValueCommand, { SecretId: 'driftless/webhook' })
    .resolves({ SecretString: `${SECRET}\n` });
  lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
  vi.stubEnv('DRIFTLESS_WEBHOOK_SECRET', 'driftless/webhook');
  vi.stubEnv('DRIFTLESS_FUNCTION', 'driftless-agent');
  vi.stubEnv('AWS_REGION', 'eu-west-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local');
  return () => vi.unstubAllEnvs();
});

const silent = { info: () => {}, warn: () => {}, error: () => {} } as never;

function receiver(maxBodyBytes?: number) {
  return createWebhookHandler({ loadConfig: async () => config, logger: silent, maxBodyBytes });
}

function request(body: string, headers: Record<string, string>, method = 'POST'): LambdaFunctionURLEvent {
  return {
    body: Buffer.from(body).toString('base64'),
    isBase64Encoded: true,
    headers: { 'content-type': 'application/json', ...headers },
    requestContext: { http: { method, sourceIp: '192.0.2.1' } },
  } as unknown as LambdaFunctionURLEvent;
}

function githubPush(ref: string, repo = 'acme/web', defaultBranch = 'main'): string {
  return JSON.stringify({
    ref,
    repository: {
      clone_url: `https://github.com/${repo}.git`,
      html_url: `https://github.com/${repo}`,
      ssh_url: `git@github.com:${repo}.git`,
      default_branch: defaultBranch,
    },
  });
}

function github(body: string, signature = signBody(body, SECRET), event = 'push') {
  return request(body, {
    'x-github-event': event,
    'x-hub-signature-256': signature,
    'x-github-delivery': 'd-1',
  });
}

/** The apps invoked, with the payload each got. */
function invoked(): { app: string; trigger: string }[] {
  return lambda.commandCalls(InvokeCommand).map((call) => {
    const input = call.args[0].input;
    expect(input).toMatchObject({ FunctionName: 'driftless-agent', InvocationType: 'Event' });
    return JSON.parse(Buffer.from(input.Payload as Uint8Array).toString('utf8'));
  });
}

describe('webhook signatures', () => {
  it('accepts a GitHub push signed with X-Hub-Signature-256 and invokes the app with trigger webhook', async () => {
    const response = await receiver()(github(githubPush('refs/heads/main')));
    expect(response).toMatchObject({ statusCode: 202, body: '{"message":"accepted"}' });
    expect(invoked()).toEqual([{ app: 'web', trigger: 'webhook' }]);
  });

  it('answers 401 to a wrong, malformed or missing signature and invokes nothing', async () => {
    const body = githubPush('refs/heads/main');
    const handle = receiver();
    for (const event of [
      github(body, signBody(body, 'not-the-secret')),
      github(body, 'sha256=zz'),
      github(body, signBody(body, SECRET).replace('sha256=', 'sha1=')),
      request(body, { 'x-github-event': 'push' }),
      request(body, { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': `${SECRET}x` }),
      request(body, { 'x-driftless-signature-256': signBody(`${body} `, SECRET) }),
    ]) {
      expect(await handle(event)).toMatchObject({
        statusCode: 401,
        body: '{"message":"signature missing or invalid"}',
      });
    }
    expect(invoked()).toEqual([]);
  });

  it('refuses a replayed body under the signature of another body', async () => {
    const signedStaging = signBody(githubPush('refs/heads/staging'), SECRET);
    const response = await receiver()(github(githubPush('refs/heads/main'), signedStaging));
    expect(response.statusCode).toBe(401);
    expect(invoked()).toEqual([]);
  });

  it('refuses a body over the size bound before checking anything else', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main', padding: 'x'.repeat(2048) });
    expect((await receiver(1024)(github(body))).statusCode).toBe(413);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(0);
    expect(invoked()).toEqual([]);
  });

  it('answers a signed GitHub ping and ignores other signed events', async () => {
    const ping = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 });
    expect(await receiver()(github(ping, undefined, 'ping'))).toMatchObject({
      statusCode: 200,
      body: '{"message":"pong"}',
    });
    expect((await receiver()(github(ping, undefined, 'issues'))).statusCode).toBe(202);
    expect((await receiver()(github(ping, signBody(ping, 'wrong'), 'ping'))).statusCode).toBe(401);
    expect(invoked()).toEqual([]);
  });

  it('accepts a GitLab push with X-Gitlab-Token and a generic push with X-Driftless-Signature-256', async () => {
    const gitlab = JSON.stringify({
      object_kind: 'push',
      ref: 'refs/heads/main',
      project: {
        git_http_url: 'https://gitlab.example.com/ops/infra.git',
        git_ssh_url: 'git@gitlab.example.com:ops/infra.git',
        default_branch: 'main',
      },
    });
    expect(
      (await receiver()(request(gitlab, { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': SECRET })))
        .statusCode,
    ).toBe(202);
    const generic = JSON.stringify({
      repository: 'https://github.com/acme/web',
      ref: 'staging',
      defaultBranch: 'main',
    });
    expect(
      (await receiver()(request(generic, { 'x-driftless-signature-256': signBody(generic, SECRET) })))
        .statusCode,
    ).toBe(202);
    expect(invoked()).toEqual([
      { app: 'infra', trigger: 'webhook' },
      { app: 'web-staging', trigger: 'webhook' },
    ]);
  });

  it('also starts the ref-less apps when a generic sender does not name the default branch', async () => {
    const generic = JSON.stringify({ repository: 'https://github.com/acme/web', ref: 'staging' });
    await receiver()(request(generic, { 'x-driftless-signature-256': signBody(generic, SECRET) }));
    expect(invoked().map((payload) => payload.app)).toEqual(['web', 'web-staging']);
  });

  it('reads the secret from Secrets Manager once and refuses anything but POST', async () => {
    const handle = receiver();
    await handle(github(githubPush('refs/heads/main')));
    await handle(github(githubPush('refs/heads/main')));
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect((await handle(request('', {}, 'GET'))).statusCode).toBe(405);
  });
});

describe('webhook matching', () => {
  it('matches the repository whatever its scheme, .git suffix or host case', () => {
    const same = [
      'https://github.com/acme/web',
      'https://github.com/acme/web.git',
      'https://GitHub.COM/acme/web/',
      'http://github.com:443/acme/web.git',
      'git@github.com:acme/web.git',
      'ssh://git@github.com/acme/web.git',
      'git://github.com/acme/web',
      'https://token:secret@github.com/acme/web.git',
    ];
    expect(new Set(same.map(normaliseRepoUrl))).toEqual(new Set(['github.com/acme/web']));
    expect(normaliseRepoUrl('https://github.com/acme/web-app')).not.toBe('github.com/acme/web');
  });

  it('invokes the apps that follow the pushed branch or tag, and ref-less apps on the default branch only', async () => {
    const handle = receiver();
    const cases: [string, string[]][] = [
      ['refs/heads/main', ['web']],
      ['refs/heads/staging', ['web-staging']],
      ['refs/tags/v2', ['web-release']],
      ['refs/heads/feature', []],
    ];
    for (const [ref, apps] of cases) {
      lambda.resetHistory();
      expect((await handle(github(githubPush(ref)))).statusCode).toBe(202);
      expect(invoked().map((payload) => payload.app)).toEqual(apps);
    }
  });

  it('answers a push that matches no app exactly as one that does', async () => {
    const matched = await receiver()(github(githubPush('refs/heads/main')));
    lambda.resetHistory();
    const unmatched = await receiver()(github(githubPush('refs/heads/main', 'someone/else')));
    expect(invoked()).toEqual([]);
    expect(unmatched).toEqual(matched);
  });

  it('answers 500 when an invocation fails, so the sender shows a failed delivery', async () => {
    lambda.on(InvokeCommand).rejects(new Error('TooManyRequestsException'));
    expect((await receiver()(github(githubPush('refs/heads/main')))).statusCode).toBe(500);
  });
});
