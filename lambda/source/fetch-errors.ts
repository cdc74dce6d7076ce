/**
 * What a failed fetch tells the user: which credentials were sent (never their value) and what to
 * check for the server's answer. Every message is scrubbed of the credentials' values.
 */
import { scrubSecrets } from './credentials.ts';
import { SourceError } from './errors.ts';

/** Names where the credentials of a load come from (never their value), or `undefined` without any. */
export function credentialsSetting(
  secretId: string | undefined,
  username?: string,
  password?: string,
): string | undefined {
  if (secretId) return `the credentials of credentialsSecret ${secretId}`;
  if (username || password) return 'the credentials in the repository URL (user:password@)';
  return undefined;
}

export function isHttpError(
  error: unknown,
): error is { data: { statusCode: number; statusMessage: string } } {
  return (error as { code?: string })?.code === 'HttpError';
}

/** Says what the user should check: the credentials for 401/403/404, the server for the rest. */
export function toSourceError(
  error: unknown,
  url: string,
  secretId: string | undefined,
  credentials: { headers: Record<string, string>; secrets: string[] },
  fromUrl: boolean,
): SourceError {
  const scrub = (message: string) => scrubSecrets(message, credentials.secrets);
  if (error instanceof SourceError) {
    const scrubbed = new SourceError(scrub(error.message), { cause: error });
    scrubbed.revision = error.revision;
    return scrubbed;
  }
  if (isHttpError(error)) {
    const { statusCode, statusMessage } = error.data;
    const status = `HTTP ${statusCode}${statusMessage ? ` ${statusMessage}` : ''}`;
    const sent = credentials.headers.Authorization !== undefined;
    const which = secretId ? `from secret ${secretId}` : fromUrl ? 'from the URL' : '';
    if (statusCode === 401 || statusCode === 403) {
      return new SourceError(
        sent
          ? `${url}: credentials ${which} were rejected (${status})`
          : `${url}: credentials are missing: the server requires them (${status}); set credentialsSecret`,
      );
    }
    if (statusCode === 404) {
      return new SourceError(
        `${url}: repository not found (${status}); check the URL, and the credentials${sent ? ` ${which}` : ' (none are set)'}: private repositories answer 404 to missing or rejected credentials`,
      );
    }
    return new SourceError(`cannot fetch ${url}: the server answered ${status}`);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new SourceError(scrub(`cannot fetch ${url}: ${message}`), { cause: error });
}
