import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type LoadSourceOptions, loadSource, SourceError } from '../../lambda/source/source.ts';
import { type GitRepo, type GitServer, startGitServer } from '../support/git-server.ts';

const PASSWORD = 'pa55-word-for-tests';
const configMap = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: private\n';

const secretsMock = mockClient(SecretsManagerClient);
const secrets = new SecretsManagerClient({ region: 'eu-west-1' });

let server: GitServer;
let tokenServer: GitServer;
let repo: GitRepo;
let tokenRepo: GitRepo;
let sha: string;
let cacheDir: string;
let options: LoadSourceOptions;
let logged: string[];

function secret(id: string, value: string): void {
  secretsMock.on(GetSecretValueCommand, { SecretId: id }).resolves({ SecretString: value });
}

async function failure(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SourceError);
  return (error as Error).message;
}

beforeAll(async () => {
  server = await startGitServer({ auth: { username: 'alice', password: PASSWORD }, tls: true });
  tokenServer = await startGitServer({
    auth: { username: 'x-access-token', password: 'ghp_token_for_tests' },
    tls: true,
  });
  repo = await server.createRepo('private');
  sha = await repo.commit({ 'cm.yaml': configMap });
  tokenRepo = await tokenServer.createRepo('private');
  await tokenRepo.commit({ 'cm.yaml': configMap });
});
afterAll(async () => {
  await server.stop();
  await tokenServer.stop();
});
beforeEach(async () => {
  secretsMock.reset();
  server.resetLog();
  cacheDir = await mkdtemp(join(tmpdir(), 'driftless-creds-'));
  logged = [];
  const log = (message: string, ...fields: Record<string, unknown>[]) => {
    logged.push(`${message} ${JSON.stringify(fields)}`);
  };
  const ca = [server.ca, tokenServer.ca].filter((pem) => pem !== undefined);
  options = { cacheDir, secrets, logger: { info: log, warn: log }, ca };
  return () => rm(cacheDir, { recursive: true, force: true });
});

