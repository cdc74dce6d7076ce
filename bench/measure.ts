/** Running and timing the tools, and the git repositories they read (shared by the bench files). */
import { execFile, spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { kubectlBinary } from '../test/support/control-plane.ts';
import type { RequestFigures } from './audit-log.ts';

export const exec = promisify(execFile);

export const log = (message: string) => process.stderr.write(`${message}\n`);

/** One run of a tool. */
export interface Run extends Partial<RequestFigures> {
  ms: number;
  requests: number;
  /** TCP connections the run opened to the API server (through the latency proxy). */
  connections?: number;
  peakRssMb?: number;
  exitCode: number;
}

/** Several runs of one command as one: times, requests and connections add up. */
export function sequence(runs: Run[]): Run {
  const sum = (pick: (r: Run) => number | undefined) => runs.reduce((total, r) => total + (pick(r) ?? 0), 0);
  const byVerb: Record<string, number> = {};
  for (const run of runs)
    for (const [verb, n] of Object.entries(run.byVerb ?? {})) byVerb[verb] = (byVerb[verb] ?? 0) + n;
  return {
    ms: sum((r) => r.ms),
    requests: sum((r) => r.requests),
    connections: sum((r) => r.connections),
    exitCode: Math.max(...runs.map((r) => r.exitCode)),
    byVerb,
    peakInFlight: Math.max(...runs.map((r) => r.peakInFlight ?? 0)),
    bursts: runs.flatMap((r) => r.bursts ?? []),
  };
}

/** Runs a command, returning wall time and, for the child process itself, its peak RSS. */
export async function measure(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Omit<Run, 'requests'>> {
  const started = performance.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let peakKb = 0;
  const stderr: string[] = [];
  child.stdout.resume();
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const poll = setInterval(async () => {
    try {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      if (kb > peakKb) peakKb = kb;
    } catch {
      // the process has exited
    }
  }, 10);
  const exitCode: number = await new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 2)));
  clearInterval(poll);
  const ms = performance.now() - started;
  // `kubectl diff` exits 1 when it found differences, which is an answer, not a failure.
  const ok = cmd === kubectlBinary() && args.includes('diff') ? exitCode <= 1 : exitCode === 0;
  if (!ok) log(`  ! ${cmd} ${args.slice(0, 3).join(' ')} exited ${exitCode}: ${stderr.join('').slice(-800)}`);
  return { ms, exitCode, peakRssMb: peakKb ? peakKb / 1024 : undefined };
}

export async function writeTree(dir: string, files: Record<string, string | null>) {
  for (const [path, content] of Object.entries(files)) {
    const full = join(dir, path);
    if (content === null) {
      await rm(full, { force: true });
      continue;
    }
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, content);
  }
}

export async function writeRepo(dir: string, files: Record<string, string>) {
  await exec('git', ['init', '--quiet', '--initial-branch=main', dir]);
  await commit(dir, files, 'app');
}

export async function commit(dir: string, files: Record<string, string | null>, message = 'change') {
  await writeTree(dir, files);
  await exec('git', ['-C', dir, 'add', '-A']);
  const author = ['-c', 'user.name=bench', '-c', 'user.email=bench@driftless.dev'];
  await exec('git', ['-C', dir, ...author, 'commit', '-qm', message]);
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
