/**
 * Which kustomization entries Kustomize fetches instead of reading from the checkout, decided by
 * Kustomize's own syntax and never by what the repository holds: a committed folder named
 * `http:` does not make `http://host/x.yaml` local, Kustomize fetches it all the same.
 *
 * Kustomize v5 (kubectl 1.33) fetches an entry when
 * - its loader's `Load` sees an `http`/`https` URL (`api/loader/fileloader.go`): every field that
 *   reads a file (resources, patches, generator files, crds, openapi, ...);
 * - `git.NewRepoSpecFromURL` parses it (`api/internal/git/repospec.go`): resources, bases,
 *   components and plugin folders are then cloned with `git` (ssh, https, file).
 * The older forms (go-getter's `git::`, `gh:`, `gitlab.com/`, any `scheme://`) are refused too:
 * a kubectl from PATH may carry an older Kustomize.
 */
import { isIP } from 'node:net';

/** What an entry points at, when Kustomize would not read it from the checkout. */
export type RemoteReference =
  /** Fetched over the network: allowed only with `kustomize.allowRemoteBases`. */
  | { kind: 'network' }
  /** A `file://` repository: the render would read the machine's own files. Always refused. */
  | { kind: 'host-files' }
  /** Loopback, link-local or unspecified address: the Lambda Runtime API, metadata. Always refused. */
  | { kind: 'this-machine'; host: string };

/** The reference `entry` makes outside the checkout, or `undefined` for a local path. */
export function remoteReference(entry: string): RemoteReference | undefined {
  const spec = kustomizeRepoSpec(entry);
  const remote = spec !== undefined || isHttpUrl(entry) || looksRemote(entry);
  if (!remote) return undefined;
  if (spec?.scheme === 'file://' || /^(git::)?file:/i.test(entry)) return { kind: 'host-files' };
  const host = hostOf(entry);
  if (host && isThisMachine(host)) return { kind: 'this-machine', host };
  return { kind: 'network' };
}

/** `fileLoader.Load`: `url.Parse` finds an http(s) scheme (Go lowercases it). */
function isHttpUrl(entry: string): boolean {
  return /^https?:/i.test(entry);
}

/** Forms other Kustomize versions (go-getter) fetched, and any URL scheme. */
function looksRemote(entry: string): boolean {
  return (
    /^[a-z][a-z0-9+.-]*:\/\//i.test(entry) ||
    /^[a-z0-9]+::/i.test(entry) ||
    /^(gh:|github\.com[:/]|gitlab\.com\/|bitbucket\.org\/)/i.test(entry)
  );
}

const SCHEMES = ['ssh://', 'https://', 'http://', 'file://'] as const;

/**
 * A port of Kustomize v5's `NewRepoSpecFromURL`: returns the scheme and repository when it
 * accepts `entry` as a git URL (it then clones it, whatever exists on disk), else `undefined`.
 */
export function kustomizeRepoSpec(entry: string): { scheme: string; repo: string } | undefined {
  if (entry.startsWith('/')) return undefined;
  let n = entry.split('?')[0] ?? '';
  if (n.toLowerCase().startsWith('git::')) n = n.slice('git::'.length);
  const scheme = SCHEMES.find((prefix) => n.toLowerCase().startsWith(prefix)) ?? '';
  n = n.slice(scheme.length);
  const username = /^[a-zA-Z][a-zA-Z0-9-]*@/.exec(n)?.[0] ?? '';
  n = n.slice(username.length);
  const github = /^github\.com[/:]/i.test(n);
  const scp = scheme === '' && (username !== '' || github);
  if (scheme === '' && !scp) return undefined;
  let rest: string;
  if (scheme === 'file://') rest = username + n;
  else {
    let separator = n.indexOf('/');
    const colon = n.indexOf(':');
    if (scp && (separator === -1 || (colon > 0 && colon < separator))) separator = colon;
    const host = separator >= 0 ? n.slice(0, separator + 1) : n;
    rest = separator >= 0 ? n.slice(separator + 1) : '';
    if (host === '' && !github) return undefined;
  }
  const repo = repoPath(rest, scheme === 'file://');
  return repo ? { scheme, repo } : undefined;
}

/** `parsePathParts`: the repository part of the path, by `_git/`, `//`, `.git` or two segments. */
function repoPath(n: string, allSegments: boolean): string | undefined {
  let repo: string;
  let root: string;
  const azure = n.indexOf('_git/');
  const double = n.indexOf('//');
  const suffix = n.indexOf('.git');
  if (azure >= 0) {
    const [first = '', ...others] = n.slice(azure + '_git/'.length).split('/');
    repo = n.slice(0, azure + '_git/'.length) + first;
    root = others.join('/');
  } else if (double >= 0) {
    repo = n.slice(0, double);
    root = n.slice(double + 2);
  } else if (suffix >= 0) {
    repo = n.slice(0, suffix + '.git'.length);
    root = n.slice(suffix + '.git'.length);
  } else if (allSegments) {
    repo = n;
    root = '';
  } else {
    const segments = n.split('/');
    if (segments.length < 2) return undefined;
    repo = segments.slice(0, 2).join('/');
    root = segments.slice(2).join('/');
  }
  const first = root
    .replace(/^\/+/, '')
    .split('/')
    .filter((part) => part !== '' && part !== '.')[0];
  if (repo === '' || first === '..') return undefined;
  return repo;
}

/** The host an entry names, normalised the way a URL parser reads it (`127.1` is `127.0.0.1`). */
function hostOf(entry: string): string | undefined {
  const rest = entry
    .replace(/^[a-z0-9]+::/i, '')
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .replace(/^[^@/]*@/, '');
  const raw = rest.startsWith('[') ? rest.slice(0, rest.indexOf(']') + 1) : rest.split(/[/:?#\\]/)[0];
  if (!raw) return undefined;
  try {
    return new URL(`http://${raw}/`).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return raw.toLowerCase();
  }
}

/** Loopback, link-local, unspecified, or a `localhost` name. */
function isThisMachine(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) {
    const [a = 0, b = 0] = host.split('.').map(Number);
    return a === 127 || a === 0 || (a === 169 && b === 254);
  }
  if (isIP(host) === 6) {
    // An IPv4-mapped address, as the URL parser writes it (`::ffff:7f00:1` is 127.0.0.1).
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(host);
    if (mapped) {
      const high = Number.parseInt(mapped[1] ?? '0', 16);
      return isThisMachine(`${high >> 8}.${high & 255}.0.0`);
    }
    return host === '::1' || host === '::' || /^fe[89ab]/i.test(host);
  }
  return false;
}
