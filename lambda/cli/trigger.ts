/**
 * `driftless trigger --app NAME [--function NAME|ARN] [--wait]`: runs the deployed agent for one
 * app now, like the schedule does. Without `--wait` the invocation is queued (`Event`) and the
 * command returns at once; with it (`RequestResponse`) the run's summary is printed like a local
 * sync and the exit code is the same (0 Synced, 1 OutOfSync, 2 anything else).
 *
 * The function is `--function`, else the `FunctionName` output of the stack (`--stack`, default
 * `Driftless`). The AWS SDK loads only for this command.
 */
import { Command, Option } from 'commander';
import { withAwsHint } from '../aws-hints.ts';
import type { SyncSummary } from '../handler.ts';
import { exit, outcomeExitCode } from './exit.ts';
import { appOption, formatObjects, type OutputFormat, outputOption } from './options.ts';
import { formatCounts, formatDuration, shortRevision } from './render.ts';
import { writeStdout } from './stdout.ts';

interface TriggerOptions {
  app: string;
  function?: string;
  stack: string;
  region?: string;
  wait?: boolean;
  output: OutputFormat;
}

export function triggerCommand(): Command {
  return new Command('trigger')
    .description('run the deployed agent for an app now (Lambda Invoke); --wait prints the run')
    .addOption(appOption())
    .option('--function <name|arn>', 'the agent function (default: the FunctionName output of --stack)')
    .addOption(new Option('--stack <name>', 'the stack that deployed the agent').default('Driftless'))
    .option('--region <region>', 'AWS region of the agent (default: AWS_REGION)')
    .option('--wait', 'wait for the run and print it; exit like a local sync')
    .addOption(outputOption())
    .action(async (options: TriggerOptions) => {
      try {
        await trigger(options);
      } catch (error) {
        throw withAwsHint(error);
      }
    });
}

async function trigger(options: TriggerOptions): Promise<void> {
  const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  const functionName = options.function ?? (await stackFunctionName(options.stack, region));
  const { LambdaClient, InvokeCommand } = await import('@aws-sdk/client-lambda');
  const lambda = new LambdaClient(region ? { region } : {});
  try {
    const response = await lambda.send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: options.wait ? 'RequestResponse' : 'Event',
        Payload: new TextEncoder().encode(JSON.stringify({ app: options.app })),
      }),
    );
    const payload = response.Payload ? new TextDecoder().decode(response.Payload) : '';
    if (response.FunctionError) {
      // The handler threw (unknown app, bad config, store unreachable): its message is the payload.
      const reason = (safeJson(payload) as { errorMessage?: string } | undefined)?.errorMessage ?? payload;
      throw new Error(
        `the agent ${functionName} failed for app ${options.app} (${response.FunctionError}): ${reason}`,
      );
    }
    if (!options.wait) {
      await writeStdout(
        options.output === 'text'
          ? `sync of ${options.app} triggered on ${functionName}; see it with: driftless history --app ${options.app} --history dynamodb:TABLE\n`
          : formatObjects([{ app: options.app, function: functionName, triggered: true }], options.output),
      );
      return;
    }
    const summary = safeJson(payload) as SyncSummary | undefined;
    if (!summary?.outcome)
      throw new Error(`the agent ${functionName} answered no run summary: ${payload.slice(0, 200)}`);
    await writeStdout(
      options.output === 'text' ? renderSummary(summary) : formatObjects([summary], options.output),
    );
    await exit(outcomeExitCode(summary.outcome));
  } finally {
    lambda.destroy();
  }
}

/** The agent's function name from the stack's `FunctionName` output. */
async function stackFunctionName(stack: string, region: string | undefined): Promise<string> {
  const { CloudFormationClient, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  const cloudformation = new CloudFormationClient(region ? { region } : {});
  try {
    const { Stacks } = await cloudformation.send(new DescribeStacksCommand({ StackName: stack }));
    const output = Stacks?.[0]?.Outputs?.find((candidate) => candidate.OutputKey === 'FunctionName');
    if (!output?.OutputValue) throw new Error(`stack ${stack} has no FunctionName output; pass --function`);
    return output.OutputValue;
  } finally {
    cloudformation.destroy();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The summary line of a local sync, from the agent's run summary (its objects are in the history). */
export function renderSummary(summary: SyncSummary): string {
  const lines = [
    `${summary.outcome}: sync of ${summary.app} at ${shortRevision(summary.revision)}: ${formatCounts(summary.counts)} in ${formatDuration(summary.durationMs)}${summary.health ? `; health ${summary.health}` : ''}`,
  ];
  if (summary.error) lines.push(`error: ${summary.error}`);
  if (summary.runId)
    lines.push(
      `run ${summary.runId} on ${summary.cluster}: driftless history --run ${summary.runId} --app ${summary.app} --history dynamodb:TABLE`,
    );
  return `${lines.join('\n')}\n`;
}
