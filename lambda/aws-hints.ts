/**
 * What to do about the AWS SDK's most common errors, said where a user reads them. The SDK's own
 * messages ("Region is missing", "Could not load credentials from any providers") name neither
 * the variable to set nor the chain it searched.
 */

const HINTS: { match: (error: { name?: string; message: string }) => boolean; hint: string }[] = [
  {
    match: (error) => /region is missing/i.test(error.message),
    hint: 'set AWS_REGION (for example AWS_REGION=eu-west-1), or a region in your AWS profile (AWS_PROFILE)',
  },
  {
    match: (error) =>
      error.name === 'CredentialsProviderError' || /could not load credentials/i.test(error.message),
    hint:
      'no AWS credentials found: the SDK looked in the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), ' +
      'the shared files (~/.aws/credentials, AWS_PROFILE; run aws configure or aws sso login), ' +
      'web identity, and the container or instance role',
  },
  {
    match: (error) =>
      ['ExpiredToken', 'ExpiredTokenException', 'TokenRefreshRequired'].includes(error.name ?? '') ||
      /(security token|token).*expired/i.test(error.message),
    hint: 'the AWS session expired: refresh it (aws sso login, or new temporary credentials)',
  },
];

/** The hint for an AWS SDK error, or `undefined` when there is none. */
export function awsHint(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  return HINTS.find((entry) => entry.match(error))?.hint;
}

/** `error` with its hint appended to the message (the same error when it has none). */
export function withAwsHint(error: unknown): unknown {
  const hint = awsHint(error);
  if (!hint || !(error instanceof Error) || error.message.includes(hint)) return error;
  error.message = `${error.message} (${hint})`;
  return error;
}
