/**
 * What identifies an app beyond its name: the source its manifests come from (repo without
 * credentials, and the folder in it) and the cluster it is synced to (the uid of the cluster's
 * `kube-system` Namespace, which survives a new endpoint or kubeconfig context). State,
 * inventory and lease are kept per app and cluster; a run from another source is refused.
 */
import { posix, resolve } from 'node:path';
import type { KubeClient } from './cluster/kube-client.ts';
import type { AppSource } from './reconcile/types.ts';
import { redactUrl } from './source/errors.ts';

/**
 * The cluster's identity: `uid:<kube-system uid>`, or `server:<URL>` when that Namespace cannot
 * be read (no permission). Throws when the server does not answer or rejects the credentials.
 */
export async function clusterIdentity(kube: KubeClient): Promise<string> {
  const res = await kube.request<{ metadata?: { uid?: string }; message?: unknown }>({
    method: 'GET',
    path: '/api/v1/namespaces/kube-system',
  });
  if (res.status === 401) {
    // The client may have put who it authenticated as into the Status message (explain-denied.ts).
    const said = typeof res.body?.message === 'string' ? `: ${res.body.message}` : '';
    throw new Error(`the API server ${kube.server} rejected the credentials (HTTP 401 Unauthorized)${said}`);
  }
  const uid = res.status === 200 ? res.body?.metadata?.uid : undefined;
  return uid ? `uid:${uid}` : `server:${kube.server}`;
}

/** The source as stored: a URL without credentials or an absolute local path, and a normal folder. */
export function appSource(settings: { repo: string; path?: string }): AppSource {
  const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(settings.repo);
  const repo = isUrl ? redactUrl(settings.repo).replace(/\/+$/, '') : resolve(settings.repo);
  const path =
    posix.normalize((settings.path ?? '.').replaceAll('\\', '/')).replace(/^\.\/|\/+$/g, '') || '.';
  return { repo, path };
}

export function sameSource(a: AppSource, b: AppSource): boolean {
  return a.repo === b.repo && a.path === b.path;
}

/** `https://host/team/app.git (path apps/web)` */
export function describeSource(source: AppSource): string {
  return `${source.repo} (path ${source.path})`;
}
