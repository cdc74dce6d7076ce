/**
 * Which repository URLs driftless talks to. Git credentials go out as a Basic `Authorization`
 * header, readable by anyone on the path of a plain `http://` request (or by any local process that
 * can sniff loopback), so credentials go over `https://` only, to every host. Plain HTTP without
 * credentials is for a server on this machine only (a test server, a port-forward).
 * Nothing is ever derived from a URL's user info besides the credentials themselves.
 */

/** Whether `hostname` (as `URL.hostname` gives it) is this machine: `localhost`, 127.0.0.0/8 or `[::1]`. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    /^127(\.\d{1,3}){3}$/.test(host) ||
    host === '[::1]'
  );
}

/** Why driftless refuses to fetch `url` (credentials already stripped), or `undefined` when it may. */
export function insecureRepoReason(url: URL): string | undefined {
  if (url.protocol !== 'http:' || isLoopbackHost(url.hostname)) return undefined;
  return `plain http:// sends credentials and manifests in clear text and is allowed only for a server on this machine (localhost, 127.0.0.1, [::1]); use https://${url.host}${url.pathname}`;
}

/**
 * Why driftless refuses to send the credentials that `setting` names to `url` (credentials already
 * stripped), or `undefined` when it may: never over plain `http://`, not even to this machine.
 */
export function plainHttpCredentialsReason(url: URL, setting: string): string | undefined {
  if (url.protocol !== 'http:') return undefined;
  return `refusing to send ${setting} over plain http://, where they travel in clear text; serve the repository over https://${url.host}${url.pathname} (a private CA is trusted through NODE_EXTRA_CA_CERTS)`;
}

/** Whether `repo` is a URL that carries `user:password@` (a local path never does). */
export function hasUserInfo(repo: string): boolean {
  try {
    const url = new URL(repo);
    return url.username !== '' || url.password !== '';
  } catch {
    return false;
  }
}

/** `repo` as a URL when it is one (`http:`/`https:`), else `undefined` (a local path). */
export function parseRepoUrl(repo: string): URL | undefined {
  if (!/^https?:\/\//i.test(repo)) return undefined;
  try {
    return new URL(repo);
  } catch {
    return undefined;
  }
}
