/**
 * Reads the common kubeconfig shapes (bearer token, token file, client certificate, CA file or
 * data) without loading `@kubernetes/client-node`: importing it costs about 0.35 s and 70 MB,
 * more than a whole no-op sync. Anything else (exec plugins, auth providers, merged KUBECONFIG
 * lists) returns `undefined`, and the caller falls back to client-node, which supports it all.
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { parse, YAMLError } from 'yaml';
import type { KubeConnection } from './kube-client.ts';

type Named<K extends string, T> = { name: string } & { [P in K]?: T };

interface RawKubeConfig {
  'current-context'?: string;
  contexts?: Named<'context', { cluster?: string; user?: string }>[];
  clusters?: Named<
    'cluster',
    {
      server?: string;
      'certificate-authority'?: string;
      'certificate-authority-data'?: string;
      'insecure-skip-tls-verify'?: boolean;
      'proxy-url'?: string;
      'tls-server-name'?: string;
    }
  >[];
  users?: Named<'user', Record<string, unknown>>[];
}

/** A kubeconfig larger than this is refused before it is read (real ones are a few KiB per cluster). */
export const MAX_KUBECONFIG_BYTES = 4 * 1024 * 1024;

const SIMPLE_USER_KEYS = new Set([
  'token',
  'tokenFile',
  'client-certificate',
  'client-certificate-data',
  'client-key',
  'client-key-data',
]);

/** The path client-node would read: a single `KUBECONFIG` entry, or `~/.kube/config`. `undefined` for a list. */
export function defaultKubeConfigPath(): string | undefined {
  const env = process.env.KUBECONFIG;
  if (env) return env.includes(delimiter) ? undefined : env;
  return join(homedir(), '.kube', 'config');
}

/**
 * A connection for `context` (default: current-context) of the kubeconfig at `path`, or
 * `undefined` when the file needs client-node (exec, auth-provider, proxy, unreadable shapes).
 * Errors that client-node would also raise (missing file, unknown context) are thrown here.
 */
export function readSimpleKubeConfig(path: string, context?: string): KubeConnection | undefined {
  const raw = parseKubeConfig(readKubeConfigText(path), path) as RawKubeConfig | null;
  if (!raw || typeof raw !== 'object') return undefined;
  const contextName = context ?? raw['current-context'];
  const ctx = raw.contexts?.find((c) => c.name === contextName)?.context;
  if (!ctx) {
    if (!context) return undefined;
    const known = (raw.contexts ?? []).map((c) => c.name);
    throw new Error(`kubeconfig ${path} has no context "${context}"; it has: ${known.join(', ') || 'none'}`);
  }
  const cluster = raw.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  const user = raw.users?.find((u) => u.name === ctx.user)?.user ?? {};
  if (!cluster?.server || cluster['proxy-url'] || cluster['tls-server-name']) return undefined;
  if (Object.keys(user).some((key) => !SIMPLE_USER_KEYS.has(key))) return undefined;

  const base = dirname(path);
  const file = (name: unknown) =>
    readFileSync(isAbsolute(String(name)) ? String(name) : join(base, String(name)), 'utf8');
  const data = (value: unknown) => Buffer.from(String(value), 'base64').toString('utf8');
  const pem = (inline: unknown, fromFile: unknown) =>
    inline ? data(inline) : fromFile ? file(fromFile) : undefined;

  const token = user.token;
  const tokenFile = user.tokenFile;
  return {
    server: cluster.server,
    caPem: pem(cluster['certificate-authority-data'], cluster['certificate-authority']),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    clientCertPem: pem(user['client-certificate-data'], user['client-certificate']),
    clientKeyPem: pem(user['client-key-data'], user['client-key']),
    // A token file is re-read per request, as client-go does for projected tokens that rotate.
    authorization: token
      ? async () => `Bearer ${token}`
      : tokenFile
        ? async () => `Bearer ${file(tokenFile).trim()}`
        : undefined,
  };
}

/** The file's text, refused unread when it is over {@link MAX_KUBECONFIG_BYTES}. */
export function readKubeConfigText(path: string): string {
  checkKubeConfigSize(path);
  return readFileSync(path, 'utf8');
}

/** Throws when the file at `path` is over {@link MAX_KUBECONFIG_BYTES}; a missing file passes. */
export function checkKubeConfigSize(path: string): void {
  const size = statSync(path, { throwIfNoEntry: false })?.size ?? 0;
  if (size > MAX_KUBECONFIG_BYTES) {
    throw new Error(
      `kubeconfig ${path} is ${size} bytes, over the ${MAX_KUBECONFIG_BYTES}-byte limit for a kubeconfig`,
    );
  }
}

/**
 * Parses kubeconfig text. A syntax error names the file, line and column only: the parser's own
 * message quotes the offending line, which in a kubeconfig is often a token or a key.
 */
export function parseKubeConfig(text: string, path: string): unknown {
  try {
    return parse(text);
  } catch (error) {
    throw kubeConfigSyntaxError(error, path);
  }
}

/** A parse error (yaml's or client-node's js-yaml) as `kubeconfig PATH is not valid YAML (line L, column C)`. */
export function kubeConfigSyntaxError(error: unknown, path: string): Error {
  let where = '';
  if (error instanceof YAMLError && error.linePos) {
    where = ` (line ${error.linePos[0].line}, column ${error.linePos[0].col})`;
  } else {
    // js-yaml's YAMLException carries a 0-based `mark`.
    const mark = (error as { mark?: { line?: unknown; column?: unknown } } | null)?.mark;
    if (typeof mark?.line === 'number' && typeof mark.column === 'number') {
      where = ` (line ${mark.line + 1}, column ${mark.column + 1})`;
    }
  }
  return new Error(`kubeconfig ${path} is not valid YAML${where}`);
}
