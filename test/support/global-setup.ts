/**
 * Starts one real cluster (control-plane.ts) for the whole test run and hands its coordinates to every
 * test file through `inject('controlPlane')`. Tests isolate themselves by namespace, app
 * name and CRD group. A missing binary fails the run; nothing is skipped.
 */
import type { TestProject } from 'vitest/node';
import { type ControlPlaneInfo, controlPlaneAssets, startControlPlane } from './control-plane.ts';
import { kubectl } from './kubectl.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    controlPlane: ControlPlaneInfo;
  }
}

export default async function setup(project: TestProject) {
  const started = Date.now();
  const cp = await startControlPlane();
  const version = JSON.parse(await kubectl(cp.kubeconfig, 'version', '-o', 'json'));
  process.stderr.write(
    `test cluster ready at ${cp.server} in ${Date.now() - started} ms: kube-apiserver ${version.serverVersion.gitVersion}, kubectl ${version.clientVersion.gitVersion} (${controlPlaneAssets()}), ${cp.controllersMissing ? `no controllers: ${cp.controllersMissing}` : 'kube-controller-manager, kube-scheduler and 3 kwok nodes'}\n`,
  );
  project.provide('controlPlane', {
    server: cp.server,
    adminToken: cp.adminToken,
    caPem: cp.caPem,
    caFile: cp.caFile,
    kubeconfig: cp.kubeconfig,
    identities: cp.identities,
    controllersMissing: cp.controllersMissing,
  });
  return async () => {
    await cp.stop();
  };
}
