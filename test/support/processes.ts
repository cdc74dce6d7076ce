/** Child processes of the test cluster: started with their output kept, stopped gracefully. */
import { type ChildProcess, spawn } from 'node:child_process';

/** Starts `bin`, keeping the last 200 chunks of its output in `logs` for error messages. */
export function spawnLogged(bin: string, args: string[], logs: string[]): ChildProcess {
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (chunk: Buffer) => {
    logs.push(chunk.toString());
    if (logs.length > 200) logs.splice(0, logs.length - 200);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  return proc;
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the process is gone. */
export async function terminate(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
