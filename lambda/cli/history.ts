/**
 * `driftless history [--app NAME] [--limit N] [--run RUN_ID]`: recorded runs, newest first, or
 * one run in full. Reading a history that does not exist creates nothing.
 */
import { Command } from 'commander';
import { openHistoryStore } from '../history/open-store.ts';
import { historySpec } from './locations.ts';
import { formatObjects, historyOption, type OutputFormat, outputOption, positiveInteger } from './options.ts';
import { historyEntry, renderHistory } from './render.ts';
import { findRun, renderRun } from './run-detail.ts';
import { writeStdout } from './stdout.ts';
import { historyMissing } from './stored-history.ts';

export function historyCommand(): Command {
  return new Command('history')
    .description('list recorded runs, newest first')
    .option('--app <name>', 'only this app')
    .option('--limit <n>', 'at most this many runs', positiveInteger, 20)
    .option('--run <run-id>', 'one run in full: every object, action, message and stored diff')
    .addOption(historyOption())
    .addOption(outputOption())
    .action(
      async (options: {
        app?: string;
        limit: number;
        run?: string;
        history?: string;
        output: OutputFormat;
      }) => {
        // Reading a history that does not exist creates nothing.
        if (historyMissing(options.history)) {
          if (options.run)
            throw new Error(
              `no run ${options.run}: the history ${historySpec(options.history)} does not exist`,
            );
          if (options.output === 'text') await writeStdout('no runs recorded\n');
          return;
        }
        const store = await openHistoryStore(historySpec(options.history));
        try {
          if (options.run) {
            const run = await findRun(store, options.run, options.app);
            await writeStdout(
              options.output === 'text' ? renderRun(run) : formatObjects([historyEntry(run)], options.output),
            );
            return;
          }
          const runs = await store.listRuns({ app: options.app, limit: options.limit });
          await writeStdout(
            options.output === 'text'
              ? renderHistory(runs)
              : formatObjects(runs.map(historyEntry), options.output),
          );
        } finally {
          await store.close();
        }
      },
    );
}
