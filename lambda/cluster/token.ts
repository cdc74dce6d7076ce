/**
 * EKS bearer tokens: a presigned STS `GetCallerIdentity` URL, the same thing `aws eks get-token`
 * and aws-iam-authenticator produce. The API server (aws-iam-authenticator's `Verify`) calls the
 * URL with its own cluster name in `x-k8s-aws-id`; STS answers only if the signature covers that
 * header, so a token is good for one cluster and for 15 minutes from its `X-Amz-Date`.
 *
 * Tokens are bearer credentials: nothing here logs them, and errors never contain them.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

/** Every EKS token starts with this. */
export const TOKEN_PREFIX = 'k8s-aws-v1.';
/** The header that binds a token to one cluster. */
export const CLUSTER_ID_HEADER = 'x-k8s-aws-id';
/** aws-iam-authenticator refuses longer tokens. */
export const MAX_TOKEN_BYTES = 4096;
/** The server accepts a token for this long after its `X-Amz-Date`, whatever the presign expiry says. */
export const TOKEN_LIFETIME_MS = 15 * 60_000;
/**
 * What `expiresAt` promises: a minute short of the server's limit, like `aws eks get-token`, so a
 * client whose clock runs a little behind never sends a token the server already considers expired.
 */
export const TOKEN_VALIDITY_MS = 14 * 60_000;
/** The server allows 0..900 s; the signer's default (3600) would be rejected. */
const PRESIGN_EXPIRES_IN_SECONDS = 60;

export interface EksTokenInput {
  /** The EKS cluster's name, as in `DescribeCluster`. */
  clusterName: string;
  /** The cluster's region; the token is signed for the regional STS endpoint. */
  region: string;
  /** Whose identity the cluster sees: static credentials or a provider (e.g. the default chain). */
  credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** The signing clock. @default () => new Date() */
  now?: () => Date;
}

export interface EksToken {
  /** `k8s-aws-v1.` + unpadded base64url of the presigned URL. A secret: never log it. */
  token: string;
  /** When to stop using it (signing time + 14 minutes). */
  expiresAt: Date;
}

/** DNS suffixes of the partitions whose region names differ from the commercial one's. */
const PARTITION_DNS_SUFFIXES: readonly [prefix: string, suffix: string][] = [
  ['cn-', 'amazonaws.com.cn'],
  ['us-isof-', 'csp.hci.ic.gov'],
  ['us-isob-', 'sc2s.sgov.gov'],
  ['us-iso-', 'c2s.ic.gov'],
  ['eu-isoe-', 'cloud.adc-e.uk'],
];

/** The regional STS host of `region`'s partition: `sts.cn-north-1.amazonaws.com.cn` in China. */
export function stsHostname(region: string): string {
  const suffix = PARTITION_DNS_SUFFIXES.find(([prefix]) => region.startsWith(prefix))?.[1] ?? 'amazonaws.com';
  return `sts.${region}.${suffix}`;
}

/** Presigns STS `GetCallerIdentity` for `clusterName` and wraps it as an EKS bearer token. */
export async function getEksToken(input: EksTokenInput): Promise<EksToken> {
  const signingDate = (input.now ?? (() => new Date()))();
  const hostname = stsHostname(input.region);
  const signer = new SignatureV4({
    credentials: input.credentials,
    region: input.region,
    service: 'sts',
    sha256: Sha256,
  });
  const presigned = await signer.presign(
    new HttpRequest({
      method: 'GET',
      protocol: 'https:',
      hostname,
      path: '/',
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
      // Not an `x-amz-*` header, so the signer signs it and leaves it a header: the server adds
      // it when it calls STS, and the URL must not carry it.
      headers: { host: hostname, [CLUSTER_ID_HEADER]: input.clusterName },
    }),
    { expiresIn: PRESIGN_EXPIRES_IN_SECONDS, signingDate },
  );
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(presigned.query ?? {})) {
    if (typeof value === 'string') query.set(key, value);
  }
  const url = `https://${hostname}/?${query}`;
  const token = TOKEN_PREFIX + Buffer.from(url, 'utf8').toString('base64url');
  if (Buffer.byteLength(token) > MAX_TOKEN_BYTES) {
    // Happens only with very long session tokens; the length is safe to report, the token is not.
    throw new Error(
      `EKS token for cluster "${input.clusterName}" is ${Buffer.byteLength(token)} bytes, over the ${MAX_TOKEN_BYTES}-byte limit of the cluster's authenticator`,
    );
  }
  // X-Amz-Date has second precision; the server counts from it.
  const signedAt = Math.floor(signingDate.getTime() / 1000) * 1000;
  return { token, expiresAt: new Date(signedAt + TOKEN_VALIDITY_MS) };
}

