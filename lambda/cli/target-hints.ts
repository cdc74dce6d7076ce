/**
 * What to do when the cluster cannot be reached for reasons of the command line: a kubeconfig
 * file that is not there (Node's bare `ENOENT` names no setting), or a deploy config's EKS cluster
 * reached without AWS credentials by someone who meant their own kubeconfig.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { ClusterTarget } from '../sync.ts';

/** Why the kubeconfig of `target` cannot be read, naming the file and what to do; else undefined. */
export function missingKubeconfig(
  target: ClusterTarget,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (target.type !== 'kubeconfig') return undefined;
  if (target.kubeconfig) {
    return existsSync(target.kubeconfig)
      ? undefined
      : `--kubeconfig ${target.kubeconfig}: no such file; give the path of an existing kubeconfig, or leave --kubeconfig out to use KUBECONFIG or ~/.kube/config`;
  }
  if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(delimiter).filter(Boolean);
    if (files.some((file) => existsSync(file))) return undefined;
    return `KUBECONFIG=${env.KUBECONFIG}: no such file; point KUBECONFIG at an existing kubeconfig, or pass --kubeconfig FILE`;
  }
  const fallback = join(homedir(), '.kube', 'config');
  // Inside a pod the client falls back to the pod's service account: no file needed.
  if (existsSync(fallback) || env.KUBERNETES_SERVICE_HOST) return undefined;
  return `no kubeconfig: ${fallback} does not exist and KUBECONFIG is not set; pass --kubeconfig FILE, or --cluster NAME --region REGION for an EKS cluster`;
}

/**
 * The error of connecting to a deploy config's EKS cluster, with the way out for a user who ran
 * the config against their own cluster: `--context` or `--kubeconfig`.
 */
export function withConfigTargetHint(error: unknown, app: string, target: ClusterTarget): unknown {
  if (target.type !== 'eks' || !(error instanceof Error)) return error;
  if (
    !/credential|token|region|signature|not authorized|AccessDenied/i.test(`${error.name} ${error.message}`)
  )
    return error;
  error.message +=
    `; the deploy config's app "${app}" connects to EKS cluster "${target.name}" in ${target.region} with AWS credentials: ` +
    'to run it against a cluster of your kubeconfig instead, pass --context NAME (or --kubeconfig FILE)';
  return error;
}
