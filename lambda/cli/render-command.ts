/**
 * `driftless render`: prints the objects an app's folder yields (plain manifests, or what
 * Kustomize or Helm render), as YAML, like `kustomize build` or `flux build`. Secret values are
 * masked unless `--show-secrets`. A Helm chart renders for the cluster of the kubeconfig
 * (`.Capabilities`), or with Helm's defaults when `--offline`. When the renderer fails, its full
 * error output is shown here (runs, logs and events keep only its first lines, masked).
 */
import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import { clusterCapabilities } from '../cluster/capabilities.ts';
import { connectCluster } from '../cluster/target.ts';
import type { KubeObject } from '../reconcile/types.ts';
import { renderErrorDetail } from '../source/render/render.ts';
import { RENDER_MODES } from '../source/render/settings.ts';
import { loadSource, type RenderMode, stateCacheKey } from '../source/source.ts';
import { gitCacheDir } from './locations.ts';
import { renderFailureText } from './render.ts';
import { stderrLogger } from './stderr-logger.ts';

/** `--render`, shared by `sync`, `plan` and `render`. */
export function renderOption(): Option {
  return new Option('--render <mode>', 'plain manifests, kustomize or helm (default: auto-detect)').choices(
    RENDER_MODES,
  );
}

interface RenderCommandOptions {
  repo: string;
  ref?: string;
  path: string;
  app: string;
  namespace: string;
  render?: RenderMode;
  kubeconfig?: string;
  context?: string;
  offline?: boolean;
  showSecrets?: boolean;
}

export function renderCommand(): Command {
  return new Command('render')
    .description('print the objects an app would apply, as YAML (Secret values masked)')
    .requiredOption('--repo <url|path>', 'Git repository: https URL or local path')
    .option('--ref <ref>', 'branch, tag or commit (default: the remote HEAD)')
    .option('--path <dir>', 'folder inside the repository', '.')
    .option('--app <name>', 'app name: the Helm release name', 'release')
    .option('--namespace <ns>', "the app's namespace (Helm's --namespace)", 'default')
    .addOption(renderOption())
    .option('--kubeconfig <file>', 'cluster whose version and API versions a Helm chart sees')
    .option('--context <name>', 'kubeconfig context (default: current-context)')
    .option('--offline', "render Helm charts with Helm's default capabilities, without a cluster")
    .option('--show-secrets', 'print Secret values instead of ***')
    .action(async (options: RenderCommandOptions) => {
      const cacheDir = gitCacheDir();
      const target = {
        type: 'kubeconfig' as const,
        kubeconfig: options.kubeconfig,
        context: options.context,
      };
      const source = await loadSource(
        {
          repo: options.repo,
          ref: options.ref,
          path: options.path,
          app: options.app,
          render: { mode: options.render ?? 'auto', namespace: options.namespace },
        },
        {
          cacheDir,
          cacheKey: stateCacheKey,
          logger: stderrLogger(),
          capabilities: options.offline
            ? undefined
            : async () => clusterCapabilities(await connectCluster(target)),
        },
      ).catch(async (error: unknown) => {
        const detail = renderErrorDetail(error);
        if (detail) await writeStderr(renderFailureText(detail));
        throw error;
      });
      const documents = source.objects.map(({ object }) =>
        stringify(options.showSecrets ? object : maskSecret(object), { lineWidth: 0 }),
      );
      const text = documents.map((document) => `---\n${document}`).join('');
      await new Promise<void>((resolve, reject) =>
        process.stdout.write(text, (error) => (error ? reject(error) : resolve())),
      );
    });
}

/** The person running `render` sees the renderer's whole error output; nothing else keeps it. */
function writeStderr(text: string): Promise<void> {
  return new Promise((resolve, reject) =>
    process.stderr.write(text, (error) => (error ? reject(error) : resolve())),
  );
}

/** A copy of a Secret with every `data`/`stringData` value replaced by `***`, keys kept. */
function maskSecret(object: KubeObject): KubeObject {
  if (object.kind !== 'Secret' || object.apiVersion !== 'v1') return object;
  const masked: KubeObject = { ...object };
  for (const field of ['data', 'stringData'] as const) {
    const values = object[field];
    if (values && typeof values === 'object')
      masked[field] = Object.fromEntries(Object.keys(values).map((key) => [key, '***']));
  }
  return masked;
}
