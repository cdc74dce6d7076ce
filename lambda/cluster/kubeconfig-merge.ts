/**
 * `KUBECONFIG=a:b` read the way kubectl reads it: files in order, a missing file skipped, the
 * first file that sets `current-context` wins, and the first definition of a cluster, user or
 * context name wins (later ones are ignored, not merged field by field). Relative file paths
 * (certificates, token files) stay relative to the file that names them.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { parseKubeConfig, readKubeConfigText } from './kubeconfig.ts';

type Named = { name?: string; [key: string]: unknown };

export interface MergedKubeConfig {
  'current-context'?: string;
  clusters: Named[];
  users: Named[];
  contexts: Named[];
  /** The files that existed and were read, in order. */
  files: string[];
}

/** Keys holding file paths, per section, that kubectl resolves against the defining file's folder. */
const PATH_KEYS: Record<'clusters' | 'users', { entry: string; keys: string[] }> = {
  clusters: { entry: 'cluster', keys: ['certificate-authority'] },
  users: { entry: 'user', keys: ['client-certificate', 'client-key', 'tokenFile'] },
};

/** The KUBECONFIG list when it names more than one file, else `undefined`. */
export function kubeconfigList(env = process.env.KUBECONFIG): string[] | undefined {
  if (!env?.includes(delimiter)) return undefined;
  return env.split(delimiter).filter(Boolean);
}

/** Merges `paths` like kubectl. Throws when none of them exists. */
export function mergeKubeConfigs(paths: string[]): MergedKubeConfig {
  const merged: MergedKubeConfig = { clusters: [], users: [], contexts: [], files: [] };
  for (const path of paths) {
    if (!existsSync(path)) continue;
    // Bounded, and a syntax error names line and column only (never the line: it may hold a token).
    const raw = (parseKubeConfig(readKubeConfigText(path), path) ?? {}) as Record<string, unknown>;
    if (typeof raw !== 'object') continue;
    merged.files.push(path);
    if (!merged['current-context'] && typeof raw['current-context'] === 'string' && raw['current-context']) {
      merged['current-context'] = raw['current-context'];
    }
    for (const section of ['clusters', 'users', 'contexts'] as const) {
      const entries = Array.isArray(raw[section]) ? (raw[section] as Named[]) : [];
      for (const entry of entries) {
        if (merged[section].some((known) => known.name === entry.name)) continue;
        merged[section].push(
          section === 'contexts' ? entry : withAbsolutePaths(section, entry, dirname(path)),
        );
      }
    }
  }
  if (merged.files.length === 0) {
    throw new Error(`none of the KUBECONFIG files exists: ${paths.join(delimiter)}`);
  }
  return merged;
}

function withAbsolutePaths(section: 'clusters' | 'users', entry: Named, base: string): Named {
  const { entry: key, keys } = PATH_KEYS[section];
  const inner = entry[key];
  if (!inner || typeof inner !== 'object') return entry;
  const resolved: Record<string, unknown> = { ...(inner as Record<string, unknown>) };
  for (const pathKey of keys) {
    const value = resolved[pathKey];
    if (typeof value === 'string' && value && !isAbsolute(value)) resolved[pathKey] = resolve(base, value);
  }
  return { ...entry, [key]: resolved };
}

/** The merged config as one kubeconfig document (for client-node's `loadFromString`). */
export function kubeconfigText(merged: MergedKubeConfig): string {
  const { files: _files, ...config } = merged;
  return stringify({ apiVersion: 'v1', kind: 'Config', ...config });
}

/**
 * The context a connection uses, for the history's cluster column: `context` when given, else the
 * current-context of `kubeconfig`, of the KUBECONFIG list, or of `~/.kube/config`. `undefined`
 * when it cannot be read (the connection reports why).
 */
export function contextName(kubeconfig?: string, context?: string): string | undefined {
  if (context) return context;
  try {
    const list = kubeconfig ? undefined : kubeconfigList();
    if (list) return mergeKubeConfigs(list)['current-context'];
    const path = kubeconfig ?? process.env.KUBECONFIG ?? join(homedir(), '.kube', 'config');
    const raw = parseKubeConfig(readKubeConfigText(path), path) as Record<string, unknown> | null;
    const name = raw?.['current-context'];
    return typeof name === 'string' && name ? name : undefined;
  } catch {
    return undefined;
  }
}

/** The kubeconfig user name a context authenticates as, for messages about rejected credentials. */
export function contextUser(merged: Pick<MergedKubeConfig, 'contexts'>, context: string): string | undefined {
  const entry = merged.contexts.find((candidate) => candidate.name === context)?.context as
    | { user?: string }
    | undefined;
  return entry?.user;
}

/**
 * Who a kubeconfig connection authenticates as, for messages about rejected credentials:
 * `kubeconfig user "dev" (context "kind-dev")`.
 */
export function kubeconfigIdentity(kubeconfig?: string, context?: string): string {
  const name = contextName(kubeconfig, context);
  let user: string | undefined;
  try {
    const files = kubeconfig
      ? [kubeconfig]
      : (kubeconfigList() ?? [process.env.KUBECONFIG || join(homedir(), '.kube', 'config')]);
    user = name ? contextUser(mergeKubeConfigs(files), name) : undefined;
  } catch {
    user = undefined;
  }
  return user
    ? `kubeconfig user "${user}" (context "${name}")`
    : `the user of kubeconfig context "${name ?? '(current)'}"`;
}
