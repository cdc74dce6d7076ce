/**
 * Credentials of a role in the cluster's account, for clusters the agent reaches across accounts:
 * `DescribeCluster` and the token are both made with them, so the cluster sees the role.
 */
import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

/** Re-assume once the role's credentials have less than this left, so a token is never signed with dying keys. */
const RENEW_BEFORE_MS = 5 * 60_000;

export interface AssumedRoleOptions {
  roleArn: string;
  /** A client whose own credentials may assume the role. */
  sts: STSClient;
  /** Shows in CloudTrail and in the cluster's audit log. @default 'driftless' */
  sessionName?: string;
  /** @default Date.now */
  now?: () => number;
}

/** A provider that assumes `roleArn` on first use and again shortly before the credentials expire. */
export function assumedRoleCredentials(options: AssumedRoleOptions): AwsCredentialIdentityProvider {
  const now = options.now ?? Date.now;
  let current: AwsCredentialIdentity | undefined;
  let pending: Promise<AwsCredentialIdentity> | undefined;
  return async () => {
    const expiresAt = current?.expiration?.getTime() ?? Number.POSITIVE_INFINITY;
    if (current && expiresAt - now() > RENEW_BEFORE_MS) return current;
    pending ??= (async () => {
      try {
        const { Credentials: c } = await options.sts.send(
          new AssumeRoleCommand({
            RoleArn: options.roleArn,
            RoleSessionName: options.sessionName ?? 'driftless',
          }),
        );
        if (!c?.AccessKeyId || !c.SecretAccessKey) {
          throw new Error('STS returned no credentials');
        }
        current = {
          accessKeyId: c.AccessKeyId,
          secretAccessKey: c.SecretAccessKey,
          sessionToken: c.SessionToken,
          expiration: c.Expiration,
        };
        return current;
      } catch (error) {
        throw new Error(`cannot assume role ${options.roleArn}: ${(error as Error).message}`, {
          cause: error,
        });
      } finally {
        pending = undefined;
      }
    })();
    return pending;
  };
}