/** The exec plugin API versions `driftless token` answers in (kubectl 1.24+ dropped v1alpha1). */
export const EXEC_CREDENTIAL_VERSIONS = [
  'client.authentication.k8s.io/v1beta1',
  'client.authentication.k8s.io/v1',
] as const;
export type ExecCredentialVersion = (typeof EXEC_CREDENTIAL_VERSIONS)[number];

/** An ExecCredential for kubectl's exec plugin protocol, what `driftless token` prints. */
export interface ExecCredential {
  apiVersion: ExecCredentialVersion;
  kind: 'ExecCredential';
  spec: Record<string, never>;
  status: { token: string; expirationTimestamp: string };
}

/**
 * The version kubectl asks for in `KUBERNETES_EXEC_INFO` (the ExecCredential it would send), or
 * `undefined` when it asks for none or for one this does not speak (the caller says so).
 */
export function requestedExecCredentialVersion(
  execInfo: string | undefined,
): ExecCredentialVersion | undefined {
  if (!execInfo) return undefined;
  let apiVersion: unknown;
  try {
    apiVersion = (JSON.parse(execInfo) as { apiVersion?: unknown } | null)?.apiVersion;
  } catch {
    return undefined;
  }
  return EXEC_CREDENTIAL_VERSIONS.find((version) => version === apiVersion);
}

/** Wraps a token the way `aws eks get-token` does, so kubectl caches it until `expiresAt`. */
export function execCredential(
  token: string,
  expiresAt: Date,
  apiVersion: ExecCredentialVersion = 'client.authentication.k8s.io/v1beta1',
): ExecCredential {
  return {
    apiVersion,
    kind: 'ExecCredential',
    spec: {},
    // RFC 3339 without fractions, as the exec plugin protocol examples and the AWS CLI write it.
    status: { token, expirationTimestamp: expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z') },
  };
}

export interface TokenSourceOptions extends Omit<EksTokenInput, 'now'> {
  /** The clock, in epoch ms. @default Date.now */
  now?: () => number;
  /**
   * Mint a new token once the current one is this old, well before its 15 minutes run out, so
   * a request that starts late in a long run still carries a valid token. @default 10 minutes
   */
  refreshAfterMs?: number;
}

/**
 * The current token for a long-lived client: reuses one token, mints a new one after
 * `refreshAfterMs`, and shares one signing among concurrent callers.
 */
export function eksTokenSource(options: TokenSourceOptions): () => Promise<string> {
  const now = options.now ?? Date.now;
  const refreshAfterMs = options.refreshAfterMs ?? 10 * 60_000;
  let current: { token: string; mintedAt: number } | undefined;
  let pending: Promise<string> | undefined;
  return async () => {
    if (current && now() - current.mintedAt < refreshAfterMs) return current.token;
    pending ??= (async () => {
      try {
        const mintedAt = now();
        const { token } = await getEksToken({ ...options, now: () => new Date(mintedAt) });
        current = { token, mintedAt };
        return token;
      } finally {
        pending = undefined;
      }
    })();
    return pending;
  };
}
