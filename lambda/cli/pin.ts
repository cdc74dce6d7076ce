/**
 * `driftless pin --app NAME --revision SHA` / `unpin`: sync one commit instead of the branch head
 * until unpinned: a rollback that the next scheduled run does not undo. The commit is checked
 * against the repository first (fetched and its manifests loaded): a revision that is not in the
 * repository, or whose manifests do not load, is refused and nothing is stored. The repository is
 * `--repo`, the app's in `--config`, or else the source the history stored at the app's last run.
 */
import { Command } from 'commander';
import { openHistoryStore } from '../history/open-store.ts';
import { loadSource, type SourceSettings, stateCacheKey } from '../source/source.ts';
import { controlLine, withControls } from './controls-store.ts';
import { gitCacheDir, historySpec } from './locations.ts';
import { appOption, historyOption } from './options.ts';
import { shortRevision } from './render.ts';
import { stderrLogger } from './stderr-logger.ts';
import { writeStdout } from './stdout.ts';

interface PinOptions {
  app: string;
  revision: string;
  repo?: string;
  path?: string;
  config?: string;
  reason?: string;
  history?: string;
}

export function pinCommand(): Command {
  return new Command('pin')
    .description('sync this commit instead of the branch head until unpin (checked against the repository)')
    .addOption(appOption())
    .requiredOption('--revision <sha>', 'commit SHA (7 to 40 hex characters)')
    .option(
      '--repo <url|path>',
      "the app's Git repository, to check the commit (default: the app's stored source)",
    )
    .option('--path <dir>', 'folder of manifests inside the repository (with --repo)', '.')
    .option('--config <file>', "deploy config: take the app's repo, path and credentials from it")
    .option('--reason <text>', 'why, shown by status')
    .addOption(historyOption())
    .action(async (options: PinOptions) => {
      if (!/^[0-9a-f]{7,40}$/.test(options.revision)) {
        throw new Error(
          `--revision "${options.revision}" is not a commit SHA (7 to 40 lowercase hex characters)`,
        );
      }
      const source = await sourceOf(options);
      const logger = stderrLogger();
      const cacheDir = gitCacheDir();
      const secrets = source.credentialsSecret
        ? new (await import('@aws-sdk/client-secrets-manager')).SecretsManagerClient({})
        : undefined;
      let revision: string;
      try {
        ({ revision } = await loadSource(
          { ...source, ref: options.revision },
          // The app's own cache folder, apart from its syncs' (which are per cluster).
          {
            cacheDir,
            cacheKey: stateCacheKey,
            partition: { app: options.app, cluster: 'local' },
            logger,
            secrets,
          },
        ));
      } catch (error) {
        throw new Error(
          `refusing to pin app ${options.app} to ${options.revision}: ${(error as Error).message}`,
          { cause: error },
        );
      } finally {
        secrets?.destroy();
      }
      const at = new Date().toISOString();
      await withControls(options.history, (controls) =>
        controls.setPinned(options.app, {
          revision,
          at,
          ...(options.reason ? { reason: options.reason } : {}),
        }),
      );
      await writeStdout(
        controlLine(
          `app ${options.app} pinned to ${shortRevision(revision)} (${revision}): its syncs use this commit until driftless unpin --app ${options.app}`,
        ),
      );
    });
}

async function sourceOf(options: PinOptions): Promise<SourceSettings> {
  if (options.repo && options.config) throw new Error('give --repo or --config, not both');
  if (options.repo) return { repo: options.repo, path: options.path };
  if (!options.config) return storedSource(options);
  const { loadConfigFile } = await import('../config.ts');
  const config = await loadConfigFile(options.config);
  const app = config.apps.find((candidate) => candidate.name === options.app);
  if (!app) throw new Error(`config file ${options.config} has no app "${options.app}"`);
  return { repo: app.repo, path: app.path, credentialsSecret: app.credentialsSecret };
}

/** The source of the app's last run, as the history stored it (a URL without credentials, or a path). */
async function storedSource(options: PinOptions): Promise<SourceSettings> {
  const spec = historySpec(options.history);
  const store = await openHistoryStore(spec);
  try {
    const [last] = await store.listRuns({ app: options.app, limit: 1 });
    const stored = last?.clusterId
      ? (await store.getState({ app: options.app, cluster: last.clusterId }))?.state.source
      : undefined;
    if (!stored)
      throw new Error(
        `app ${options.app} has no stored source in the history ${spec} to check the commit against: pass --repo URL|PATH (or --config FILE), or --history where its runs are recorded`,
      );
    return { repo: stored.repo, path: stored.path };
  } finally {
    await store.close();
  }
}

export function unpinCommand(): Command {
  return new Command('unpin')
    .description('sync the branch head again, from the next run')
    .addOption(appOption())
    .addOption(historyOption())
    .action(async (options: { app: string; history?: string }) => {
      const was = await withControls(options.history, async (controls) => {
        const before = await controls.getControls(options.app);
        await controls.setPinned(options.app, undefined);
        return before?.pinned;
      });
      await writeStdout(
        controlLine(
          was
            ? `app ${options.app} unpinned (was ${shortRevision(was.revision)}): the next run syncs its branch head`
            : `app ${options.app} was not pinned`,
        ),
      );
    });
}
