/**
 * The Lambda handler with a Helm app from the deploy config: the config's `render`, `helm` and
 * `namespace` reach `helm template`, the release name defaults to the app name, and the chart
 * sees the live cluster. Real DynamoDB (dynalite), Git server and API server; the EKS connection
 * is injected (pointed at the local API server).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { connectCluster } from '../lambda/cluster/target.ts';
import { createHandler } from '../lambda/handler.ts';
import { helmRepo } from './source/render-fixtures.ts';
import { type LocalDynamo, startDynamo } from './support/dynamodb.ts';
import { type GitServer, startGitServer } from './support/git-server.ts';
import { kubectl, kubectlGet } from './support/kubectl.ts';

const cp = inject('controlPlane');
const TABLE = 'handler-render-history';
const NS = 'handler-render';

let git: GitServer;
let dynamo: LocalDynamo;
let workDir: string;

beforeAll(async () => {
  git = await startGitServer();
  dynamo = await startDynamo({ table: TABLE });
  workDir = await mkdtemp(join(tmpdir(), 'driftless-handler-render-'));
  const repo = await git.createRepo('handler-render');
  await repo.commit(helmRepo('handler-render.driftless.dev'));
  await kubectl(cp.kubeconfig, 'create', 'namespace', NS);
  const configFile = join(workDir, 'apps.yaml');
  await writeFile(
    configFile,
    [
      'apps:',
      '  - name: shop',
      `    repo: ${repo.url}`,
      '    path: chart',
      '    render: helm',
      '    helm: {valuesFiles: [values-prod.yaml], values: {greeting: from-deploy-config}}',
      `    namespace: ${NS}`,
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

describe('handler with a Helm app', () => {
  it('renders the chart with the config settings, release name = app name, for the live cluster', async () => {
    const handler = createHandler({
      logger: new Logger({ serviceName: 'driftless', logLevel: 'SILENT' }),
      connect: () => connectCluster({ type: 'kubeconfig', kubeconfig: cp.kubeconfig }),
    });
    const summary = await handler({ app: 'shop' });
    expect(summary.error).toBeUndefined();
    expect(summary).toMatchObject({ outcome: 'Synced', counts: { created: 5 } });
    const data = async (name: string) => (await kubectlGet(cp.kubeconfig, 'configmap', name, NS))?.data;
    expect(await data('shop-greeting')).toEqual({ greeting: 'from-deploy-config' });
    expect(await data('shop-color')).toEqual({ color: 'green' });
    expect((await data('shop-cluster'))?.namespace).toBe(NS);
  });
});
