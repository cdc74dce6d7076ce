/**
 * Each app runs under an IAM role of its own, which the stack creates and the function assumes
 * for that app's run. The stack and the function compute the role's name and the session name
 * with these functions, so the function needs one environment variable (the ARN prefix) for
 * every app, and the role trusts only sessions named for its own app.
 */
import { createHash } from 'node:crypto';

/** IAM path of every per-app role, so policies and the console can tell them apart. */
export const APP_ROLE_PATH = '/driftless/';

/** IAM caps role names at 64 characters; the stack's prefix takes at most 25 of them. */
const MAX_SUFFIX = 39;
/** STS caps session names at 64 characters. */
const MAX_SESSION_NAME = 64;
const SESSION_PREFIX = 'driftless-';

/** `app`, or for a long name its start and a hash of the whole: unique and at most 39 characters. */
export function appRoleSuffix(app: string): string {
  return shorten(app, MAX_SUFFIX);
}

/**
 * `driftless-<app>`: the session name the function assumes the app's role with. It shows in
 * CloudTrail and, through the access entry's username, in the cluster's audit log.
 */
export function appSessionName(app: string): string {
  return SESSION_PREFIX + shorten(app, MAX_SESSION_NAME - SESSION_PREFIX.length);
}

/** The role ARN of `app`, given the stack's prefix (`DRIFTLESS_APP_ROLE_ARN_PREFIX`). */
export function appRoleArn(prefix: string, app: string): string {
  return prefix + appRoleSuffix(app);
}

function shorten(name: string, max: number): string {
  if (name.length <= max) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, max - hash.length - 1)}-${hash}`;
}
