/**
 * kube-prometheus as released (read from `../shared/realworld`, never copied into the repo):
 * driftless against kubectl at each latency, each tool on a control plane of its own (the same
 * objects keep the same names), in one run. kubectl gets its best case: the operator applies `setup/` (the CRDs),
 * waits for them to be Established, then applies the whole tree.
 */
import { existsSync } from 'node:fs';
import { cp as copy, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type BenchCluster, startBenchCluster } from './bench-cluster.ts';
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
  type LatencyFigures,
  latencyLines,
  roundTripLines,
  type Samples,
  summarizeLatency,
} from './latency-table.ts';
import { commit, exec, log, type Run } from './measure.ts';

export const REALWORLD_SET = 'kube-prometheus-v0.18.0';

export type RealworldFigures =
  | { set: string; skipped: string }
  | { set: string; files: number; latencies: LatencyFigures[] };

export interface RealworldOptions {
  /** The project's root: the set is read from `<root>/../shared/realworld`. */
  root: string;
  work: string;
  /** `lambda/cli.ts` */
  cli: string;
  latencies: number[];
}

export async function realworldFigures(options: RealworldOptions): Promise<RealworldFigures> {
  const files = join(options.root, '..', 'shared', 'realworld', REALWORLD_SET, 'files');
  if (!existsSync(files)) return { set: REALWORLD_SET, skipped: `${files} is absent` };
  const count = (await readdir(files, { recursive: true })).filter((f) => f.endsWith('.yaml')).length;
  const repo = join(options.work, 'realworld-repo');
  await copy(files, repo, { recursive: true });
  await exec('git', ['init', '--quiet', '--initial-branch=main', repo]);
  await commit(repo, {}, 'as released');
  const plan: ColdPlan = {
    first: ['-f', join(files, 'setup')],
    wait: ['--for=condition=established', 'crd', '--all', '--timeout=120s'],
    tree: files,
  };

  const latencies: LatencyFigures[] = [];
  for (const rttMs of options.latencies) {
    log(
      `realworld ${REALWORLD_SET} at +${rttMs} ms: driftless and kubectl, each on a control plane of its own ...`,
    );
    const once = (run: Run) => [run];
    const samples: Samples = { 'cold sync': {}, 'no-op': {} };
    await withCluster(options.work, `rw-d${rttMs}`, rttMs, async (cluster) => {
      const sync = () =>
        cluster.timed('driftless/', process.execPath, [
          options.cli,
          'sync',
          ...['--app', 'bench-kube-prometheus', '--repo', repo, '--kubeconfig', cluster.kubeconfig],
          ...[
            '--history',
            `sqlite:${join(options.work, `realworld-history-${rttMs}.db`)}`,
            '--output',
            'json',
          ],
        ]);
      samples['cold sync']![DRIFTLESS] = once(await sync());
      samples['no-op']![DRIFTLESS] = once(await sync());
    });
    await withCluster(options.work, `rw-k${rttMs}`, rttMs, async (cluster) => {
      samples['cold sync']![KUBECTL_APPLY] = once(await kubectlColdApply(cluster, plan));
      samples['no-op']![KUBECTL_DIFF] = once(await kubectlDiffTree(cluster, files));
      samples['no-op']![KUBECTL_APPLY] = once(await kubectlApplyTree(cluster, files));
    });
    await withCluster(options.work, `rw-p${rttMs}`, rttMs, async (cluster) => {
      samples['cold sync']![KUBECTL_DRY_RUN_THEN_APPLY] = once(
        await kubectlColdDryRunThenApply(cluster, plan),
      );
    });
    latencies.push(summarizeLatency(samples, rttMs));
  }
  return { set: REALWORLD_SET, files: count, latencies };
}

async function withCluster(
  work: string,
  name: string,
  rttMs: number,
  body: (cluster: BenchCluster) => Promise<void>,
): Promise<void> {
  const cluster = await startBenchCluster(work, name, rttMs);
  try {
    await body(cluster);
  } finally {
    await cluster.stop();
  }
}

export function realworldLines(figures: RealworldFigures): string[] {
  if ('skipped' in figures) return [`${figures.set}: skipped, ${figures.skipped}`];
  return [
    ...figures.latencies.flatMap((latency) => [
      '',
      ...latencyLines(
        latency,
        `${figures.set} (${figures.files} files, as released), +${latency.rttMs} ms round trip, one run each:`,
      ),
    ]),
    '',
    ...roundTripLines(figures.latencies),
  ];
}
