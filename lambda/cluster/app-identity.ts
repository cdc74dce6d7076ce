/**
 * The AWS identity of one app's runs in the Lambda: its own role (see `app-role.ts`), assumed
 * with the session name `driftless-<app>` and reused while its credentials last. A warm container
 * keeps one provider per app, so a run only calls STS when the app's credentials near expiry.
 */
import { STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { appRoleArn, appSessionName } from './app-role.ts';
import { assumedRoleCredentials } from './assume-role.ts';

/**
 * A lookup from app name to that app's credentials, or to `undefined` (the caller's own identity)
 * when no prefix is given (a stack without per-app roles, a local run).
 */
export function appIdentities(
  roleArnPrefix: string | undefined,
  sts?: STSClient,
): (app: string) => AwsCredentialIdentityProvider | undefined {
  const providers = new Map<string, AwsCredentialIdentityProvider>();
  let client = sts;
  return (app) => {
    if (!roleArnPrefix) return undefined;
    let provider = providers.get(app);
    if (!provider) {
      client ??= new STSClient({});
      provider = assumedRoleCredentials({
        roleArn: appRoleArn(roleArnPrefix, app),
        sts: client,
        sessionName: appSessionName(app),
      });
      providers.set(app, provider);
    }
    return provider;
  };
}
