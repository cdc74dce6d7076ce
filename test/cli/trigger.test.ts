/**
 * `driftless trigger` against a local stand-in for AWS (AWS is the other side here): Lambda's
 * Invoke API, and CloudFormation's DescribeStacks for the stack output that names the function.
 * The stand-in records what the CLI asked for and answers like the deployed agent.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SyncSummary } from '../../lambda/handler.ts';
import { type CliRun, runDriftless } from '../support/driftless-cli.ts';

interface Invocation {
  functionName: string;
  invocationType: string;
  payload: unknown;
}

let server: Server;
let endpoint: string;
const invocations: Invocation[] = [];
let answer: { summary?: SyncSummary; functionError?: string } = {};

const summary: SyncSummary = {
  app: 'guestbook',
  runId: 'run-1',
  cluster: 'prod (eu-west-1)',
  revision: 'c0ffee1'.padEnd(40, '0'),
  outcome: 'OutOfSync',
  dryRun: false,
  counts: { drifted: 1, unchanged: 4 },
  health: 'Healthy',
  durationMs: 1200,
  interrupted: [],
};

async function body(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

beforeAll(async () => {
  server = createServer(async (request, response) => {
    const text = await body(request);
    const invoke = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(request.url ?? '');
    if (invoke) {
      const invocationType = String(request.headers['x-amz-invocation-type'] ?? 'RequestResponse');
      invocations.push({
        functionName: decodeURIComponent(invoke[1]!),
        invocationType,
        payload: JSON.parse(text),
      });
      if (invocationType === 'Event') return response.writeHead(202).end();
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (answer.functionError) {
        headers['x-amz-function-error'] = 'Unhandled';
        return response.writeHead(200, headers).end(JSON.stringify({ errorMessage: answer.functionError }));
      }
      return response.writeHead(200, headers).end(JSON.stringify(answer.summary));
    }
    // CloudFormation speaks the query protocol: a form body in, XML out.
    const form = new URLSearchParams(text);
    if (form.get('Action') === 'DescribeStacks') {
      return response
        .writeHead(200, { 'content-type': 'text/xml' })
        .end(
          `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member>` +
            `<StackName>${form.get('StackName')}</StackName><StackStatus>UPDATE_COMPLETE</StackStatus><CreationTime>2030-01-01T00:00:00Z</CreationTime>` +
            `<Outputs><member><OutputKey>FunctionName</OutputKey><OutputValue>${form.get('StackName')}-AgentFunction</OutputValue></member></Outputs>` +
            `</member></Stacks></DescribeStacksResult></DescribeStacksResponse>`,
        );
    }
    response.writeHead(400).end('unexpected request');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.close();
});

beforeEach(() => {
  invocations.length = 0;
  answer = { summary };
});

function driftless(args: string[]): Promise<CliRun> {
  return runDriftless(args, {
    AWS_ENDPOINT_URL_LAMBDA: endpoint,
    AWS_ENDPOINT_URL_CLOUDFORMATION: endpoint,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
  });
}

describe('driftless trigger', () => {
  it('queues a run of the app on the named function and returns at once', async () => {
    const run = await driftless(['trigger', '--app', 'guestbook', '--function', 'driftless-agent']);
    expect(run.code, run.stderr).toBe(0);
    expect(invocations).toEqual([
      { functionName: 'driftless-agent', invocationType: 'Event', payload: { app: 'guestbook' } },
    ]);
    expect(run.stdout).toMatch(/sync of guestbook triggered on driftless-agent/);
  });

  it('with --wait prints the run like a local sync and exits with the same code', async () => {
    const run = await driftless(['trigger', '--app', 'guestbook', '--function', 'driftless-agent', '--wait']);
    expect(invocations[0]?.invocationType).toBe('RequestResponse');
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /^OutOfSync: sync of guestbook at c0ffee1: 1 drifted, 4 unchanged in 1\.2 s; health Healthy$/m,
    );
    expect(run.stdout).toMatch(/driftless history --run run-1/);

    answer = { summary: { ...summary, outcome: 'Synced' } };
    const json = await driftless([
      'trigger',
      '--app',
      'guestbook',
      '--function',
      'driftless-agent',
      '--wait',
      '-o',
      'json',
    ]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ app: 'guestbook', outcome: 'Synced', runId: 'run-1' });
  });

  it('finds the function in the stack output when --function is not given', async () => {
    const run = await driftless(['trigger', '--app', 'guestbook', '--stack', 'GitOps']);
    expect(run.code, run.stderr).toBe(0);
    expect(invocations[0]?.functionName).toBe('GitOps-AgentFunction');
  });

  it('exits 2 with the agent error when the invocation fails (unknown app, bad config)', async () => {
    answer = { functionError: 'unknown app "nope": the config lists "guestbook"' };
    const run = await driftless(['trigger', '--app', 'nope', '--function', 'driftless-agent', '--wait']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/unknown app "nope"/);
  });
});
