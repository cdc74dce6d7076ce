/**
 * `driftless sync|plan --config FILE --app NAME`: one app of the deploy config, run from the
 * command line. The file gives the settings (and the scope, as the Lambda would run it); flags
 * given on the command line override them.
 */
import { type AppConfig, appRenderOptions, appScope, ConfigError, loadConfigFile } from '../config.ts';
import type { AppScope } from '../reconcile/types.ts';
import type { RenderOptions } from '../source/render/render.ts';

/** An app's settings as the CLI uses them. */
export interface ConfiguredApp {
  app: AppConfig;
  scope: AppScope;
  /** The renderer's limits: the app's `renderLimits` over the agent's, as the Lambda runs it. */
  render: RenderOptions;
}

/** Reads `file` and returns the app named `name`, or throws naming the apps the file lists. */
export async function configuredApp(file: string, name: string): Promise<ConfiguredApp> {
  const config = await loadConfigFile(file);
  const app = config.apps.find((candidate) => candidate.name === name);
  if (!app) {
    throw new ConfigError(
      `config file ${file} has no app "${name}"; it lists ${config.apps.map((a) => `"${a.name}"`).join(', ')}`,
    );
  }
  return { app, scope: appScope(app), render: appRenderOptions(config, app) };
}
