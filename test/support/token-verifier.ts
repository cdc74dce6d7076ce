/**
 * A stand-in for EKS's authenticator: a TokenReview webhook (authentication.k8s.io/v1) that
 * checks a `k8s-aws-v1.` token the way aws-iam-authenticator's `Verify` does and then does what
 * STS would do with the presigned URL: recompute the SigV4 signature with the credentials it
 * knows, with its own cluster name in `x-k8s-aws-id`. The caller's ARN is mapped to a Kubernetes
 * user and groups, like an EKS access entry.
 *
 * The signature check is written out here with `node:crypto` on purpose: it must not share code
 * with the signer it judges.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Credentials STS knows, and the ARN `GetCallerIdentity` would answer for them. */
export interface StsIdentity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** e.g. `arn:aws:iam::111122223333:user/ci` or `arn:aws:sts::111122223333:assumed-role/deployer/session` */
  arn: string;
}

/** An access entry: an IAM user or role ARN (roles as `arn:aws:iam::ACCOUNT:role/NAME`) to a Kubernetes user. */
export interface AccessEntry {
  arn: string;
  username: string;
  groups: string[];
}

export interface TokenVerifierOptions {
  /** The cluster name this "API server" expects in `x-k8s-aws-id`. */
  clusterName: string;
  region: string;
  identities: StsIdentity[];
  accessEntries: AccessEntry[];
  /** @default Date.now */
  now?: () => number;
}

export interface TokenReviewRecord {
  authenticated: boolean;
  /** Why it was rejected, in aws-iam-authenticator's words. */
  reason?: string;
  arn?: string;
  username?: string;
  accessKeyId?: string;
  amzDate?: string;
  /** Kept only so tests can prove the token never leaks into an error message. */
  token: string;
}

export interface TokenVerifier {
  /** `http://127.0.0.1:PORT/authenticate`, for `startControlPlane({ tokenWebhookUrl })`. */
  url: string;
  /** Every review answered, oldest first. */
  reviews: TokenReviewRecord[];
  options: TokenVerifierOptions;
  stop(): Promise<void>;
}

const PREFIX = 'k8s-aws-v1.';
const MAX_TOKEN_BYTES = 4096;
const LIFETIME_MS = 15 * 60_000;
const ALLOWED_QUERY_KEYS = new Set([
  'action',
  'version',
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-security-token',
  'x-amz-signature',
  'x-amz-signedheaders',
]);

class Rejected extends Error {}

