/**
 * Git credentials: from a Secrets Manager secret or from the URL's user info, turned into an
 * `Authorization` header sent with every request. isomorphic-git only calls `onAuth` after a 401,
 * so the header goes up front; it lives in memory only, never in `.git/config` or a log line.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SourceError } from './errors.ts';

/** Username sent with a bare token: GitHub, GitLab, Azure DevOps and Gitea accept any, this one is GitHub's. */
export const TOKEN_USERNAME = 'x-access-token';

export interface GitCredentials {
  /** Headers for every request (empty without credentials). */
  headers: Record<string, string>;
  /** Secret strings to scrub from any message, however it was produced. */
  secrets: string[];
}

/** Splits `https://user:pass@host/x.git` into the plain URL and the user info (if any). */
export function splitUrlCredentials(url: string): { url: string; username?: string; password?: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not echoed: an unparsable URL cannot have its credentials stripped.
    throw new SourceError('the repo setting is not a valid URL: give https://host/path or a local path');
  }
  if (!parsed.username && !parsed.password) return { url };
  const username = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.toString(), username, password };
}

/**
 * Reads the secret (when named) and builds the Basic auth header. The secret holds a token
 * string, JSON `{ "username", "password" }` or JSON `{ "token" }` (optionally with `username`).
 * Credentials in the URL are used when no secret is named.
 */
export async function resolveCredentials(input: {
  repo: string;
  url: { username?: string; password?: string };
  secretId?: string;
  secrets?: SecretsManagerClient;
}): Promise<GitCredentials> {
  let pair: { username: string; password: string } | undefined;
  if (input.secretId) {
    pair = parseSecret(await readSecret(input.secretId, input.repo, input.secrets), input.secretId);
  } else if (input.url.username || input.url.password) {
    pair = { username: input.url.username ?? '', password: input.url.password ?? '' };
  }
  if (!pair) return { headers: {}, secrets: [] };
  const basic = Buffer.from(`${pair.username}:${pair.password}`).toString('base64');
  return {
    headers: { Authorization: `Basic ${basic}` },
    secrets: [pair.password, basic, encodeURIComponent(pair.password)].filter((s) => s.length >= 4),
  };
}

async function readSecret(secretId: string, repo: string, client?: SecretsManagerClient): Promise<string> {
  if (!client) {
    throw new SourceError(
      `credentials secret ${secretId} for ${repo} is set, but no Secrets Manager client is available`,
    );
  }
  try {
    // Loaded on demand: most CLI runs read public or local repos and never need it.
    const { GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
    const output = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    if (output.SecretString !== undefined) return output.SecretString;
    if (output.SecretBinary !== undefined) return Buffer.from(output.SecretBinary).toString('utf8');
  } catch (error) {
    // AWS error messages name the secret and the reason, never the value.
    const name = (error as Error).name;
    throw new SourceError(
      `cannot read credentials secret ${secretId} for ${repo}: ${name}: ${(error as Error).message}`,
    );
  }
  throw new SourceError(`credentials secret ${secretId} for ${repo} has no value`);
}

function parseSecret(raw: string, secretId: string): { username: string; password: string } {
  const text = raw.trim();
  if (text === '') throw new SourceError(`credentials secret ${secretId} is empty`);
  if (!text.startsWith('{')) return { username: TOKEN_USERNAME, password: text };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SourceError(`credentials secret ${secretId} starts with "{" but is not valid JSON`);
  }
  const fields = value as Record<string, unknown>;
  const str = (key: string) =>
    typeof fields[key] === 'string' && fields[key] !== '' ? (fields[key] as string) : undefined;
  const username = str('username');
  const password = str('password') ?? str('token');
  if (password) return { username: username ?? TOKEN_USERNAME, password };
  // Key names only: the values are secret.
  const keys = Object.keys(fields).join(', ') || 'none';
  throw new SourceError(
    `credentials secret ${secretId} must hold a token string, {"username","password"} or {"token"} (found keys: ${keys})`,
  );
}

/** Replaces every secret string in `message`, so no error path can leak one. */
export function scrubSecrets(message: string, secrets: string[]): string {
  let result = message;
  for (const secret of secrets) result = result.split(secret).join('***');
  return result;
}
