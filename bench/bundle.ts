/** The Lambda bundle as the benchmark measures it (shared by `run.ts` and `render.ts`). */
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The Lambda bundle as `PullAgent` builds it (AWS SDK bundled, client-node left out: the Lambda
 * never reads a kubeconfig), and with the AWS SDK left to the runtime as well.
 */
export async function bundleSize(): Promise<{ deployedBytes: number; sdkExternalBytes: number }> {
  const size = async (external: string[]) => {
    const out = join(tmpdir(), `driftless-bundle-${external.length}-${process.pid}.mjs`);
    await build({
      entryPoints: [join(root, 'lambda/handler.ts')],
      bundle: true,
      minify: true,
      platform: 'node',
      format: 'esm',
      target: 'node24',
      outfile: out,
      external,
      logLevel: 'error',
      banner: {
        js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
      },
    });
    const bytes = (await stat(out)).size;
    await rm(out, { force: true });
    return bytes;
  };
  return {
    deployedBytes: await size(['@kubernetes/client-node']),
    sdkExternalBytes: await size(['@kubernetes/client-node', '@aws-sdk/*']),
  };
}
