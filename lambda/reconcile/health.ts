/**
 * Health of live objects, after kstatus (sigs.k8s.io/cli-utils/pkg/kstatus): a controller that
 * has not observed the latest generation is still Progressing; workloads compare replica counts;
 * anything else reads its Ready/Available/Stalled conditions. Objects without status rules are
 * Healthy. `waitForHealth` re-reads Progressing objects until they settle or the bound passes.
 */
import type { ResourceInfo } from '../cluster/discovery.ts';
import type { KubeClient } from '../cluster/kube-client.ts';
import { getObject, kindKey, listOwned } from './live.ts';
import type { Health, KubeObject } from './types.ts';

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
}

type Status = Record<string, unknown> & { conditions?: Condition[]; observedGeneration?: number };

/** Worst first is last: Unknown ranks worst, as in Argo CD's health order. */
const ORDER: Health[] = ['Healthy', 'Progressing', 'Degraded', 'Unknown'];

/** The worst of several healths (`Healthy` for none). */
export function worstHealth(healths: Iterable<Health | undefined>): Health {
  let worst: Health = 'Healthy';
  for (const h of healths) if (h && ORDER.indexOf(h) > ORDER.indexOf(worst)) worst = h;
  return worst;
}

function condition(status: Status, type: string): Condition | undefined {
  return status.conditions?.find((c) => c.type === type);
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

/** Health of one live object. */
export function healthOf(object: KubeObject): Health {
  const spec = (object.spec ?? {}) as Record<string, unknown>;
  const status = object.status as Status | undefined;
  const generation = object.metadata.generation as number | undefined;
  const kind = object.kind;
  const workload = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(kind);
  // A Job without status has not started (kstatus: InProgress).
  if (kind === 'Job' && !status?.conditions?.length) return jobHealth(spec, status ?? {});

  if (!status || Object.keys(status).length === 0) {
    // A controller-managed workload without status has not been picked up yet.
    return workload ? 'Progressing' : 'Healthy';
  }
  if (
    generation !== undefined &&
    status.observedGeneration !== undefined &&
    status.observedGeneration < generation
  ) {
    return 'Progressing';
  }
  if (workload && generation !== undefined && status.observedGeneration === undefined) return 'Progressing';

  switch (kind) {
    case 'Deployment': {
      if (condition(status, 'Progressing')?.reason === 'ProgressDeadlineExceeded') return 'Degraded';
      const replicas = spec.replicas === undefined ? 1 : num(spec.replicas);
      if (num(status.updatedReplicas) < replicas) return 'Progressing';
      if (num(status.replicas) > num(status.updatedReplicas)) return 'Progressing';
      if (num(status.availableReplicas) < replicas) return 'Progressing';
      if (condition(status, 'Available')?.status === 'False') return 'Progressing';
      return 'Healthy';
    }
    case 'StatefulSet': {
      const replicas = spec.replicas === undefined ? 1 : num(spec.replicas);
      if (num(status.readyReplicas) < replicas) return 'Progressing';
      const strategy = (spec.updateStrategy as { type?: string } | undefined)?.type ?? 'RollingUpdate';
      if (
        strategy === 'RollingUpdate' &&
        status.updateRevision &&
        status.currentRevision !== status.updateRevision
      ) {
        return 'Progressing';
      }
      return 'Healthy';
    }
    case 'ReplicaSet': {
      const replicas = spec.replicas === undefined ? 1 : num(spec.replicas);
      return num(status.availableReplicas) < replicas ? 'Progressing' : 'Healthy';
    }
    case 'DaemonSet': {
      const desired = num(status.desiredNumberScheduled);
      if (num(status.updatedNumberScheduled) < desired || num(status.numberAvailable) < desired)
        return 'Progressing';
      return 'Healthy';
    }
    case 'Pod': {
      if (status.phase === 'Failed') return 'Degraded';
      if (status.phase === 'Succeeded') return 'Healthy';
      return status.phase === 'Running' && condition(status, 'Ready')?.status === 'True'
        ? 'Healthy'
        : 'Progressing';
    }
    case 'Job':
      return jobHealth(spec, status);
    case 'PersistentVolumeClaim':
      return status.phase === 'Bound' ? 'Healthy' : 'Progressing';
    case 'Namespace':
      return status.phase === 'Terminating' ? 'Progressing' : 'Healthy';
    case 'CustomResourceDefinition':
      if (condition(status, 'NamesAccepted')?.status === 'False') return 'Degraded';
      return condition(status, 'Established')?.status === 'True' ? 'Healthy' : 'Progressing';
    case 'Service': {
      if (spec.type !== 'LoadBalancer') return 'Healthy';
      const ingress = (status.loadBalancer as { ingress?: unknown[] } | undefined)?.ingress ?? [];
      return ingress.length > 0 ? 'Healthy' : 'Progressing';
    }
  }
  // Generic kstatus conditions for everything else, custom resources included.
  if (condition(status, 'Stalled')?.status === 'True') return 'Degraded';
  if (condition(status, 'Reconciling')?.status === 'True') return 'Progressing';
  const ready = condition(status, 'Ready') ?? condition(status, 'Available');
  if (ready?.status === 'False') return 'Progressing';
  return 'Healthy';
}

/**
 * A Job is Healthy once Complete (or suspended: it will not run until resumed), Degraded once
 * Failed, and Progressing while it runs or waits to start (kstatus and Argo CD agree).
 */
function jobHealth(spec: Record<string, unknown>, status: Status): Health {
  if (condition(status, 'Failed')?.status === 'True') return 'Degraded';
  if (condition(status, 'Complete')?.status === 'True') return 'Healthy';
  if (spec.suspend === true || condition(status, 'Suspended')?.status === 'True') return 'Healthy';
  return 'Progressing';
}

/** An object to watch: where to read it and its last known state. */
export interface HealthTarget {
  /** `refKey` of the object. */
  key: string;
  info: ResourceInfo;
  object: KubeObject;
}

/**
 * Re-reads Progressing targets until none is Progressing or `timeoutMs` passes; returns each
 * target's final health in order. Each poll is one labelled LIST per kind still progressing
 * (a GET per object only where listing is not allowed). With `timeoutMs` 0 it only evaluates
 * what it was given.
 */
export async function waitForHealth(
  kube: KubeClient,
  targets: HealthTarget[],
  options: { app: string; timeoutMs: number; intervalMs?: number },
): Promise<Health[]> {
  const deadline = Date.now() + options.timeoutMs;
  const healths = targets.map((t) => healthOf(t.object));
  while (healths.includes('Progressing') && Date.now() < deadline) {
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(options.intervalMs ?? 1000, Math.max(0, deadline - Date.now()))),
    );
    const waiting = targets.filter((_, i) => healths[i] === 'Progressing');
    const live = await listOwned(
      kube,
      waiting.map((t) => t.info),
      options.app,
    );
    await Promise.all(
      targets.map(async (target, i) => {
        if (healths[i] !== 'Progressing') return;
        let object = live.objects.get(target.key);
        if (!object && !live.listed.has(kindKey(target.info))) {
          const got = await getObject(kube, target.info, {
            apiVersion: target.info.apiVersion,
            kind: target.info.kind,
            name: target.object.metadata.name,
            namespace: target.object.metadata.namespace,
          });
          object = got.ok ? got.object : undefined;
        }
        healths[i] = object ? healthOf(object) : 'Unknown';
      }),
    );
  }
  return healths;
}
