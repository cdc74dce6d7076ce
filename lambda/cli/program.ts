/**
 * `driftless`: the same sync engine as the Lambda, against any kubeconfig or EKS cluster.
 *
 *   driftless sync --app NAME (--repo URL|PATH [--ref REF] [--path DIR] | --config FILE)
 *     [--namespace NS] [--prune] [--self-heal] [--allow-empty] [--adopt] [--prune-limit N]
 *     [--move-source] [--dry-run] [--kubeconfig FILE] [--context NAME]
 *     [--cluster EKS_NAME --region REGION [--role-arn ARN]] [--history SPEC] [--output text|json]
 *   driftless plan ...                    sync --dry-run
 *   driftless history [--app NAME] [--limit N] [--history SPEC] [--output text|json]
 *   driftless token --cluster NAME [--region R] [--role-arn ARN]
 *
 * Exit codes follow `kubectl diff`: 0 in sync, 1 out of sync (or a plan that would change
 * something), 2 failed. Results go to stdout, progress and logs to stderr.
 */
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { connectCluster } from '../cluster/target.ts';
import { appSchema } from '../config.ts';
import { openHistoryStore } from '../history/open-store.ts';
import { errorMessage } from '../log.ts';
import type { SyncResult } from '../reconcile/types.ts';
import { loadSource } from '../source/source.ts';
import { type ClusterTarget, runSync, type SyncInput } from '../sync.ts';
import { type ConfiguredApp, configuredApp } from './app-config.ts';
import { rawOptionValue } from './raw-args.ts';
import { historyEntry, renderHistory, renderSyncResult } from './render.ts';
import { stderrLogger } from './stderr-logger.ts';

/** Exit codes, as `kubectl diff`. */
const EXIT = { inSync: 0, outOfSync: 1, failed: 2 } as const;

interface SyncOptions {
  repo?: string;
  ref?: string;
  path?: string;
  app: string;
  config?: string;
  namespace?: string;
  prune?: boolean;
  selfHeal?: boolean;
  allowEmpty?: boolean;
  adopt?: boolean;
  pruneLimit?: number;
  moveSource?: boolean;
  dryRun?: boolean;
  kubeconfig?: string;
  context?: string;
  cluster?: string;
  region?: string;
  roleArn?: string;
  history?: string;
  output: 'text' | 'json';
}

/** Thrown for bad flag combinations, reported like commander's own usage errors (exit 2). */
class UsageError extends Error {
  override name = 'UsageError';
}

function outputOption(): Option {
  return new Option('-o, --output <format>', 'text for people, json for machines')
    .choices(['text', 'json'])
    .default('text');
}

function historyOption(): Option {
  return new Option(
    '--history <spec>',
    'sqlite:PATH or dynamodb:TABLE (default: sqlite:.driftless/history.db)',
  );
}

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
      "deploy config (driftless.config.yaml): take the --app's settings and scope from it",
    )
    .option('--ref <ref>', 'branch, tag or commit (default: the remote HEAD)')
    .option('--path <dir>', 'folder of manifests inside the repository (default: .)')
    .option('--namespace <ns>', 'namespace for objects that name none (default: default)')
    .option('--prune', 'delete objects this app owns that left Git')
    .option('--self-heal', 're-apply objects that drifted from Git')
    .option('--allow-empty', 'allow an empty manifest set to prune everything')
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
    .addOption(outputOption());
  if (name === 'sync') command.option('--dry-run', 'compute and report, change nothing');
  return command.action(async (options: SyncOptions) => {
    await runSyncCommand({ ...options, dryRun: name === 'plan' || options.dryRun });
  });
}

