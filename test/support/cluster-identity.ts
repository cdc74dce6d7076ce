/**
 * The one cluster-wide read every identity driftless uses needs: `get` on the Namespace
 * `kube-system`, whose uid keys the app's state and lease (README, "Cluster access"). Granted by
 * the control plane's admin with the ClusterRole and binding the README and the run's error give.
 */
import { kubectl } from './kubectl.ts';

export const CLUSTER_IDENTITY_ROLE = 'driftless-cluster-identity';

/** Binds `subject` (`--serviceaccount=ns:name`, `--user=...`, `--group=...`) to the read, as `binding`. */
export async function grantClusterIdentity(adminKubeconfig: string, subject: string, binding: string) {
  await kubectl(
    adminKubeconfig,
    'create',
    'clusterrole',
    CLUSTER_IDENTITY_ROLE,
    '--verb=get',
    '--resource=namespaces',
    '--resource-name=kube-system',
  ).catch((error: Error) => {
    // One ClusterRole serves every identity; tests that share the control plane may race to create it.
    if (!/already exists/i.test(error.message)) throw error;
  });
  await kubectl(
    adminKubeconfig,
    'create',
    'clusterrolebinding',
    binding,
    `--clusterrole=${CLUSTER_IDENTITY_ROLE}`,
    subject,
  );
}
