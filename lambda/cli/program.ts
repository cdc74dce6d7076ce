/**
 * `driftless`: the same sync engine as the Lambda, against any kubeconfig or EKS cluster.
 *
 *   driftless sync --app NAME (--repo URL|PATH [--ref REF] [--path DIR] | --config FILE)
 *     [--namespace NS] [--prune] [--self-heal] [--allow-empty] [--adopt] [--prune-limit N]
 *     [--move-source] [--dry-run] [--kubeconfig FILE] [--context NAME]
 *     [--cluster EKS_NAME --region REGION [--role-arn ARN]] [--history SPEC] [--output text|json]
 *   driftless plan ...                    sync --dry-run
 *   driftless token --cluster NAME [--region R] [--role-arn ARN]
 *
 * The other verbs live in a file each: history.ts, status.ts, trigger.ts, suspend.ts (suspend,
 * resume), pin.ts (pin, unpin).
 *
 * Exit codes follow `kubectl diff`: 0 in sync, 1 out of sync (or a plan that would change
 * something), 2 failed. Results go to stdout, progress and logs to stderr.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { withAwsHint } from '../aws-hints.ts';
import { connectCluster } from '../cluster/target.ts';
import { openHistoryStore } from '../history/open-store.ts';
import { guardRun } from '../last-resort.ts';
import { errorMessage } from '../log.ts';
import type { SyncResult } from '../reconcile/types.ts';
import { loadSource, stateCacheKey } from '../source/source.ts';
import { runSync, type SyncDeps, type SyncInput, toResult } from '../sync.ts';
import { EXIT, ExitSignal, exit } from './exit.ts';
import { historyCommand } from './history.ts';
import { gitCacheDir, historySpec } from './locations.ts';
import { formatObjects, historyOption, type OutputFormat, outputOption } from './options.ts';
import { pinCommand, unpinCommand } from './pin.ts';
import { rawOptionValue } from './raw-args.ts';
import { type RenderOptions, renderSyncResult } from './render.ts';
import { renderCommand, renderOption } from './render-command.ts';
import { statusCommand } from './status.ts';
import { holdErrors, stderrLogger } from './stderr-logger.ts';
import { quietBrokenPipe, writeStdout } from './stdout.ts';
import { resumeCommand, suspendCommand } from './suspend.ts';
import {
  checkRoleArn,
  requireRegion,
  type SyncOptions,
  syncInput,
  targetsKubeconfig,
  UsageError,
} from './sync-input.ts';
import { missingKubeconfig, withConfigTargetHint } from './target-hints.ts';
import { triggerCommand } from './trigger.ts';
import { parseWait } from './wait.ts';

function syncCommand(name: 'sync' | 'plan'): Command {
  const command = new Command(name)
    .description(
      name === 'sync'
        ? 'apply the manifests of a Git repository (or local repo path) to a cluster'
        : 'show what sync would change, change nothing (sync --dry-run)',
    )
    .requiredOption('--app <name>', 'app name: ownership label value and history key (required)')
    .option('--repo <url|path>', 'Git repository: https URL or local path (or --config)')
    .option(
      '--config <file>',
      "deploy config (driftless.config.yaml): take the --app's settings and scope from it; a flag overrides only the setting it names",
    )
    .option('--ref <ref>', 'branch, tag or commit (default: the remote HEAD)')
    .option('--path <dir>', 'folder of manifests inside the repository (default: .)')
    .option('--namespace <ns>', 'namespace for objects that name none (default: default)')
    .option('--prune', 'delete objects this app owns that left Git')
    .option('--self-heal', 're-apply objects that drifted from Git')
    .option('--allow-empty', 'allow an empty manifest set to prune everything')
    .addOption(renderOption())
    .option('--adopt', "take over existing objects that do not carry this app's label")
    .option(
      '--prune-limit <n>',
      'most objects one run may prune (default: half of what the app owns, above 5)',
      nonNegativeInteger,
    )
    .option('--move-source', 'move the app to a repo or path other than the one it was synced from')
    .option('--kubeconfig <file>', 'kubeconfig file (default: KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context (default: current-context)')
    .option('--cluster <eks-name>', 'EKS cluster name: connect with an EKS token instead of a kubeconfig')
    .option('--region <region>', 'AWS region of the EKS cluster (default: AWS_REGION)')
    .option('--role-arn <arn>', 'IAM role to assume for the EKS cluster')
    .addOption(historyOption())
    .addOption(outputOption())
    .option('-q, --quiet', 'text output: hide unchanged objects');
  if (name === 'sync') {
    command
      .option('--dry-run', 'compute and report, change nothing')
      .addOption(
        new Option('--wait [duration]', 'wait until every object is Healthy (default 5m); exit 1 if not')
          .preset('5m')
          .argParser(parseWait),
      );
  }
  // A stray word (`sync ./app`) is answered with the flag it was probably meant for.
  return command.allowExcessArguments().action(async (options: SyncOptions, self: Command) => {
    await runSyncCommand({ ...options, dryRun: name === 'plan' || options.dryRun }, self.args);
  });
}

async function runSyncCommand(options: SyncOptions, extra: string[] = []): Promise<void> {
  const logger = stderrLogger();
  let input: SyncInput | undefined;
  try {
    if (extra.length)
      throw new UsageError(
        `unexpected argument "${extra[0]}": the repository is given with --repo, e.g. --repo ${extra[0]}`,
      );
    // The deploy config (and its schema library) is loaded only when asked for.
    const configured = options.config
      ? await (await import('./app-config.ts')).configuredApp(options.config, options.app, {
          kubeconfig: targetsKubeconfig(options),
        })
      : undefined;
    const runInput = syncInput(options, configured);
    input = runInput;
    // The run's failure is printed with its result; its log line would say it a second time.
    const held = holdErrors(logger);
    const store = await openHistoryStore(historySpec(options.history));
    let shown: string | undefined;
    try {
      const noKubeconfig = missingKubeconfig(runInput.target);
      if (noKubeconfig) throw new UsageError(noKubeconfig);
      const cacheDir = gitCacheDir();
      const deps: SyncDeps = {
        store,
        logger: held.logger,
        loadSource: async (settings, context) => {
          // A deploy config's app may read its repo credentials from Secrets Manager.
          const secrets = settings.credentialsSecret
            ? new (await import('@aws-sdk/client-secrets-manager')).SecretsManagerClient({})
            : undefined;
          return loadSource(settings, {
            cacheDir,
            cacheKey: stateCacheKey,
            logger: held.logger,
            secrets,
            render: configured?.render,
            ...context,
          });
        },
        connect: (target) =>
          connectCluster(target).catch((error: unknown) => {
            // Only the config's own cluster: with --cluster the user chose EKS on purpose.
            throw configured && !options.cluster ? withConfigTargetHint(error, options.app, target) : error;
          }),
      };
      // Should the process meet a failure nothing awaits, the run is recorded Failed and printed.
      const run = await guardRun(
        store,
        (onRunStarted) => runSync(runInput, { ...deps, onRunStarted }),
        (failed) => printResult(toResult(failed), options.output, { quiet: options.quiet }),
      );
      shown = run.result.error;
      await printResult(run.result, options.output, { quiet: options.quiet, status: run.record.outcome });
      await exit(exitCode(run.result, options.wait !== undefined));
    } finally {
      held.release(shown);
      await store.close();
    }
  } catch (error) {
    if (error instanceof ExitSignal) throw error;
    // Reaching here means no run result exists (bad flags, history store unreachable).
    const message = errorMessage(withAwsHint(error));
    logger.error(message);
    if (options.output !== 'text') {
      const app = input?.app ?? options.app ?? '';
      await printResult(failedResult(app, Boolean(options.dryRun), message), options.output);
    }
    await exit(EXIT.failed);
  }
}

/** The contract object of a command that failed before any run existed. */
function failedResult(app: string, dryRun: boolean, error: string): SyncResult {
  const at = new Date().toISOString();
  return {
    app,
    revision: '',
    outcome: 'Failed',
    dryRun,
    startedAt: at,
    finishedAt: at,
    durationMs: 0,
    resources: [],
    error,
  };
}