async function runSyncCommand(options: SyncOptions): Promise<void> {
  const logger = stderrLogger();
  let input: SyncInput | undefined;
  try {
    input = syncInput(options, options.config ? await configuredApp(options.config, options.app) : undefined);
    const store = await openHistoryStore(options.history);
    try {
      const cacheDir = join(process.env.DRIFTLESS_CACHE_DIR ?? '.driftless', 'git');
      const run = await runSync(input, {
        store,
        logger,
        loadSource: async (settings) => {
          // A deploy config's app may read its repo credentials from Secrets Manager.
          const secrets = settings.credentialsSecret
            ? new (await import('@aws-sdk/client-secrets-manager')).SecretsManagerClient({})
            : undefined;
          return loadSource(settings, { cacheDir, logger, secrets });
        },
        connect: (target) => connectCluster(target),
      });
      await printResult(run.result, options.output);
      await exit(exitCode(run.result));
    } finally {
      await store.close();
    }
  } catch (error) {
    if (error instanceof ExitSignal) throw error;
    // Reaching here means no run result exists (bad flags, history store unreachable).
    logger.error(errorMessage(error));
    if (options.output === 'json') {
      const app = input?.app ?? options.app ?? '';
      await printResult(failedResult(app, Boolean(options.dryRun), errorMessage(error)), 'json');
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

/** The run the command line asks for: the deploy config's app settings (if any), flags over them. */
function syncInput(options: SyncOptions, configured?: ConfiguredApp): SyncInput {
  const app = options.app;
  const appCheck = appSchema.shape.name.safeParse(app);
  if (!appCheck.success)
    throw new UsageError(`--app "${app}" ${appCheck.error.issues[0]?.message ?? 'is invalid'}`);
  const from = configured?.app;
  const repo = options.repo ?? from?.repo;
  if (!repo)
    throw new UsageError(
      'give the repository with --repo URL|PATH, or an app of a deploy config with --config FILE',
    );
  const namespace = options.namespace ?? from?.namespace ?? 'default';
  const nsCheck = appSchema.shape.namespace.safeParse(namespace);
  if (!nsCheck.success)
    throw new UsageError(`--namespace ${nsCheck.error.issues[0]?.message ?? 'is invalid'}`);
  return {
    app,
    source: {
      repo,
      ref: options.ref ?? (options.repo ? undefined : from?.ref),
      path: options.path ?? (options.repo ? undefined : from?.path) ?? '.',
      credentialsSecret: options.repo ? undefined : from?.credentialsSecret,
    },
    target: clusterTarget(options, from?.cluster),
    namespace,
    prune: Boolean(options.prune ?? from?.prune),
    selfHeal: Boolean(options.selfHeal ?? from?.selfHeal),
    allowEmpty: Boolean(options.allowEmpty ?? from?.allowEmpty),
    adopt: Boolean(options.adopt ?? from?.adopt),
    // Without a deploy config the CLI runs unrestricted, under the user's own credentials.
    scope: configured?.scope,
    pruneLimit: options.pruneLimit ?? from?.pruneLimit,
    moveSource: Boolean(options.moveSource),
    dryRun: Boolean(options.dryRun),
    trigger: 'cli',
  };
}

/** `--kubeconfig`/`--context`/`--cluster` when given, else the deploy config's EKS cluster. */
function clusterTarget(options: SyncOptions, configured?: ConfiguredApp['app']['cluster']): ClusterTarget {
  if (configured && !options.cluster && !options.kubeconfig && !options.context) {
    if (options.region || options.roleArn) throw new UsageError('--region and --role-arn need --cluster');
    return { type: 'eks', name: configured.name, region: configured.region, roleArn: configured.roleArn };
  }
  if (options.cluster) {
    if (options.kubeconfig || options.context) {
      throw new UsageError(
        '--cluster connects to EKS directly; do not combine it with --kubeconfig or --context',
      );
    }
    return {
      type: 'eks',
      name: options.cluster,
      region: requireRegion(options.region),
      roleArn: options.roleArn,
    };
  }
  if (options.region || options.roleArn) throw new UsageError('--region and --role-arn need --cluster');
  return { type: 'kubeconfig', kubeconfig: options.kubeconfig, context: options.context };
}

function requireRegion(region?: string): string {
  const resolved = region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!resolved) throw new UsageError('--cluster needs --region (or AWS_REGION)');
  return resolved;
}

function exitCode(result: SyncResult): number {
  if (result.outcome === 'Synced') return EXIT.inSync;
  if (result.outcome === 'OutOfSync') return EXIT.outOfSync;
  return EXIT.failed;
}

async function printResult(result: SyncResult, output: 'text' | 'json'): Promise<void> {
  await writeStdout(output === 'json' ? `${JSON.stringify(result)}\n` : renderSyncResult(result));
}

function historyCommand(): Command {
  return new Command('history')
    .description('list recorded runs, newest first')
    .option('--app <name>', 'only this app')
    .option('--limit <n>', 'at most this many runs', positiveInteger, 20)
    .addOption(historyOption())
    .addOption(outputOption())
    .action(async (options: { app?: string; limit: number; history?: string; output: 'text' | 'json' }) => {
      const store = await openHistoryStore(options.history);
      try {
        const runs = await store.listRuns({ app: options.app, limit: options.limit });
        await writeStdout(
          options.output === 'json'
            ? runs.map((run) => `${JSON.stringify(historyEntry(run))}\n`).join('')
            : renderHistory(runs),
        );
      } finally {
        await store.close();
      }
    });
}

function tokenCommand(): Command {
  return new Command('token')
    .description('print an EKS ExecCredential, like `aws eks get-token` (for a kubeconfig exec plugin)')
    .requiredOption('--cluster <name>', 'EKS cluster name')
    .option('--region <region>', 'AWS region (default: AWS_REGION)')
    .option('--role-arn <arn>', 'IAM role to assume first')
    .action(async (options: { cluster: string; region?: string; roleArn?: string }) => {
      const region = requireRegion(options.region);
      // The AWS SDK loads only for this command (and EKS targets): `sync` on a kubeconfig never needs it.
      const [
        { STSClient },
        { fromNodeProviderChain },
        { assumedRoleCredentials },
        { execCredential, getEksToken },
      ] = await Promise.all([
        import('@aws-sdk/client-sts'),
        import('@aws-sdk/credential-providers'),
        import('../cluster/assume-role.ts'),
        import('../cluster/token.ts'),
      ]);
      const credentials = options.roleArn
        ? assumedRoleCredentials({ roleArn: options.roleArn, sts: new STSClient({ region }) })
        : fromNodeProviderChain();
      const { token, expiresAt } = await getEksToken({ clusterName: options.cluster, region, credentials });
      await writeStdout(`${JSON.stringify(execCredential(token, expiresAt))}\n`);
    });
}

function nonNegativeInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0)
    throw new InvalidArgumentError('must be a whole number, 0 or more');
  return parsed;
}

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('must be a positive integer');
  return parsed;
}

function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (error) => (error ? reject(error) : resolve()));
  });
}

/** Unwinds to `main` with an exit code once output is written. */
class ExitSignal extends Error {
  readonly code: number;
  constructor(code: number) {
    super(`exit ${code}`);
    this.code = code;
  }
}

async function exit(code: number): Promise<never> {
  throw new ExitSignal(code);
}

function buildProgram(): Command {
  return new Command('driftless')
    .description(
      'GitOps sync of a Git repository to Kubernetes: server-side apply, prune, self-heal, history',
    )
    .exitOverride()
    .showHelpAfterError()
    .addCommand(syncCommand('sync'))
    .addCommand(syncCommand('plan'))
    .addCommand(historyCommand())
    .addCommand(tokenCommand());
}

export async function main(argv: string[]): Promise<number> {
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
    process.stderr.write(`driftless: error: ${errorMessage(error)}\n`);
    return EXIT.failed;
  }
}

// Exit explicitly: keep-alive sockets and SDK clients must not hold a finished CLI open.
