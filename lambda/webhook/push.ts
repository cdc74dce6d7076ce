/**
 * What a push says, whoever sent it, and which apps it concerns. A repository is compared
 * without its scheme, credentials, port, trailing `.git` or `/`, and with its host in lowercase,
 * so `git@GitHub.com:org/app.git` and `https://github.com/org/app` are one repository.
 */
import type { AppConfig } from '../config.ts';
import type { WebhookProvider } from './signature.ts';

/** A push to one ref of one repository (the URLs are the forms the sender gave for it). */
export interface Push {
  repoUrls: string[];
  /** Full ref name: `refs/heads/main`, `refs/tags/v1`. */
  ref: string;
  /** The repository's default branch, when the sender says. */
  defaultBranch?: string;
}

/** A request the receiver understood: a push, a ping, or another event it does not act on. */
export type WebhookRequest =
  | { kind: 'push'; push: Push }
  | { kind: 'ping' }
  | { kind: 'ignored'; event: string };

/** Reads a verified request body. Throws a message naming what is missing from a push. */
export function parseWebhookRequest(
  provider: WebhookProvider,
  headers: Readonly<Record<string, string | undefined>>,
  body: unknown,
): WebhookRequest {
  if (provider === 'github') {
    const event = headers['x-github-event'] ?? '';
    if (event === 'ping') return { kind: 'ping' };
    if (event !== 'push') return { kind: 'ignored', event };
    const repository = field(body, 'repository');
    const urls = ['clone_url', 'html_url', 'ssh_url', 'git_url', 'url'].map((key) => field(repository, key));
    return push(urls, field(body, 'ref'), field(repository, 'default_branch'));
  }
  if (provider === 'gitlab') {
    const event = headers['x-gitlab-event'] ?? '';
    if (event !== 'Push Hook' && event !== 'Tag Push Hook') return { kind: 'ignored', event };
    const project = field(body, 'project');
    const urls = ['git_http_url', 'http_url', 'git_ssh_url', 'web_url'].map((key) => field(project, key));
    return push(urls, field(body, 'ref'), field(project, 'default_branch'));
  }
  const event = headers['x-driftless-event'] ?? 'push';
  if (event === 'ping') return { kind: 'ping' };
  if (event !== 'push') return { kind: 'ignored', event };
  return push([field(body, 'repository')], field(body, 'ref'), field(body, 'defaultBranch'));
}

/** `value[key]` when `value` is an object: payloads are untrusted JSON of any shape. */
function field(value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
}

function push(urls: unknown[], ref: unknown, defaultBranch: unknown): WebhookRequest {
  const repoUrls = urls.filter((url): url is string => typeof url === 'string' && url !== '');
  if (!repoUrls.length) throw new Error('push names no repository URL');
  if (typeof ref !== 'string' || ref === '') throw new Error('push names no ref');
  return {
    kind: 'push',
    push: {
      repoUrls,
      // A bare name from a generic sender is a branch.
      ref: ref.startsWith('refs/') ? ref : `refs/heads/${ref}`,
      ...(typeof defaultBranch === 'string' && defaultBranch ? { defaultBranch } : {}),
    },
  };
}

/** `host/path` of a repository URL (https, ssh, git or scp-like `user@host:path`). */
export function normaliseRepoUrl(url: string): string {
  const text = url.trim();
  let host: string;
  let path: string;
  const scp = /^(?:[^@/]+@)?([^:/]+):(?!\/\/)(.*)$/.exec(text);
  if (scp && !/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    host = scp[1]!;
    path = scp[2]!;
  } else {
    try {
      const parsed = new URL(text);
      host = parsed.hostname;
      path = decodeURIComponent(parsed.pathname);
    } catch {
      return text;
    }
  }
  path = path
    .replace(/^\/+/, '')
    .replace(/\/+$/, '')
    .replace(/\.git$/, '');
  return `${host.toLowerCase()}/${path}`;
}

/** Whether an app follows the pushed ref: the same branch or tag, or no ref and the default branch. */
export function followsRef(appRef: string | undefined, push: Push): boolean {
  const branch = push.ref.startsWith('refs/heads/') ? push.ref.slice('refs/heads/'.length) : undefined;
  const tag = push.ref.startsWith('refs/tags/') ? push.ref.slice('refs/tags/'.length) : undefined;
  // Without a ref the app follows the remote's default branch; a sender that does not name it
  // may still have pushed there, and a sync that finds nothing new changes nothing.
  if (appRef === undefined)
    return branch !== undefined && (!push.defaultBranch || branch === push.defaultBranch);
  return appRef === push.ref || appRef === branch || appRef === tag;
}

/** The apps a push concerns: same repository, following the pushed ref, not suspended. */
export function appsForPush(apps: readonly AppConfig[], push: Push): AppConfig[] {
  const pushed = new Set(push.repoUrls.map(normaliseRepoUrl));
  return apps.filter(
    (app) => !app.suspended && pushed.has(normaliseRepoUrl(app.repo)) && followsRef(app.ref, push),
  );
}
