/**
 * Reads the common kubeconfig shapes (bearer token, token file, client certificate, CA file or
 * data) without loading `@kubernetes/client-node`: importing it costs about 0.35 s and 70 MB,
 * more than a whole no-op sync. Anything else (exec plugins, auth providers, merged KUBECONFIG
 * lists) returns `undefined`, and the caller falls back to client-node, which supports it all.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
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
  const raw = parse(readFileSync(path, 'utf8')) as RawKubeConfig | null;
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
