/**
 * The one error type of the source stage. Every message is written for the user who owns the
 * repository: it names the repo (credentials stripped), and the file and document where relevant.
 */
export class SourceError extends Error {
  override name = 'SourceError';
}

/**
 * Returns `url` without user info (`https://user:token@host/x` -> `https://host/x`), for every
 * message and log line. Anything that does not parse as a URL (a local path) is returned as is.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.username && !parsed.password) return url;
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url;
  }
}
