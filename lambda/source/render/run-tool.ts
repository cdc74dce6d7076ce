/**
 * Runs a renderer (`kubectl kustomize`, `helm template`) as a child process, on a short leash:
 * a timeout (the whole process group is killed), a bound on what it may print, the checkout as
 * its working folder, and an environment built from nothing: no AWS credentials, tokens or Git
 * credentials from ours, a throwaway HOME, and (unless the app opts in) a proxy that goes
 * nowhere, so no network fetch can succeed.
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { redactCredentialsIn } from '../errors.ts';

export interface RunToolInput {
  binary: string;
  args: string[];
  /** Working folder: the repository checkout. */
  cwd: string;
  /** A folder of this render's own, for HOME and the tools' caches. */
  home: string;
  timeoutMs: number;
  /** Most bytes of standard output. */
  maxOutputBytes: number;
  /** Let the tool reach the network (remote Kustomize bases). @default false */
  network?: boolean;
}

export type ToolFailure =
  | { reason: 'exit'; code: number | null; signal: NodeJS.Signals | null; errorLines: string[] }
  | { reason: 'timeout' }
  | { reason: 'output' }
  | { reason: 'spawn'; message: string };

export class ToolError extends Error {
  override name = 'ToolError';
  readonly failure: ToolFailure;
  constructor(failure: ToolFailure) {
    super(failure.reason);
    this.failure = failure;
  }
}

/** How many lines of the tool's standard error go into the run's error. */
const ERROR_LINES = 6;
const MAX_ERROR_LINE = 400;
const MAX_STDERR_BYTES = 64 * 1024;
/** A port nothing listens on: every proxied request is refused at once. */
const NO_NETWORK_PROXY = 'http://127.0.0.1:9';

/** Resolves with standard output; rejects with {@link ToolError}. */
export async function runTool(input: RunToolInput): Promise<string> {
  const env = await toolEnvironment(input.home, input.network ?? false);
  return new Promise((resolve, reject) => {
    const child = spawn(input.binary, input.args, {
      cwd: input.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so a timeout also ends what it started (git for remote bases).
      detached: true,
    });
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
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.byteLength;
      if (stdoutBytes > input.maxOutputBytes) stop({ reason: 'output' });
      else stdout.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < MAX_STDERR_BYTES) stderr += chunk.toString('utf8');
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new ToolError(failure ?? { reason: 'spawn', message: error.message }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure) reject(new ToolError(failure));
      else if (code !== 0)
        reject(new ToolError({ reason: 'exit', code, signal, errorLines: errorLines(stderr) }));
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

/** The first error lines, redacted: the run record and the log keep them. Kustomize's deprecation warnings would crowd out the error. */
function errorLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('# Warning:'))
    .slice(0, ERROR_LINES)
    .map((line) => redactToolLine(line).slice(0, MAX_ERROR_LINE));
}

/**
 * A renderer's error may quote the object it choked on. Credentials in URLs, anything after a
 * `data`/`stringData` key (Secret values), and long opaque tokens (base64, keys) are masked.
 */
export function redactToolLine(line: string): string {
  return redactCredentialsIn(line)
    .replace(/\b(stringData|data)\b(["']?\s*[:=]|:map\[|":\{)(.*)$/, '$1$2 ***')
    .replace(/[A-Za-z0-9+/_-]{24,}={0,2}/g, (token) => (isOpaque(token) ? '***' : token));
}

/** Digits, upper and lower case together: a key or base64, not a file path or a commit. */
function isOpaque(token: string): boolean {
  return /\d/.test(token) && /[A-Z]/.test(token) && /[a-z]/.test(token);
}
