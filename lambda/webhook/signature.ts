/**
 * Who may trigger a sync: a push receiver answers only requests signed with a secret it holds
 * (the agent-wide one, or an app's own).
 * Three forms, chosen by the header present:
 * - GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`
 * - GitLab: `X-Gitlab-Token: <the secret itself>`
 * - any other sender: `X-Driftless-Signature-256: sha256=<hex HMAC-SHA256 of the body>`
 * Every comparison is constant-time over equal-length digests, so timing says nothing about
 * how much of a guess was right.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type WebhookProvider = 'github' | 'gitlab' | 'generic';

export const SIGNATURE_HEADERS: Readonly<Record<WebhookProvider, string>> = {
  github: 'x-hub-signature-256',
  gitlab: 'x-gitlab-token',
  generic: 'x-driftless-signature-256',
};

/** Which of the secrets verified the request (indexes into the list given), and the sender's form. */
export type Verification =
  | { ok: true; provider: WebhookProvider; matched: number[] }
  | { ok: false; reason: string };

/**
 * Checks a request's signature against every secret (each app may have its own); `headers` have
 * lowercase names (as Lambda Function URLs give them). An empty or whitespace-only secret never
 * verifies anything: it would make the empty HMAC key, which anyone can sign with.
 */
export function verifySignature(
  headers: Readonly<Record<string, string | undefined>>,
  body: Buffer,
  secrets: readonly string[],
): Verification {
  for (const provider of ['github', 'gitlab', 'generic'] as const) {
    const value = headers[SIGNATURE_HEADERS[provider]];
    if (value === undefined) continue;
    const matched = secrets.flatMap((secret, index) => {
      if (!usableSecret(secret)) return [];
      const valid = provider === 'gitlab' ? tokenMatches(value, secret) : hmacMatches(value, body, secret);
      return valid ? [index] : [];
    });
    return matched.length
      ? { ok: true, provider, matched }
      : { ok: false, reason: `${provider} signature does not match` };
  }
  return { ok: false, reason: 'no signature header' };
}

/** Whether a secret can key an HMAC: not empty, not only whitespace. */
export function usableSecret(secret: string): boolean {
  return secret.trim() !== '';
}

/** The value of `X-Hub-Signature-256` / `X-Driftless-Signature-256` for a body. */
export function signBody(body: Buffer | string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

function hmacMatches(header: string, body: Buffer, secret: string): boolean {
  const match = /^sha256=([0-9a-f]{64})$/i.exec(header.trim());
  if (!match) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(match[1]!, 'hex'));
}

/** GitLab sends the secret itself: compare digests, which have equal lengths whatever was sent. */
function tokenMatches(token: string, secret: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(token), digest(secret));
}
