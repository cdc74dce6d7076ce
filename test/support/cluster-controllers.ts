/**
 * What turns the bare API server into a cluster: kube-controller-manager (Namespaces finalized,
 * garbage collection, Deployments to ReplicaSets to Pods, Jobs, RBAC aggregation), kube-scheduler,
 * and kwok simulating nodes (Pods scheduled there run, become Ready and complete; an image named
 * `registry.invalid/never-pulls:*` never pulls, see kwok-stages.yaml).
 *
 * The binaries are looked up beside kube-apiserver (`KUBEBUILDER_ASSETS` or the install script's
 * cache), then in the cache. When one is missing the cluster runs without controllers and says
 * why: tests that need them skip, naming the reason.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { kubectl } from './kubectl.ts';
import { spawnLogged } from './processes.ts';

const here = dirname(fileURLToPath(import.meta.url));

export interface ControllerBinaries {
  controllerManager: string;
  scheduler: string;
  kwok: string;
  /** kwok's released node and Pod stages, assembled by the install script. */
  stages: string;
}

/** The controllers' binaries, or why they cannot run. */
export function findControllers(folders: string[]): ControllerBinaries | { missing: string } {
  const find = (name: string) => folders.map((folder) => join(folder, name)).find((path) => existsSync(path));
  const found = {
    controllerManager: find('kube-controller-manager'),
    scheduler: find('kube-scheduler'),
    kwok: find('kwok'),
    stages: find('kwok-stages.yaml'),
  };
  const missing = Object.entries(found)
    .filter(([, path]) => !path)
    .map(([name]) => name);
  if (missing.length > 0) {
    return {
      missing: `no ${missing.join(', ')} in ${folders.join(' or ')}: run \`npm run control-plane\` (without DRIFTLESS_NO_CONTROLLERS=1) to build them`,
    };
  }
  return found as ControllerBinaries;
}

export interface ControllersContext {
  binaries: ControllerBinaries;
  /** Working folder of this cluster (kubeconfig, keys, kwok config). */
  dir: string;
  adminKubeconfig: string;
  caFile: string;
  serviceAccountKey: string;
  logs: string[];
  /** Simulated nodes. @default 3 */
  nodes?: number;
}

/** Starts the three processes, registers the nodes and waits until they are Ready. */
export async function startControllers(context: ControllersContext): Promise<ChildProcess[]> {
  const { binaries, dir, adminKubeconfig, logs } = context;
  const kwokConfig = join(dir, 'kwok.yaml');
  await writeFile(
    kwokConfig,
    `${await readFile(binaries.stages, 'utf8')}\n---\n${await readFile(join(here, 'kwok-stages.yaml'), 'utf8')}`,
  );
  const processes = [
    spawnLogged(
      binaries.controllerManager,
      [
        `--kubeconfig=${adminKubeconfig}`,
        '--leader-elect=false',
        '--secure-port=0',
        `--root-ca-file=${context.caFile}`,
        `--service-account-private-key-file=${context.serviceAccountKey}`,
        // A Deployment's Pods and a Job's Pod follow each other quickly in the tests.
        '--concurrent-deployment-syncs=10',
        '--v=0',
      ],
      logs,
    ),
    spawnLogged(
      binaries.scheduler,
      [`--kubeconfig=${adminKubeconfig}`, '--leader-elect=false', '--secure-port=0', '--v=0'],
      logs,
    ),
    spawnLogged(
      binaries.kwok,
      [
        `--kubeconfig=${adminKubeconfig}`,
        `--config=${kwokConfig}`,
        '--manage-all-nodes=true',
        '--cidr=10.244.0.0/16',
        '--node-ip=10.96.0.1',
        '--node-lease-duration-seconds=40',
      ],
      logs,
    ),
  ];
  const nodes = Array.from({ length: context.nodes ?? 3 }, (_, i) => fakeNode(`kwok-node-${i}`));
  await writeFile(join(dir, 'nodes.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: nodes }));
  await kubectl(adminKubeconfig, 'create', '-f', join(dir, 'nodes.json'));
  await waitFor('kwok nodes Ready', logs, processes, async () => {
    const out = await kubectl(
      adminKubeconfig,
      'get',
      'nodes',
      '-o',
      'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}',
    );
    return out.split(' ').filter((s) => s === 'True').length === nodes.length;
  });
  // The aggregation controller fills the built-in `edit` and `admin` roles the identities use.
  await waitFor('aggregated ClusterRole edit', logs, processes, async () => {
    const out = await kubectl(
      adminKubeconfig,
      'get',
      'clusterrole',
      'edit',
      '-o',
      'jsonpath={.rules[*].verbs}',
    );
    return out.includes('create');
  });
  return processes;
}

function fakeNode(name: string) {
  const resources = { cpu: '32', memory: '256Gi', pods: '110' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'node-role.kubernetes.io/agent': '',
        type: 'kwok',
      },
    },
    status: { allocatable: resources, capacity: resources },
  };
}

async function waitFor(
  what: string,
  logs: string[],
  processes: ChildProcess[],
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const exited = processes.find((proc) => proc.exitCode !== null);
    if (exited)
      throw new Error(`${exited.spawnfile} exited with ${exited.exitCode}:\n${logs.slice(-30).join('')}`);
    if (await check().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`the test cluster: ${what} not reached in ${timeoutMs} ms:\n${logs.slice(-30).join('')}`);
}