describe('loadSource with credentials', () => {
  it('fetches with {username,password} from Secrets Manager, sent up front without a 401 round trip', async () => {
    secret('git/alice', JSON.stringify({ username: 'alice', password: PASSWORD }));
    const loaded = await loadSource({ repo: repo.url, credentialsSecret: 'git/alice' }, options);
    expect(loaded.revision).toBe(sha);
    expect(server.requests.every((r) => r.status === 200)).toBe(true);
    expect(secretsMock.commandCalls(GetSecretValueCommand)[0]?.args[0].input).toEqual({
      SecretId: 'git/alice',
    });
  });

  it('sends a bare token string or {token} as Basic auth with the x-access-token username', async () => {
    secret('git/token-string', 'ghp_token_for_tests\n');
    secret('git/token-json', JSON.stringify({ token: 'ghp_token_for_tests' }));
    for (const id of ['git/token-string', 'git/token-json']) {
      const loaded = await loadSource({ repo: tokenRepo.url, credentialsSecret: id }, options);
      expect(loaded.objects).toHaveLength(1);
    }
  });

  it('says the credentials were rejected, naming the repo and the secret, when the password is wrong', async () => {
    secret('git/wrong', JSON.stringify({ username: 'alice', password: 'wrong-password' }));
    const message = await failure(loadSource({ repo: repo.url, credentialsSecret: 'git/wrong' }, options));
    expect(message).toBe(
      `${repo.url}: credentials from secret git/wrong were rejected (HTTP 401 Unauthorized)`,
    );
  });

  it('says credentials are missing when none are configured', async () => {
    const message = await failure(loadSource({ repo: repo.url }, options));
    expect(message).toBe(
      `${repo.url}: credentials are missing: the server requires them (HTTP 401 Unauthorized); set credentialsSecret`,
    );
  });

  it('does not serve a commit cached with good credentials to a load with bad ones', async () => {
    secret('git/alice', JSON.stringify({ username: 'alice', password: PASSWORD }));
    secret('git/wrong', JSON.stringify({ username: 'alice', password: 'wrong-password' }));
    await loadSource({ repo: repo.url, ref: sha, credentialsSecret: 'git/alice' }, options);
    await expect(
      loadSource({ repo: repo.url, ref: sha, credentialsSecret: 'git/wrong' }, options),
    ).rejects.toThrow(/were rejected/);
    await expect(loadSource({ repo: repo.url, ref: sha }, options)).rejects.toThrow(
      /credentials are missing/,
    );
  });

  it('uses credentials embedded in the URL and strips them from messages, logs and the cache', async () => {
    const good = repo.url.replace('https://', `https://alice:${PASSWORD}@`);
    const loaded = await loadSource({ repo: good, path: 'missing' }, options).catch((e: Error) => e);
    expect(loaded).toBeInstanceOf(SourceError);
    expect((loaded as Error).message).toBe(`path "missing" not found in ${repo.url} at ${sha.slice(0, 12)}`);

    await loadSource({ repo: good }, options);
    const bad = repo.url.replace('https://', 'https://alice:not-the-password@');
    const message = await failure(loadSource({ repo: bad }, options));
    expect(message).toBe(`${repo.url}: credentials from the URL were rejected (HTTP 401 Unauthorized)`);

    expect(logged.join('\n')).toContain(repo.url);
    expect(logged.join('\n')).not.toContain(PASSWORD);
    for (const file of await readdir(cacheDir, { recursive: true, withFileTypes: true })) {
      if (file.isFile())
        expect(await readFile(join(file.parentPath, file.name), 'latin1')).not.toContain(PASSWORD);
    }
  });

  it('never writes the secret into the cache or the log', async () => {
    secret('git/alice', JSON.stringify({ username: 'alice', password: PASSWORD }));
    await loadSource({ repo: repo.url, credentialsSecret: 'git/alice' }, options);
    const basic = Buffer.from(`alice:${PASSWORD}`).toString('base64');
    for (const file of await readdir(cacheDir, { recursive: true, withFileTypes: true })) {
      if (!file.isFile()) continue;
      const content = await readFile(join(file.parentPath, file.name), 'latin1');
      expect(content).not.toContain(PASSWORD);
      expect(content).not.toContain(basic);
    }
    expect(logged.join('\n')).not.toContain(PASSWORD);
  });

  it('names the secret when Secrets Manager cannot read it', async () => {
    secretsMock.on(GetSecretValueCommand).rejects(
      new ResourceNotFoundException({
        message: "Secrets Manager can't find the specified secret.",
        $metadata: {},
      }),
    );
    const message = await failure(loadSource({ repo: repo.url, credentialsSecret: 'git/nope' }, options));
    expect(message).toBe(
      `cannot read credentials secret git/nope for ${repo.url}: ResourceNotFoundException: Secrets Manager can't find the specified secret.`,
    );
  });

  it('rejects a JSON secret of the wrong shape, naming its keys but not its values', async () => {
    secret('git/odd', JSON.stringify({ user: 'alice', pass: PASSWORD }));
    const message = await failure(loadSource({ repo: repo.url, credentialsSecret: 'git/odd' }, options));
    expect(message).toBe(
      'credentials secret git/odd must hold a token string, {"username","password"} or {"token"} (found keys: user, pass)',
    );
    expect(message).not.toContain(PASSWORD);
  });

  it("names the repo and points to NODE_EXTRA_CA_CERTS when the server's certificate is not trusted", async () => {
    secret('git/alice', JSON.stringify({ username: 'alice', password: PASSWORD }));
    const message = await failure(
      loadSource({ repo: repo.url, credentialsSecret: 'git/alice' }, { cacheDir, secrets }),
    );
    expect(message).toMatch(
      new RegExp(
        `^cannot reach ${repo.url}: [A-Z_]+: the server's certificate is not signed by a trusted CA; for a private CA, point NODE_EXTRA_CA_CERTS at its PEM file$`,
      ),
    );
    expect(message).not.toContain(PASSWORD);
  });

  it('says a secret is configured but no Secrets Manager client was given', async () => {
    const message = await failure(
      loadSource({ repo: repo.url, credentialsSecret: 'git/alice' }, { cacheDir, ca: options.ca }),
    );
    expect(message).toMatch(/credentials secret git\/alice .* no Secrets Manager client/);
  });
});
