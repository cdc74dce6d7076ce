/**
 * Helm charts end to end: the layer's real `helm template`, the local API server (whose version
 * and API versions the chart sees), the Git server and the embedded history.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import type { HistoryStore } from '../../lambda/history/store.ts';
import { type LoadSourceOptions, loadSource, type SourceSettings } from '../../lambda/source/source.ts';
import { runSync } from '../../lambda/sync.ts';
import { type GitRepo, type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import { helmRepo, widgetCrd } from './render-fixtures.ts';

const cp = inject('controlPlane');
const CRD_GROUP = 'render-helm.driftless.dev';

let git: GitServer;
let store: HistoryStore;
let workDir: string;

beforeAll(async () => {
  git = await startGitServer();
  workDir = await mkdtemp(join(tmpdir(), 'driftless-helm-test-'));
  store = await openHistoryStore(`sqlite:${join(workDir, 'history.db')}`);
  const crd = join(workDir, 'crd.json');
  await writeFile(crd, widgetCrd(CRD_GROUP));
  await kubectl(cp.kubeconfig, 'apply', '-f', crd);
  await kubectl(cp.kubeconfig, 'wait', '--for=condition=Established', `crd/widgets.${CRD_GROUP}`);
});

afterAll(async () => {
  await kubectl(cp.kubeconfig, 'delete', 'crd', `widgets.${CRD_GROUP}`, '--ignore-not-found');
  await store?.close();
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

let counter = 0;
async function newApp(): Promise<{ app: string; namespace: string; repo: GitRepo }> {
  counter += 1;
  const app = `helm-${counter}`;
  await kubectl(cp.kubeconfig, 'create', 'namespace', app);
  return { app, namespace: app, repo: await git.createRepo(app) };
}

function chartSource(repo: GitRepo, namespace: string): SourceSettings {
  return {
    repo: repo.url,
    path: 'chart',
    render: {
      mode: 'auto',
      namespace,
      helm: { valuesFiles: ['values-prod.yaml'], values: { greeting: 'from-config' } },
    },
  };
}

function sync(
  app: string,
  namespace: string,
  source: SourceSettings,
  options: Partial<LoadSourceOptions> = {},
) {
  return runSync(
    {
      app,
      source: { ...source, app },
      target: { type: 'kubeconfig', kubeconfig: cp.kubeconfig },
      namespace,
      prune: true,
      trigger: 'test',
    },
    {
      store,
      loadSource: (settings, context) =>
        loadSource(settings, { cacheDir: join(workDir, 'cache'), ...context, ...options }),
      connect: (target) => connectCluster(target),
    },
  );
}

async function configMaps(namespace: string): Promise<string[]> {
  const out = await kubectl(cp.kubeconfig, 'get', 'configmaps', '-n', namespace, '-o', 'name');
  return out
    .split('\n')
    .filter((line) => line !== '' && !line.endsWith('/kube-root-ca.crt'))
    .sort();
}

describe('a Helm chart', () => {
  it('syncs with a vendored subchart, a values file and inline values, for the live cluster', async () => {
    const { app, namespace, repo } = await newApp();
    await repo.commit(helmRepo(CRD_GROUP));

    const run = await sync(app, namespace, chartSource(repo, namespace));
    expect(run.result.error).toBeUndefined();
    expect(run.result.outcome).toBe('Synced');
    expect(run.record.counts).toEqual({ created: 5 });
    const data = async (name: string) =>
      (await kubectlGet(cp.kubeconfig, 'configmap', name, namespace))?.data;
    expect(await data(`${app}-greeting`)).toEqual({ greeting: 'from-config' }); // inline values win
    expect(await data(`${app}-color`)).toEqual({ color: 'green' }); // values-prod.yaml over values.yaml
    expect(await data(`${app}-cache`)).toEqual({ size: 'small' }); // subchart, parent's values
    const server = JSON.parse(await kubectl(cp.kubeconfig, 'version', '-o', 'json')).serverVersion.gitVersion;
    expect(await data(`${app}-cluster`)).toEqual({ kubeVersion: server, namespace });
    // `.Capabilities.APIVersions.Has "<group>/v1/Widget"` is true only on the live server.
    expect(await kubectlGet(cp.kubeconfig, `widgets.${CRD_GROUP}`, app, namespace)).toBeDefined();
    expect(await data(`${app}-no-widgets`)).toBeUndefined();
  });

  it('changing a value updates exactly the objects that use it', async () => {
    const { app, namespace, repo } = await newApp();
    await repo.commit(helmRepo(CRD_GROUP));
    expect((await sync(app, namespace, chartSource(repo, namespace))).result.outcome).toBe('Synced');

    await repo.commit(helmRepo(CRD_GROUP, { color: 'red' }));
    const run = await sync(app, namespace, chartSource(repo, namespace));
    expect(run.result.outcome).toBe('Synced');
    const changed = run.result.resources.filter((r) => r.action !== 'unchanged');
    expect(changed.map((r) => [r.kind, r.name, r.action])).toEqual([
      ['ConfigMap', `${app}-color`, 'configured'],
    ]);
    expect((await kubectlGet(cp.kubeconfig, 'configmap', `${app}-color`, namespace))?.data).toEqual({
      color: 'red',
    });
  });

  it('fails a chart template error before any write, naming the template', async () => {
    const { app, namespace, repo } = await newApp();
    const revision = await repo.commit({
      ...helmRepo(CRD_GROUP),
      'chart/templates/broken.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name \n',
    });
    const run = await sync(app, namespace, chartSource(repo, namespace));
    expect(run.result.outcome).toBe('Failed');
    expect(run.record.revision).toBe(revision);
    expect(run.result.error).toContain('helm template chart (chart/Chart.yaml) failed (exit code 1)');
    expect(run.result.error).toContain('web/templates/broken.yaml');
    expect(await configMaps(namespace)).toEqual([]);
  });

  it('stops a chart that renders past its timeout, before any write', async () => {
    const { app, namespace, repo } = await newApp();
    await repo.commit({
      ...helmRepo(CRD_GROUP),
      'chart/templates/slow.yaml': '{{- range until 100000 }}{{- range until 100000 }}{{- end }}{{- end }}\n',
    });
    const run = await sync(app, namespace, chartSource(repo, namespace), { render: { timeoutMs: 1000 } });
    expect(run.result.outcome).toBe('Failed');
    expect(run.result.error).toContain('helm template chart (chart/Chart.yaml): ran past its timeout of 1 s');
    expect(await configMaps(namespace)).toEqual([]);
  });
});