/**
 * A command line commander rejected (missing --repo, unknown option, bad value, extra argument):
 * commander told stderr; with `--output json`, stdout still gets its one `Failed` object.
 */
async function reportUsageError(words: string[], error: CommanderError): Promise<void> {
  if (rawOptionValue(words, '--output', '-o') !== 'json') return;
  const app = rawOptionValue(words, '--app') ?? '';
  const dryRun = words[0] === 'plan' || words.includes('--dry-run');
  await printResult(failedResult(app, dryRun, error.message.replace(/^error: /, '')), 'json');
}

/** With `--wait`, an app that is not Healthy at the end is not in sync yet (exit 1). */
function exitCode(result: SyncResult, waited = false): number {
  if (result.outcome === 'Synced')
    return waited && result.health && result.health !== 'Healthy' ? EXIT.outOfSync : EXIT.inSync;
  if (result.outcome === 'OutOfSync') return EXIT.outOfSync;
  return EXIT.failed;
}

async function printResult(
  result: SyncResult,
  output: OutputFormat,
  text: RenderOptions = {},
): Promise<void> {
  await writeStdout(output === 'text' ? renderSyncResult(result, text) : formatObjects([result], output));
}

function tokenCommand(): Command {
  return new Command('token')
    .description('print an EKS ExecCredential, like `aws eks get-token` (for a kubeconfig exec plugin)')
    .requiredOption('--cluster <name>', 'EKS cluster name')
    .option('--region <region>', 'AWS region (default: AWS_REGION)')
    .option('--role-arn <arn>', 'IAM role to assume first')
    .action(async (options: { cluster: string; region?: string; roleArn?: string }) => {
      const region = requireRegion(options.region);
      const roleArn = checkRoleArn(options.roleArn);
      // The AWS SDK loads only for this command (and EKS targets): `sync` on a kubeconfig never needs it.
      const [
        { STSClient },
        { fromNodeProviderChain },
        { assumedRoleCredentials },
        { execCredential, getEksToken, requestedExecCredentialVersion },
      ] = await Promise.all([
        import('@aws-sdk/client-sts'),
        import('@aws-sdk/credential-providers'),
        import('../cluster/assume-role.ts'),
        import('../cluster/token.ts'),
      ]);
      // kubectl says which ExecCredential version it reads; answer in it, as `aws eks get-token` does.
      const execInfo = process.env.KUBERNETES_EXEC_INFO;
      const apiVersion = requestedExecCredentialVersion(execInfo);
      if (execInfo && !apiVersion) {
        process.stderr.write(
          'driftless: KUBERNETES_EXEC_INFO asks for an ExecCredential version other than client.authentication.k8s.io/v1 or v1beta1; answering in v1beta1\n',
        );
      }
      const credentials = roleArn
        ? assumedRoleCredentials({ roleArn, sts: new STSClient({ region }) })
        : fromNodeProviderChain();
      const { token, expiresAt } = await getEksToken({ clusterName: options.cluster, region, credentials });
      await writeStdout(`${JSON.stringify(execCredential(token, expiresAt, apiVersion))}\n`);
    });
}

function nonNegativeInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0)
    throw new InvalidArgumentError('must be a whole number, 0 or more');
  return parsed;
}

function buildProgram(): Command {
  return new Command('driftless')
    .description(
      'GitOps sync of a Git repository to Kubernetes: server-side apply, prune, self-heal, history',
    )
    .version(packageVersion(), '--version', 'print the version')
    .exitOverride()
    .showHelpAfterError()
    .addCommand(syncCommand('sync'))
    .addCommand(syncCommand('plan'))
    .addCommand(historyCommand())
    .addCommand(tokenCommand())
    .addCommand(renderCommand())
    .addCommand(statusCommand())
    .addCommand(triggerCommand())
    .addCommand(suspendCommand())
    .addCommand(resumeCommand())
    .addCommand(pinCommand())
    .addCommand(unpinCommand());
}

function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  return String(manifest.version);
}

export async function main(argv: string[]): Promise<number> {
  quietBrokenPipe();
  const program = buildProgram();
  // Subcommands inherit exitOverride only when set before they are added; set it on each.
  for (const command of program.commands) command.exitOverride();
  try {
    await program.parseAsync(argv);
    return EXIT.inSync;
  } catch (error) {
    if (error instanceof ExitSignal) return error.code;
    if (error instanceof CommanderError) {
      // --help and --version exit 0; every usage error is a failure (2), not commander's 1.
      if (error.exitCode === 0) return 0;
      await reportUsageError(argv.slice(2), error);
      return EXIT.failed;
    }
    process.stderr.write(`driftless: error: ${errorMessage(withAwsHint(error))}\n`);
    return EXIT.failed;
  }
}

// Exit explicitly: keep-alive sockets and SDK clients must not hold a finished CLI open.
