/** The history key of an app on the shared local control plane: state and lease are per app and cluster. */
import type { AppKey } from '../../lambda/history/store.ts';
import { kubectlGet } from './kubectl.ts';

const clusters = new Map<string, Promise<string>>();

/** `{ app, cluster }` as `runSync` keys it: the cluster is the uid of `kube-system`, read with kubectl. */
export async function appKey(kubeconfig: string, app: string): Promise<AppKey> {
  let cluster = clusters.get(kubeconfig);
  if (!cluster) {
    cluster = kubectlGet(kubeconfig, 'namespace', 'kube-system').then((ns) => `uid:${ns?.metadata.uid}`);
    clusters.set(kubeconfig, cluster);
  }
  return { app, cluster: await cluster };
}
