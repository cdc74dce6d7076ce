/**
 * The one error type of the source stage. Every message is written for the user who owns the
 * repository: it names the repo (credentials stripped), and the file and document where relevant.
 */
export class SourceError extends Error {
  override name = 'SourceError';
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
