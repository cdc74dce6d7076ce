/**
 * Runs a renderer (`kubectl kustomize`, `helm template`) as a child process, on a short leash:
 * a timeout, a memory and a CPU-time bound (past any of them the whole process group is killed),
 * a bound on what it may print, the checkout as its working folder, and an environment built
 * from nothing: no AWS credentials, tokens or Git credentials from ours, a throwaway HOME, and
 * (unless the app opts in) a proxy that goes nowhere, so no network fetch can succeed.
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { errorLines } from './error-text.ts';
import { watchResources } from './resource-watch.ts';

export interface RunToolInput {
  binary: string;
  args: string[];
  /** Working folder: the repository checkout. */
  cwd: string;
  /** A folder of this render's own, for HOME and the tools' caches. */
  home: string;
  timeoutMs: number;
  /** Resident memory of the tool's process group, in bytes. */
  maxMemoryBytes: number;
  /** CPU time (user + system) of the tool's process group, in seconds. */
  maxCpuSeconds: number;
  /** Most bytes of standard output. */
  maxOutputBytes: number;
  /** Let the tool reach the network (remote Kustomize bases). @default false */
  network?: boolean;
}

export type ToolFailure =
  | { reason: 'exit'; code: number | null; signal: NodeJS.Signals | null; errorLines: string[] }
  | { reason: 'timeout' }
  | { reason: 'output' }
  | { reason: 'memory'; peakBytes: number }
  | { reason: 'cpu'; cpuSeconds: number }
  | { reason: 'spawn'; message: string };

export class ToolError extends Error {
  override name = 'ToolError';
  readonly failure: ToolFailure;
  /**
   * The tool's whole standard error (up to 64 KiB), unredacted: for `driftless render` to show
   * its user, never stored or logged. Not enumerable, so no logger or JSON serialises it.
   */
  declare readonly stderr: string;
  constructor(failure: ToolFailure, stderr = '') {
    super(failure.reason);
    this.failure = failure;
    Object.defineProperty(this, 'stderr', { value: stderr, enumerable: false });
  }
}

const MAX_STDERR_BYTES = 64 * 1024;
/** A port nothing listens on: every proxied request is refused at once. */
const NO_NETWORK_PROXY = 'http://127.0.0.1:9';
/**
 * `ulimit -t` for the kernel to enforce, then the tool in place of the shell (same pid). Best
 * effort: the watchdog enforces the same bound; this one also holds when our event loop stalls.
 */
const WITH_CPU_LIMIT = 'ulimit -t "$1" 2>/dev/null; shift; exec "$@"';
/** Go's soft memory limit, as a share of ours: its collector works harder before we kill. */
const GO_MEMORY_SHARE = 0.85;

/** Resolves with standard output; rejects with {@link ToolError}. */
export async function runTool(input: RunToolInput): Promise<string> {
  const env = await toolEnvironment(input.home, input.network ?? false);
  env.GOMEMLIMIT = String(Math.floor(input.maxMemoryBytes * GO_MEMORY_SHARE));
  // A second over the watchdog's bound: the watchdog (which names the limit) normally acts first.
  const kernelCpuSeconds = String(Math.ceil(input.maxCpuSeconds) + 1);
  return new Promise((resolve, reject) => {
    const child = spawn(
      '/bin/sh',
      ['-c', WITH_CPU_LIMIT, 'driftless-render', kernelCpuSeconds, input.binary, ...input.args],
      {
        cwd: input.cwd,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        // Its own process group, so a limit also ends what it started (git for remote bases).
        detached: true,
      },
    );
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = '';
    let failure: ToolFailure | undefined;
    const stop = (why: ToolFailure) => {
      failure ??= why;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(() => stop({ reason: 'timeout' }), input.timeoutMs);
    const watch = child.pid
      ? watchResources(
          child.pid,
          { maxMemoryBytes: input.maxMemoryBytes, maxCpuSeconds: input.maxCpuSeconds },
          stop,
        )
      : undefined;
    const settle = () => {
      clearTimeout(timer);
      watch?.stop();
    };
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.byteLength;
      if (stdoutBytes > input.maxOutputBytes) stop({ reason: 'output' });
      else stdout.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < MAX_STDERR_BYTES) stderr += chunk.toString('utf8');
    });
    child.on('error', (error) => {
      settle();
      reject(new ToolError(failure ?? { reason: 'spawn', message: error.message }));
    });
    child.on('close', (code, signal) => {
      settle();
      // The kernel's CPU limit (SIGXCPU, or SIGKILL at the hard limit) when the watchdog was late.
      const cpuKilled =
        (signal === 'SIGXCPU' || signal === 'SIGKILL') &&
        (watch?.cpuSeconds() ?? 0) >= input.maxCpuSeconds - 1;
      if (!failure && cpuKilled) failure = { reason: 'cpu', cpuSeconds: watch?.cpuSeconds() ?? 0 };
      if (failure) reject(new ToolError(failure, stderr));
      else if (code !== 0)
        reject(new ToolError({ reason: 'exit', code, signal, errorLines: errorLines(stderr) }, stderr));
      else resolve(Buffer.concat(stdout).toString('utf8'));
    });
  });
}

async function toolEnvironment(home: string, network: boolean): Promise<NodeJS.ProcessEnv> {
  const helm = join(home, 'helm');
  await mkdir(helm, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    KUBECONFIG: join(home, 'no-kubeconfig'),
    HELM_CACHE_HOME: join(helm, 'cache'),
    HELM_CONFIG_HOME: join(helm, 'config'),
    HELM_DATA_HOME: join(helm, 'data'),
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
  };
  if (!network) {
    for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'ALL_PROXY'])
      env[name] = NO_NETWORK_PROXY;
    env.NO_PROXY = '';
    env.no_proxy = '';
  }
  return env;
}
