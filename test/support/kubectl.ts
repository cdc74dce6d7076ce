/** `kubectl` as an independent observer of the local control plane. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { kubectlBinary } from './control-plane.ts';

const exec = promisify(execFile);

/** Runs kubectl against `kubeconfig`; resolves with stdout, rejects with stderr in the message. */
export async function kubectl(kubeconfig: string, ...args: string[]): Promise<string> {
  try {
    const { stdout } = await exec(kubectlBinary(), ['--kubeconfig', kubeconfig, ...args], {
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const err = error as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(' ')} failed: ${err.stderr || err.message}`);
  }
}

/** Reads one object as JSON, or `undefined` when it does not exist. */
export async function kubectlGet(
  kubeconfig: string,
  kind: string,
  name: string,
  namespace?: string,
): Promise<Record<string, any> | undefined> {
  const args = ['get', kind, name, '-o', 'json', '--ignore-not-found'];
  if (namespace) args.push('-n', namespace);
  const out = await kubectl(kubeconfig, ...args);
  return out.trim() ? JSON.parse(out) : undefined;
}
