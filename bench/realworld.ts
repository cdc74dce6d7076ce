/**
 * kube-prometheus as released (read from `../shared/realworld`, never copied into the repo):
 * driftless against kubectl, each on a control plane of its own (the same objects keep the same
 * names, and a deleted Namespace never finishes terminating without controllers), in one run.
 * kubectl gets its best case: the operator applies `setup/` (the CRDs), waits for them to be
 * Established, then applies the whole tree.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type ControlPlane, kubectlBinary, startControlPlane } from '../test/support/control-plane.ts';

export const REALWORLD_SET = 'kube-prometheus-v0.18.0';

export interface RealworldRun {
  ms: number;
  requests: number;
  exitCode: number;
}

export interface RealworldFigures {
  set: string;
  files: number;
  operations: Record<string, RealworldRun>;
  ratios: Record<string, number>;
}

export interface RealworldDeps {
  /** Runs a command; the wall time and exit code. */
  measure(cmd: string, args: string[]): Promise<{ ms: number; exitCode: number }>;
  /** A git repository holding a copy of `from`. */
  repoOf(from: string, to: string): Promise<void>;
  /** Requests in the audit log by User-Agent prefix, since the previous call. */
  requestCounter(auditLog: string): (agent: string) => Promise<number>;
  work: string;
  cli: string;
}

export async function realworldFigures(root: string, deps: RealworldDeps): Promise<RealworldFigures> {
  const files = join(root, '..', 'shared', 'realworld', REALWORLD_SET, 'files');
  const count = (await readdir(files, { recursive: true })).filter((f) => f.endsWith('.yaml')).length;
  const operations: Record<string, RealworldRun> = {};

  await withControlPlane(deps, 'driftless', async (cp, timed) => {
    const repo = join(deps.work, 'realworld-repo');
    await deps.repoOf(files, repo);
    const sync = () =>
      timed('driftless/', process.execPath, [
        deps.cli,
        'sync',
        '--app',
        'bench-kube-prometheus',
        '--repo',
        repo,
        '--kubeconfig',
        cp.kubeconfig,
        '--history',
        `sqlite:${join(deps.work, 'realworld-history.db')}`,
        '--output',
        'json',
      ]);
    operations['driftless cold sync'] = await sync();
    operations['driftless no-op sync'] = await sync();
  });

  await withControlPlane(deps, 'kubectl', async (cp, timed) => {
    const kubectl = (args: string[]) =>
      timed('kubectl/', kubectlBinary(), ['--kubeconfig', cp.kubeconfig, ...args]);
    const steps = [
      await kubectl(['apply', '--server-side', '-f', join(files, 'setup')]),
      await kubectl(['wait', '--for=condition=established', 'crd', '--all', '--timeout=120s']),
      await kubectl(['apply', '--server-side', '-R', '-f', files]),
    ];
    operations['kubectl apply --server-side (cold)'] = {
      ms: steps.reduce((sum, s) => sum + s.ms, 0),
      requests: steps.reduce((sum, s) => sum + s.requests, 0),
      exitCode: Math.max(...steps.map((s) => s.exitCode)),
    };
    operations['kubectl apply --server-side (no-op)'] = await kubectl([
      'apply',
      '--server-side',
      '-R',
      '-f',
      files,
    ]);
    operations['kubectl diff --server-side (no-op)'] = await kubectl([
      'diff',
      '--server-side',
      '-R',
      '-f',
      files,
    ]);
  });

  const ms = (name: string) => operations[name]?.ms ?? Number.NaN;
  const ratio = (a: string, b: string) => Number((ms(a) / ms(b)).toFixed(3));
  return {
    set: REALWORLD_SET,
    files: count,
    operations,
    ratios: {
      'cold sync / kubectl apply --server-side (cold)': ratio(
        'driftless cold sync',
        'kubectl apply --server-side (cold)',
      ),
      'no-op sync / kubectl diff --server-side': ratio(
        'driftless no-op sync',
        'kubectl diff --server-side (no-op)',
      ),
    },
  };
}

type Timed = (agent: string, cmd: string, args: string[]) => Promise<RealworldRun>;

async function withControlPlane(
  deps: RealworldDeps,
  name: string,
  body: (cp: ControlPlane, timed: Timed) => Promise<void>,
): Promise<void> {
  const auditLog = join(deps.work, `realworld-${name}-audit.log`);
  const cp = await startControlPlane({ auditLogPath: auditLog });
  const requestsSince = deps.requestCounter(auditLog);
  const timed: Timed = async (agent, cmd, args) => {
    await requestsSince(''); // move the mark
    const run = await deps.measure(cmd, args);
    return { ...run, requests: await requestsSince(agent) };
  };
  try {
    await body(cp, timed);
  } finally {
    await cp.stop();
  }
}

export function realworldLines(figures: RealworldFigures): string[] {
  return [
    `${figures.set} (${figures.files} files, as released):`,
    ...Object.entries(figures.operations).map(
      ([name, run]) =>
        `  ${name}: ${Math.round(run.ms)} ms, ${run.requests} requests${run.exitCode > 1 ? ` (exit ${run.exitCode})` : ''}`,
    ),
    ...Object.entries(figures.ratios).map(([name, value]) => `  ${name}: ${value}`),
  ];
}
