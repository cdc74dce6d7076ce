/**
 * `driftless sync|plan --config FILE --app NAME`: one app of the deploy config, run from the
 * command line. The file gives the settings (and the scope, as the Lambda would run it); a flag
 * given on the command line overrides only the setting it names.
 */
import {
  appRenderOptions,
  appScope,
  ConfigError,
  type KubeconfigConfig,
  loadConfigFile,
  loadKubeconfigConfigFile,
} from '../config.ts';
import type { AppScope } from '../reconcile/types.ts';
import type { RenderOptions } from '../source/render/render.ts';

/** An app's settings as the CLI uses them; `cluster` is absent only for a kubeconfig target. */
export interface ConfiguredApp {
  app: KubeconfigConfig['apps'][number];
  scope: AppScope;
  /** The renderer's limits: the app's `renderLimits` over the agent's, as the Lambda runs it. */
  render: RenderOptions;
}

/**
 * Reads `file` and returns the app named `name`, or throws naming the apps the file lists. With
 * `kubeconfig` (the command line names a kubeconfig or context) the app needs no EKS `cluster`.
 */
export async function configuredApp(
  file: string,
  name: string,
  { kubeconfig = false }: { kubeconfig?: boolean } = {},
): Promise<ConfiguredApp> {
  const config: KubeconfigConfig = kubeconfig
    ? await loadKubeconfigConfigFile(file)
    : await loadConfigFile(file);
  const app = config.apps.find((candidate) => candidate.name === name);
  if (!app) {
    throw new ConfigError(
      `config file ${file} has no app "${name}"; it lists ${config.apps.map((a) => `"${a.name}"`).join(', ')}`,
    );
  }
  return { app, scope: appScope(app), render: appRenderOptions(config, app) };
}
