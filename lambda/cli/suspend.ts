/**
 * `driftless suspend --app NAME` / `resume`: stop and restart an app's syncs without a deploy.
 * The flag lives in the history store the agent reads at the start of every run, so it takes
 * effect at the next run: the run is recorded `Skipped` with the reason, nothing is fetched or
 * written. (The config's `suspended: true` disables the schedule itself, at the next deploy.)
 */
import { Command } from 'commander';
import { controlLine, withControls } from './controls-store.ts';
import { appOption, historyOption } from './options.ts';
import { writeStdout } from './stdout.ts';

export function suspendCommand(): Command {
  return new Command('suspend')
    .description('skip the syncs of an app (recorded Skipped) until resume; plans still run')
    .addOption(appOption())
    .option('--reason <text>', 'why, shown by status and in each skipped run')
    .addOption(historyOption())
    .action(async (options: { app: string; reason?: string; history?: string }) => {
      const at = new Date().toISOString();
      await withControls(options.history, (controls) =>
        controls.setSuspended(options.app, { at, ...(options.reason ? { reason: options.reason } : {}) }),
      );
      await writeStdout(
        controlLine(
          `app ${options.app} suspended: its syncs are skipped until driftless resume --app ${options.app}`,
        ),
      );
    });
}

export function resumeCommand(): Command {
  return new Command('resume')
    .description('sync a suspended app again, from its next run')
    .addOption(appOption())
    .addOption(historyOption())
    .action(async (options: { app: string; history?: string }) => {
      const was = await withControls(options.history, async (controls) => {
        const before = await controls.getControls(options.app);
        await controls.setSuspended(options.app, undefined);
        return before?.suspended;
      });
      await writeStdout(
        controlLine(
          was ? `app ${options.app} resumed: the next run syncs it` : `app ${options.app} was not suspended`,
        ),
      );
    });
}
