/** `driftless` as users run it: a child process on Node 24 from node_modules/.bin. */
import { spawn } from 'node:child_process';
import { delimiter, join, resolve } from 'node:path';

export const projectRoot = resolve(import.meta.dirname, '..', '..');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node lambda/cli.ts ...args` in the project root, or `command` with `args` as given (e.g.
 * the file itself, through its shebang).
 */
export function runDriftless(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  command = 'node',
  /** The working folder of the run. @default the project root */
  cwd = projectRoot,
): Promise<CliRun> {
  return new Promise((resolveRun, reject) => {
    const cli = join(projectRoot, 'lambda', 'cli.ts');
    const child = spawn(command, command === 'node' ? [cli, ...args] : args, {
      cwd,
      env: {
        ...process.env,
        PATH: `${join(projectRoot, 'node_modules', '.bin')}${delimiter}${process.env.PATH}`,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code: code ?? -1, stdout, stderr }));
  });
}
