/**
 * The one error type of the source stage. Every message is written for the user who owns the
 * repository: it names the repo (credentials stripped), and the file and document where relevant.
 */
export class SourceError extends Error {
  override name = 'SourceError';
  /** The commit whose manifests were refused, once it is known, so the history can name it. */
  revision?: string;
}

/** Tags a manifest error with the commit it came from (the run record names the refused revision). */
export function atRevision<T>(revision: string, load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (error instanceof SourceError) error.revision ??= revision;
    throw error;
  }
}

/**
 * Returns `url` without user info (`https://user:token@host/x` -> `https://host/x`), for every
 * message and log line. A local path is returned as is; anything else that does not parse as a
 * URL gets `redactCredentialsIn`.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.username && !parsed.password) return url;
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return redactCredentialsIn(url);
  }
}

/**
 * Masks the `user:password@` part of every URL in free text (log lines, error messages). Greedy
 * up to the last `@` of the token, so a password holding an unencoded `@` or `/` is masked whole.
 */
export function redactCredentialsIn(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)\S*@/gi, '$1***@');
}
