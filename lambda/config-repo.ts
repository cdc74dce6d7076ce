/**
 * The `repo` and `path` settings of a deploy config's app: what the agent can fetch (https, or
 * plain http to this machine only), never with credentials, and a folder inside the repository.
 */
import { posix } from 'node:path';
import type { z } from 'zod';
import { hasUserInfo, insecureRepoReason, parseRepoUrl } from './source/repo-url.ts';

/**
 * The repo setting is an https URL (plain http to this machine only): the agent fetches over
 * HTTP(S) alone (isomorphic-git has no SSH) and has no local checkout. It never holds credentials
 * (it lands in templates and logs), so a value that carries some is not repeated in the message.
 */
export function checkRepo(repo: string, ctx: z.RefinementCtx): void {
  const url = parseRepoUrl(repo);
  if (!url) {
    const shown = hasUserInfo(repo) ? 'the repository' : `"${repo}"`;
    ctx.addIssue({
      code: 'custom',
      message: `${shown} is not an https:// URL: use the repository's https URL, e.g. https://github.com/acme/gitops.git (ssh://, git@host:path and local paths are not supported; the CLI takes a local path with --repo PATH)`,
    });
    return;
  }
  if (hasUserInfo(repo)) {
    ctx.addIssue({
      code: 'custom',
      message:
        'must not carry credentials (user:password@): store them in Secrets Manager and name the secret in credentialsSecret',
    });
    return;
  }
  const insecure = insecureRepoReason(url);
  if (insecure) ctx.addIssue({ code: 'custom', message: insecure });
}

/** `path` is a folder of the repository: never absolute, never above its root. */
export function checkRepoPath(path: string, ctx: z.RefinementCtx): void {
  const normal = posix.normalize(path.replaceAll('\\', '/'));
  if (posix.isAbsolute(normal) || normal === '..' || normal.startsWith('../')) {
    ctx.addIssue({
      code: 'custom',
      message: `"${path}" leaves the repository: give a folder inside it, relative to its root (e.g. apps/web, or . for the root)`,
    });
  }
}
