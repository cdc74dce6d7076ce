/**
 * What the benchmark compares driftless with: kubectl, run the way a careful operator runs it.
 * A cold sync gets kubectl's best case: the CRDs and Namespaces first, `wait` until the CRDs are
 * Established, then the whole tree. Its all-or-nothing counterpart runs the server-side dry run
 * of each step before that step's apply (kubectl cannot dry-run custom resources whose CRD does
 * not exist yet, so the CRD step is written before the rest is checked: the closest it gets).
 */
import type { BenchCluster } from './bench-cluster.ts';
import { type Run, sequence } from './measure.ts';

export interface ColdPlan {
  /** `-f` arguments of the first step: CRDs and Namespaces. */
  first: string[];
  /** `kubectl wait` arguments that hold until the first step's CRDs are Established. */
  wait: string[];
  /** The whole tree. */
  tree: string;
}

const apply = ['apply', '--server-side'];

/** `kubectl apply --server-side` of the first step, `wait`, then the tree. */
export async function kubectlColdApply(cluster: BenchCluster, plan: ColdPlan): Promise<Run> {
  return sequence([
    await cluster.kubectl([...apply, ...plan.first]),
    await cluster.kubectl(['wait', ...plan.wait]),
    await cluster.kubectl([...apply, '-R', '-f', plan.tree]),
  ]);
}

/** The same with `--dry-run=server` of each step before its apply. */
export async function kubectlColdDryRunThenApply(cluster: BenchCluster, plan: ColdPlan): Promise<Run> {
  return sequence([
    await cluster.kubectl([...apply, '--dry-run=server', ...plan.first]),
    await cluster.kubectl([...apply, ...plan.first]),
    await cluster.kubectl(['wait', ...plan.wait]),
    await cluster.kubectl([...apply, '--dry-run=server', '-R', '-f', plan.tree]),
    await cluster.kubectl([...apply, '-R', '-f', plan.tree]),
  ]);
}

/** `kubectl apply --server-side -R -f tree`, e.g. after one file changed, or with nothing to do. */
export function kubectlApplyTree(cluster: BenchCluster, tree: string): Promise<Run> {
  return cluster.kubectl([...apply, '-R', '-f', tree]);
}

/** `kubectl diff --server-side -R -f tree`: how kubectl finds out that nothing changed. */
export function kubectlDiffTree(cluster: BenchCluster, tree: string): Promise<Run> {
  return cluster.kubectl(['diff', '--server-side', '-R', '-f', tree]);
}
