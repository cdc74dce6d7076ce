/**
 * One repetition over the generated app at the proxy's current latency: driftless (the CLI, a new
 * process each time, embedded history) and kubectl, each on its own copy of the same manifests
 * with names of their own (a clean namespace and CRD group each, so neither sees the other's
 * objects or waits for the other's deletions).
 */
import { join } from 'node:path';
import { kubectlBinary } from '../test/support/control-plane.ts';
import type { BenchCluster } from './bench-cluster.ts';
import { type BenchApp, generateApp } from './generate.ts';
import {
  type ColdPlan,
  kubectlApplyTree,
  kubectlColdApply,
  kubectlColdDryRunThenApply,
  kubectlDiffTree,
} from './kubectl-baseline.ts';
import {
  DRIFTLESS,
  KUBECTL_APPLY,
  KUBECTL_DIFF,
  KUBECTL_DRY_RUN_THEN_APPLY,
  type Samples,
} from './latency-table.ts';
import { commit, exec, type Run, writeRepo, writeTree } from './measure.ts';

export interface AppRunOptions {
  cluster: BenchCluster;
  work: string;
  objects: number;
  /** Part of every name, unique per latency and repetition. */
  suffix: string;
  /** `lambda/cli.ts` */
  cli: string;
}

export async function runGeneratedApp(options: AppRunOptions, samples: Samples): Promise<void> {
  const add = (operation: string, tool: string, run: Run) => {
    samples[operation] = { ...samples[operation], [tool]: [...(samples[operation]?.[tool] ?? []), run] };
  };
  await runDriftless(options, add);
  await runKubectl(options, add);
}

type Add = (operation: string, tool: string, run: Run) => void;

async function runDriftless({ cluster, work, objects, suffix, cli }: AppRunOptions, add: Add) {
  const app = generateApp(objects, `d${suffix}`);
  const repo = join(work, `repo-d${suffix}`);
  await writeRepo(repo, app.files);
  const history = `sqlite:${join(work, `history-d${suffix}.db`)}`;
  const sync = (extra: string[] = []) =>
    cluster.timed('driftless/', process.execPath, [
      cli,
      'sync',
      ...['--repo', repo, '--app', `bench-d${suffix}`, '--namespace', app.namespace],
      ...['--kubeconfig', cluster.kubeconfig, '--history', history, '--output', 'json'],
      ...extra,
    ]);
  add('cold sync', DRIFTLESS, await sync());
  add('no-op', DRIFTLESS, await sync());
  // Someone else writes one object outside Git (not measured: each timed run starts a new count).
  await exec(kubectlBinary(), [
    ...['--kubeconfig', cluster.kubeconfig, '-n', app.namespace, 'patch', 'configmap', 'cm-0'],
    ...['--type=merge', '-p', '{"data":{"owner":"someone-else"}}'],
  ]);
  add('drift + self-heal', DRIFTLESS, await sync(['--self-heal']));
  await commit(repo, changeOne(app));
  add('one-object change', DRIFTLESS, await sync());
  const pruned = app.configMapFiles.slice(-Math.floor(objects / 10));
  await commit(repo, Object.fromEntries(pruned.map((file) => [file, null])));
  add('prune 10%', DRIFTLESS, await sync(['--prune']));
}

async function runKubectl({ cluster, work, objects, suffix }: AppRunOptions, add: Add) {
  const app = generateApp(objects, `k${suffix}`);
  const dir = join(work, `kubectl-k${suffix}`);
  await writeTree(dir, app.files);
  add('cold sync', KUBECTL_APPLY, await kubectlColdApply(cluster, coldPlan(app, dir)));
  add('no-op', KUBECTL_DIFF, await kubectlDiffTree(cluster, dir));
  add('no-op', KUBECTL_APPLY, await kubectlApplyTree(cluster, dir));
  await writeTree(dir, changeOne(app));
  add('one-object change', KUBECTL_APPLY, await kubectlApplyTree(cluster, dir));

  // The all-or-nothing counterpart needs an empty cluster of its own: a third copy.
  const pair = generateApp(objects, `p${suffix}`);
  const pairDir = join(work, `kubectl-p${suffix}`);
  await writeTree(pairDir, pair.files);
  add(
    'cold sync',
    KUBECTL_DRY_RUN_THEN_APPLY,
    await kubectlColdDryRunThenApply(cluster, coldPlan(pair, pairDir)),
  );
}

/** The same one-line change in both tools' copies: one ConfigMap gets a new owner. */
function changeOne(app: BenchApp): Record<string, string> {
  const file = app.configMapFiles[1]!;
  return { [file]: app.files[file]!.replace('platform', 'team-b') };
}

function coldPlan(app: BenchApp, dir: string): ColdPlan {
  return {
    first: ['-f', join(dir, 'crd.yaml'), '-f', join(dir, 'namespace.yaml')],
    wait: ['--for=condition=established', `crd/widgets.${app.crdGroup}`, '--timeout=60s'],
    tree: dir,
  };
}
