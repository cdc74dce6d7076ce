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

/** The role and binding a scoped identity needs to read `kube-system` (README, "Cluster access"). */
export const CLUSTER_IDENTITY_ROLE = 'driftless-cluster-identity';

/**
 * The cluster's identity: `uid:<kube-system uid>`, and nothing else. The state and the lease are
 * keyed by it, so a fallback (the server URL) would let an admin CLI and a scoped Lambda keep two
 * states and two leases on one cluster. A 429, a 5xx or a broken connection is retried by the
 * client (retry.ts: 5 attempts within 30 s); then, as on 401 or 403, this throws, and the run
 * fails before its lease, naming what to fix.
 */
export async function clusterIdentity(kube: KubeClient): Promise<string> {
  const res = await kube.request<{ metadata?: { uid?: string }; message?: unknown }>({
    method: 'GET',
    path: '/api/v1/namespaces/kube-system',
  });
  // The client may have put who it authenticated as into the Status message (explain-denied.ts).
  const said = typeof res.body?.message === 'string' ? `: ${res.body.message}` : '';
  if (res.status === 401) {
    throw new Error(`the API server ${kube.server} rejected the credentials (HTTP 401 Unauthorized)${said}`);
  }
  if (res.status === 403) throw new Error(forbiddenMessage(kube.server, said));
  const uid = res.status === 200 ? res.body?.metadata?.uid : undefined;
  if (!uid) {
    throw new Error(
      `could not read the Namespace kube-system on ${kube.server} (HTTP ${res.status}${res.status >= 429 ? ', retried' : ''})${said}: its uid identifies the cluster for the app's state and lease, so the run stopped before taking the lease; the next run tries again`,
    );
  }
  return `uid:${uid}`;
}

/** A 403 on `kube-system`: the exact ClusterRole and binding to add, for the user the server named. */
function forbiddenMessage(server: string, said: string): string {
  const user = /User "([^"]+)"/.exec(said)?.[1];
  const account = user ? /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user) : null;
  const subject = account
    ? `--serviceaccount=${account[1]}:${account[2]}`
    : user
      ? `--user=${user}`
      : '--user=USER (or --group=GROUP)';
  return (
    `the identity used for ${server} may not read the Namespace kube-system (HTTP 403)${said}. ` +
    'driftless identifies the cluster by the uid of kube-system (the key of the app\'s state and lease) and needs "get" on "namespaces" named "kube-system"; ' +
    `add it as an administrator: kubectl create clusterrole ${CLUSTER_IDENTITY_ROLE} --verb=get --resource=namespaces --resource-name=kube-system && ` +
    `kubectl create clusterrolebinding ${bindingName(account ? `${account[1]}-${account[2]}` : user)} --clusterrole=${CLUSTER_IDENTITY_ROLE} ${subject} ` +
    '(README, "Cluster access"). Nothing was written and no lease was taken'
  );
}

/** `driftless-cluster-identity-<who>`, as a valid object name. */
function bindingName(who: string | undefined): string {
  const name = (who ?? 'agent')
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `${CLUSTER_IDENTITY_ROLE}-${name || 'agent'}`.slice(0, 253);
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