/** Checks a token and returns the caller's STS identity, or throws `Rejected` with the reason. */
export function verifyToken(
  token: string,
  options: TokenVerifierOptions,
): { identity: StsIdentity; amzDate: string } {
  if (Buffer.byteLength(token) > MAX_TOKEN_BYTES) throw new Rejected('token is too large');
  if (!token.startsWith(PREFIX)) throw new Rejected(`token is missing expected "${PREFIX}" prefix`);
  const encoded = token.slice(PREFIX.length);
  // Go's base64.RawURLEncoding: URL alphabet, no padding.
  if (!/^[A-Za-z0-9_-]*$/.test(encoded)) throw new Rejected('illegal base64 data');
  let url: URL;
  try {
    url = new URL(Buffer.from(encoded, 'base64url').toString('utf8'));
  } catch {
    throw new Rejected('malformed pre-signed URL');
  }
  if (url.protocol !== 'https:') throw new Rejected(`unexpected scheme "${url.protocol}" in pre-signed URL`);
  const expectedHost = `sts.${options.region}.amazonaws.com`;
  if (url.host !== expectedHost) throw new Rejected(`unexpected hostname "${url.host}" in pre-signed URL`);
  if (url.pathname !== '/') throw new Rejected('unexpected path in pre-signed URL');

  const query = new Map<string, string>();
  for (const key of new Set(url.searchParams.keys())) {
    if (!ALLOWED_QUERY_KEYS.has(key.toLowerCase()))
      throw new Rejected(`non-whitelisted query parameter "${key}"`);
    const values = url.searchParams.getAll(key);
    if (values.length !== 1) throw new Rejected('query parameter with multiple values not supported');
    if (query.has(key.toLowerCase()))
      throw new Rejected('query parameter with multiple values not supported');
    query.set(key.toLowerCase(), values[0] as string);
  }
  if (query.get('action') !== 'GetCallerIdentity')
    throw new Rejected('unexpected action parameter in pre-signed URL');
  const signedHeaders = (query.get('x-amz-signedheaders') ?? '').split(';');
  if (!signedHeaders.includes('x-k8s-aws-id')) {
    throw new Rejected('client did not sign the x-k8s-aws-id header in the pre-signed URL');
  }
  const expires = Number(query.get('x-amz-expires'));
  if (!Number.isInteger(expires) || expires < 0 || expires > 900) {
    throw new Rejected(`invalid X-Amz-Expires parameter in pre-signed URL: ${query.get('x-amz-expires')}`);
  }
  const amzDate = query.get('x-amz-date') ?? '';
  const dateMatch = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!dateMatch) throw new Rejected('X-Amz-Date parameter must be present in pre-signed URL');
  const [, y, mo, d, h, mi, s] = dateMatch.map(Number) as number[];
  const signedAt = Date.UTC(y as number, (mo as number) - 1, d, h, mi, s);
  const now = (options.now ?? Date.now)();
  if (now > signedAt + LIFETIME_MS)
    throw new Rejected('X-Amz-Date parameter is expired (15 minute expiration)');
  // STS's own clock-skew rule: a signature from too far in the future is "not yet current".
  if (signedAt > now + LIFETIME_MS) throw new Rejected('signature not yet current');

  // From here on STS's part: credential scope, known key, session token, signature.
  const [accessKeyId, scopeDate, scopeRegion, scopeService, terminator] = (
    query.get('x-amz-credential') ?? ''
  ).split('/');
  if (scopeDate !== amzDate.slice(0, 8) || scopeService !== 'sts' || terminator !== 'aws4_request') {
    throw new Rejected('SignatureDoesNotMatch: malformed credential scope');
  }
  if (scopeRegion !== options.region)
    throw new Rejected(`SignatureDoesNotMatch: credential scope region ${scopeRegion}`);
  const identity = options.identities.find((i) => i.accessKeyId === accessKeyId);
  if (!identity) throw new Rejected('InvalidClientTokenId: unknown access key');
  if ((identity.sessionToken ?? '') !== (query.get('x-amz-security-token') ?? '')) {
    throw new Rejected('InvalidClientTokenId: session token does not match the access key');
  }
  // The authenticator sends these headers when it calls STS; only they can have been signed.
  const headerValues: Record<string, string> = { host: url.host, 'x-k8s-aws-id': options.clusterName };
  const canonicalHeaders = signedHeaders.map((name) => {
    const value = headerValues[name];
    if (value === undefined) throw new Rejected(`SignatureDoesNotMatch: signed header "${name}" is not sent`);
    return `${name}:${value}\n`;
  });
  const canonicalQuery = [...url.searchParams.entries()]
    .filter(([key]) => key !== 'X-Amz-Signature')
    .map(([key, value]) => [rfc3986(key), rfc3986(value)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
  const canonicalRequest = [
    'GET',
    '/',
    canonicalQuery,
    canonicalHeaders.join(''),
    signedHeaders.join(';'),
    createHash('sha256').update('').digest('hex'),
  ].join('\n');
  const scope = `${scopeDate}/${scopeRegion}/sts/aws4_request`;
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  let key: Buffer = Buffer.from(`AWS4${identity.secretAccessKey}`);
  for (const part of [scopeDate, scopeRegion, 'sts', 'aws4_request']) key = hmac(key, part);
  const expected = Buffer.from(hmac(key, stringToSign).toString('hex'));
  const given = Buffer.from(query.get('x-amz-signature') ?? '');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    throw new Rejected('SignatureDoesNotMatch: the request signature we calculated does not match');
  }
  return { identity, amzDate };
}

/** Starts the webhook on loopback. */
export async function startTokenVerifier(options: TokenVerifierOptions): Promise<TokenVerifier> {
  const reviews: TokenReviewRecord[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      const token: string = review?.spec?.token ?? '';
      let status: Record<string, unknown>;
      try {
        const { identity, amzDate } = verifyToken(token, options);
        const arn = canonicalArn(identity.arn);
        const entry = options.accessEntries.find((e) => e.arn === arn);
        if (!entry) throw new Rejected(`ARN is not mapped: ${arn}`);
        reviews.push({
          authenticated: true,
          arn: identity.arn,
          username: entry.username,
          accessKeyId: identity.accessKeyId,
          amzDate,
          token,
        });
        status = {
          authenticated: true,
          user: { username: entry.username, uid: `aws-iam-authenticator:${arn}`, groups: entry.groups },
        };
      } catch (error) {
        if (!(error instanceof Rejected)) throw error;
        reviews.push({ authenticated: false, reason: error.message, token });
        status = { authenticated: false, error: error.message };
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', status }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/authenticate`,
    reviews,
    options,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** `arn:aws:sts::ACCT:assumed-role/NAME/SESSION` -> `arn:aws:iam::ACCT:role/NAME`, as aws-iam-authenticator maps roles. */
export function canonicalArn(arn: string): string {
  const assumed = /^arn:(aws[\w-]*):sts::(\d+):assumed-role\/([^/]+)\/.+$/.exec(arn);
  return assumed ? `arn:${assumed[1]}:iam::${assumed[2]}:role/${assumed[3]}` : arn;
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}
