import { describe, expect, it } from 'vitest';
import {
  eksTokenSource,
  execCredential,
  getEksToken,
  MAX_TOKEN_BYTES,
  requestedExecCredentialVersion,
  stsHostname,
  TOKEN_PREFIX,
} from '../../lambda/cluster/token.ts';
import { CALLER } from '../support/eks-control-plane.ts';
import { type TokenVerifierOptions, verifyToken } from '../support/token-verifier.ts';

const region = 'eu-west-1';
const signedAt = new Date('2026-03-01T12:00:00.000Z');
const verifier: TokenVerifierOptions = {
  clusterName: 'prod',
  region,
  identities: [CALLER],
  accessEntries: [],
  now: () => signedAt.getTime() + 60_000,
};

async function tokenFor(clusterName = 'prod', at = signedAt) {
  return getEksToken({ clusterName, region, credentials: CALLER, now: () => at });
}

function presignedUrl(token: string): URL {
  return new URL(Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8'));
}

function tokenFromUrl(url: URL | string): string {
  return TOKEN_PREFIX + Buffer.from(url.toString()).toString('base64url');
}

describe('getEksToken', () => {
  it('presigns GetCallerIdentity on the regional STS endpoint with the cluster header signed, not in the URL', async () => {
    const { token } = await tokenFor();
    expect(token.startsWith('k8s-aws-v1.')).toBe(true);
    expect(token).not.toContain('=');
    expect(token).toMatch(/^k8s-aws-v1\.[A-Za-z0-9_-]+$/);
    const url = presignedUrl(token);
    expect(url.origin).toBe('https://sts.eu-west-1.amazonaws.com');
    expect(url.pathname).toBe('/');
    expect(url.searchParams.get('Action')).toBe('GetCallerIdentity');
    expect(url.searchParams.get('Version')).toBe('2011-06-15');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('60');
    expect(url.searchParams.get('X-Amz-Date')).toBe('20260301T120000Z');
    expect(url.searchParams.get('X-Amz-Credential')).toBe(
      `${CALLER.accessKeyId}/20260301/eu-west-1/sts/aws4_request`,
    );
    expect(url.searchParams.get('X-Amz-Security-Token')).toBe(CALLER.sessionToken);
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('host;x-k8s-aws-id');
    expect(url.searchParams.has('x-k8s-aws-id')).toBe(false);
    expect(Buffer.byteLength(token)).toBeLessThanOrEqual(MAX_TOKEN_BYTES);
  });

  it("signs for the STS host of the region's partition: amazonaws.com.cn in China regions", async () => {
    const china = await getEksToken({ clusterName: 'prod', region: 'cn-north-1', credentials: CALLER });
    expect(presignedUrl(china.token).origin).toBe('https://sts.cn-north-1.amazonaws.com.cn');
    expect(presignedUrl(china.token).searchParams.get('X-Amz-Credential')).toContain('/cn-north-1/sts/');
    expect(stsHostname('cn-northwest-1')).toBe('sts.cn-northwest-1.amazonaws.com.cn');
    expect(stsHostname('us-gov-west-1')).toBe('sts.us-gov-west-1.amazonaws.com');
    expect(stsHostname('us-iso-east-1')).toBe('sts.us-iso-east-1.c2s.ic.gov');
    expect(stsHostname('us-isob-east-1')).toBe('sts.us-isob-east-1.sc2s.sgov.gov');
  });

  it('says the token expires 14 minutes after signing, inside the server-side 15', async () => {
    const { expiresAt } = await tokenFor('prod', new Date('2026-03-01T12:00:00.750Z'));
    expect(expiresAt.toISOString()).toBe('2026-03-01T12:14:00.000Z');
  });

  it('makes a token the authenticator accepts for the named cluster', async () => {
    const { token } = await tokenFor();
    expect(verifyToken(token, verifier).identity.arn).toBe(CALLER.arn);
  });

  it('accepts a credential provider as well as static credentials', async () => {
    const { token } = await getEksToken({
      clusterName: 'prod',
      region,
      credentials: async () => CALLER,
      now: () => signedAt,
    });
    expect(verifyToken(token, verifier).identity.accessKeyId).toBe(CALLER.accessKeyId);
  });

  it('refuses a token that would exceed 4096 bytes, without printing it', async () => {
    const huge = { ...CALLER, sessionToken: 'x'.repeat(3500) };
    const attempt = getEksToken({ clusterName: 'prod', region, credentials: huge, now: () => signedAt });
    await expect(attempt).rejects.toThrow(/over the 4096-byte limit/);
    await expect(attempt).rejects.not.toThrow(/k8s-aws-v1/);
  });
});

describe('the authenticator rejects', () => {
  it('a token signed for another cluster', async () => {
    const { token } = await tokenFor('staging');
    expect(() => verifyToken(token, verifier)).toThrow(/SignatureDoesNotMatch/);
  });

  it('a token whose X-Amz-Date is more than 15 minutes old', async () => {
    const { token } = await tokenFor();
    const later = { ...verifier, now: () => signedAt.getTime() + 15 * 60_000 + 1_000 };
    expect(() => verifyToken(token, later)).toThrow(/expired/);
  });

  it('a token whose signature was tampered with', async () => {
    const url = presignedUrl((await tokenFor()).token);
    const signature = url.searchParams.get('X-Amz-Signature') ?? '';
    url.searchParams.set('X-Amz-Signature', (signature[0] === 'a' ? 'b' : 'a') + signature.slice(1));
    expect(() => verifyToken(tokenFromUrl(url), verifier)).toThrow(/SignatureDoesNotMatch/);
  });

  it('a token with a query key outside the allow-list', async () => {
    const url = presignedUrl((await tokenFor()).token);
    url.searchParams.set('X-Amz-Foo', '1');
    expect(() => verifyToken(tokenFromUrl(url), verifier)).toThrow(
      /non-whitelisted query parameter "X-Amz-Foo"/,
    );
  });

  it('a token with a repeated query key', async () => {
    const url = presignedUrl((await tokenFor()).token);
    url.searchParams.append('Action', 'GetCallerIdentity');
    expect(() => verifyToken(tokenFromUrl(url), verifier)).toThrow(/multiple values/);
  });

  it('a token for another host, scheme or path', async () => {
    for (const edit of [
      (u: URL) => {
        u.host = 'sts.amazonaws.com.evil.example';
      },
      (u: URL) => {
        u.protocol = 'http:';
      },
      (u: URL) => {
        u.pathname = '/x';
      },
    ]) {
      const url = presignedUrl((await tokenFor()).token);
      edit(url);
      expect(() => verifyToken(tokenFromUrl(url), verifier)).toThrow(/unexpected (hostname|scheme|path)/);
    }
  });

  it('a token without the prefix, or with padded base64', async () => {
    const { token } = await tokenFor();
    expect(() => verifyToken(token.slice(TOKEN_PREFIX.length), verifier)).toThrow(/prefix/);
    expect(() => verifyToken(`${token}==`, verifier)).toThrow(/base64/);
  });
});

describe('execCredential', () => {
  it('is the client.authentication.k8s.io/v1beta1 ExecCredential kubectl reads', () => {
    expect(execCredential('k8s-aws-v1.abc', new Date('2026-03-01T12:14:00.000Z'))).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1beta1',
      kind: 'ExecCredential',
      spec: {},
      status: { token: 'k8s-aws-v1.abc', expirationTimestamp: '2026-03-01T12:14:00Z' },
    });
  });

  it('answers in the version kubectl asks for through KUBERNETES_EXEC_INFO (v1 or v1beta1)', () => {
    const info = (apiVersion: string) =>
      JSON.stringify({ kind: 'ExecCredential', apiVersion, spec: { interactive: false } });
    expect(requestedExecCredentialVersion(info('client.authentication.k8s.io/v1'))).toBe(
      'client.authentication.k8s.io/v1',
    );
    expect(requestedExecCredentialVersion(info('client.authentication.k8s.io/v1beta1'))).toBe(
      'client.authentication.k8s.io/v1beta1',
    );
    expect(requestedExecCredentialVersion(info('client.authentication.k8s.io/v1alpha1'))).toBeUndefined();
    expect(requestedExecCredentialVersion('not json')).toBeUndefined();
    expect(requestedExecCredentialVersion(undefined)).toBeUndefined();
    expect(execCredential('t', new Date(0), 'client.authentication.k8s.io/v1').apiVersion).toBe(
      'client.authentication.k8s.io/v1',
    );
  });
});

describe('eksTokenSource', () => {
  it('reuses a token for 10 minutes, then signs a new one', async () => {
    let clock = signedAt.getTime();
    const current = eksTokenSource({ clusterName: 'prod', region, credentials: CALLER, now: () => clock });
    const first = await current();
    clock += 9 * 60_000;
    expect(await current()).toBe(first);
    clock += 60_000;
    const second = await current();
    expect(second).not.toBe(first);
    expect(presignedUrl(second).searchParams.get('X-Amz-Date')).toBe('20260301T121000Z');
  });

  it('signs once for concurrent callers', async () => {
    let signings = 0;
    const credentials = async () => {
      signings += 1;
      return CALLER;
    };
    const current = eksTokenSource({
      clusterName: 'prod',
      region,
      credentials,
      now: () => signedAt.getTime(),
    });
    const tokens = await Promise.all([current(), current(), current()]);
    expect(new Set(tokens).size).toBe(1);
    expect(signings).toBe(1);
  });
});
