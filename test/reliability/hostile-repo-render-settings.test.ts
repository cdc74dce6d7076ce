/**
 * The renderer's bounds are the platform team's settings: `renderLimits` in the deploy config,
 * agent-wide with a per-app override, validated with the setting's name, and carried by the
 * Lambda handler and the CLI's `--config` to the render (a CPU bomb stops at the app's own limit,
 * not the agent's).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { appRenderOptions, parseConfig } from '../../lambda/config.ts';
import { createHandler } from '../../lambda/handler.ts';
import { runDriftless } from '../support/driftless-cli.ts';
import { type LocalDynamo, startDynamo } from '../support/dynamodb.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';

const cp = inject('controlPlane');
const TABLE = 'hostile-render-settings';
const cluster = { name: 'prod', region: 'eu-west-1' };

describe('renderLimits in the deploy config', () => {
  it('takes an app’s own limits over the agent’s, key by key, and leaves the rest to the defaults', () => {
    const config = parseConfig({
      renderLimits: { maxMemoryMiB: 1024, maxCpuSeconds: 20 },
      apps: [
        {
          name: 'big',
          repo: 'https://git.example.com/big.git',
          cluster,
          renderLimits: { maxMemoryMiB: 1536 },
        },
        { name: 'small', repo: 'https://git.example.com/small.git', cluster },
      ],
    });
    const [big, small] = config.apps;
    expect(appRenderOptions(config, big!)).toEqual({
      maxMemoryMiB: 1536,
      maxCpuSeconds: 20,
      timeoutMs: undefined,
    });
    expect(appRenderOptions(config, small!)).toEqual({
      maxMemoryMiB: 1024,
      maxCpuSeconds: 20,
      timeoutMs: undefined,
    });
    expect(appRenderOptions({}, { renderLimits: { timeoutSeconds: 90 } }).timeoutMs).toBe(90_000);
  });

  it('refuses a bound out of range, naming the setting', () => {
    const parse = () =>
      parseConfig({
        renderLimits: { maxMemoryMiB: 16 },
        apps: [
          { name: 'a', repo: 'https://git.example.com/a.git', cluster, renderLimits: { maxCpuSeconds: 0 } },
        ],
      });
    expect(parse).toThrow(/^ {2}renderLimits\.maxMemoryMiB: /m);
    expect(parse).toThrow(/^ {2}apps\[0\]\.renderLimits\.maxCpuSeconds: /m);
  });
});

describe('the Lambda handler', () => {
  let git: GitServer;
  let dynamo: LocalDynamo;
  let workDir: string;
  let configFile: string;

  beforeAll(async () => {
    git = await startGitServer();
    dynamo = await startDynamo({ table: TABLE });
    workDir = await mkdtemp(join(tmpdir(), 'driftless-render-settings-'));
    const repo = await git.createRepo('render-settings');
    await repo.commit({
      'chart/Chart.yaml': 'apiVersion: v2\nname: spin\nversion: 0.1.0\n',
      'chart/templates/spin.yaml': '{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}\n',
    });
    configFile = join(workDir, 'apps.yaml');
    await writeFile(
      configFile,
      [
        'renderLimits: {maxCpuSeconds: 20}',
        'apps:',
        '  - name: spin',
        `    repo: ${repo.url}`,
        '    path: chart',
        '    render: helm',
        '    namespace: render-settings',
        '    renderLimits: {maxCpuSeconds: 2}',
        '    cluster: {name: prod, region: eu-west-1}',
        '',
      ].join('\n'),
    );
    vi.stubEnv('DRIFTLESS_CONFIG_FILE', configFile);
    vi.stubEnv('DRIFTLESS_TABLE', TABLE);
    vi.stubEnv('DRIFTLESS_CACHE_DIR', join(workDir, 'cache'));
    vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', dynamo.endpoint);
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local');
  });

  afterAll(async () => {
    vi.unstubAllEnvs();
    await git?.stop();
    await dynamo?.stop();
    await rm(workDir, { recursive: true, force: true });
  });

  it("stops a render at the app's own CPU-time limit from the deploy config", async () => {
    const handler = createHandler({
      logger: new Logger({ serviceName: 'driftless', logLevel: 'SILENT' }),
      connect: () => connectCluster({ type: 'kubeconfig', kubeconfig: cp.kubeconfig }),
    });
    const started = Date.now();
    const summary = await handler({ app: 'spin' });
    expect(summary.outcome).toBe('Failed');
    expect(summary.error).toMatch(
      /helm template chart \(chart\/Chart\.yaml\): used more than its CPU-time limit of 2 s and was stopped; raise renderLimits\.maxCpuSeconds/,
    );
    // Well before the agent-wide 20 s: the app's own setting applied.
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("takes the same limits from the deploy config in the CLI's plan --config", async () => {
    const run = await runDriftless(
      [
        'plan',
        '--config',
        configFile,
        '--app',
        'spin',
        '--kubeconfig',
        cp.kubeconfig,
        '--history',
        `sqlite:${join(workDir, 'history.db')}`,
      ],
      { DRIFTLESS_CACHE_DIR: join(workDir, 'cli-cache'), XDG_STATE_HOME: join(workDir, 'state') },
    );
    expect(run.code).toBe(2);
    // The run's error is printed once, with its result on stdout.
    expect(run.stdout).toMatch(
      /used more than its CPU-time limit of 2 s and was stopped; raise renderLimits\.maxCpuSeconds/,
    );
  });
});
