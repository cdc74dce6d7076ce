/**
 * Helm charts as Helm users expect them, end to end (the layer's real `helm template`, the local
 * API server, the Git server, the embedded history): CRDs of a chart's `crds/` folder are
 * installed and upgraded but never pruned unless the app opts in (`helm.pruneCrds`), a failed
 * run's health is `Unknown`, render errors say what to fix, and `createNamespace` creates the
 * app's namespace.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import type { HistoryStore } from '../../lambda/history/store.ts';
import { APP_LABEL } from '../../lambda/reconcile/types.ts';
import type { HelmSettings } from '../../lambda/source/render/settings.ts';
import { loadSource } from '../../lambda/source/source.ts';
import { runSync, type SyncInput } from '../../lambda/sync.ts';
import { type GitRepo, type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';

const cp = inject('controlPlane');
const GROUP = 'helm-lifecycle.driftless.dev';

let git: GitServer;
let store: HistoryStore;
let workDir: string;
const crds: string[] = [];

beforeAll(async () => {
  git = await startGitServer();
  workDir = await mkdtemp(join(tmpdir(), 'driftless-helm-lifecycle-'));
  store = await openHistoryStore(`sqlite:${join(workDir, 'history.db')}`);
});

afterAll(async () => {
  for (const crd of crds) await kubectl(cp.kubeconfig, 'delete', 'crd', crd, '--ignore-not-found');
  await store?.close();
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

let counter = 0;
async function newApp(options: { createNs?: boolean } = {}) {
  counter += 1;
  const app = `lifecycle-${counter}`;
  if (options.createNs !== false) await kubectl(cp.kubeconfig, 'create', 'namespace', app);
  return { app, namespace: app, repo: await git.createRepo(app) };
}

/** A chart `web` with one ConfigMap template and, per entry of `crdFiles`, a CRD in `crds/`. */
function chart(crdFiles: Record<string, string> = {}, extra: Record<string, string | null> = {}) {
  const files: Record<string, string | null> = {
    'chart/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.1.0\n',
    'chart/values.yaml': 'greeting: hello\n',
    'chart/templates/config.yaml': [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      '  name: {{ .Release.Name }}-config',
      'data:',
      '  greeting: {{ .Values.greeting }}',
      '',
    ].join('\n'),
    ...extra,
  };
  for (const [file, content] of Object.entries(crdFiles)) files[`chart/crds/${file}`] = content;
  return files;
}

/** A CRD of kind `kind` in this file's group; `shortName` changes it. */
function crdYaml(kind: string, shortName?: string): string {
  const plural = `${kind.toLowerCase()}s`;
  const name = `${plural}.${GROUP}`;
  if (!crds.includes(name)) crds.push(name);
  return [
    'apiVersion: apiextensions.k8s.io/v1',
    'kind: CustomResourceDefinition',
    `metadata: {name: ${name}}`,
    'spec:',
    `  group: ${GROUP}`,
    '  scope: Namespaced',
    `  names: {kind: ${kind}, plural: ${plural}${shortName ? `, shortNames: [${shortName}]` : ''}}`,
    '  versions:',
    '    - name: v1',
    '      served: true',
    '      storage: true',
    '      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}',
    '',
  ].join('\n');
}

function sync(
  app: string,
  namespace: string,
  repo: GitRepo,
  options: { helm?: HelmSettings } & Partial<SyncInput> = {},
) {
  const { helm, ...rest } = options;
  return runSync(
    {
      app,
      source: { repo: repo.url, path: 'chart', app, render: { mode: 'auto', namespace, helm } },
      target: { type: 'kubeconfig', kubeconfig: cp.kubeconfig },
      namespace,
      prune: true,
      trigger: 'test',
      ...rest,
    },
    {
      store,
      loadSource: (settings, context) =>
        loadSource(settings, { cacheDir: join(workDir, 'cache'), ...context }),
      connect: (target) => connectCluster(target),
    },
  );
}

const crdResult = (run: Awaited<ReturnType<typeof sync>>, name: string) =>
  run.result.resources.find((r) => r.kind === 'CustomResourceDefinition' && r.name === name);

describe("CRDs from a chart's crds/ folder", () => {
  it('are created and updated, and kept (never pruned) when they leave the chart', async () => {
    const { app, namespace, repo } = await newApp();
    const name = `sprockets.${GROUP}`;
    await repo.commit(chart({ 'sprockets.yaml': crdYaml('Sprocket') }));
    const created = await sync(app, namespace, repo);
    expect(created.result.error).toBeUndefined();
    expect(crdResult(created, name)?.action).toBe('created');

    await repo.commit(chart({ 'sprockets.yaml': crdYaml('Sprocket', 'spr') }));
    const updated = await sync(app, namespace, repo);
    expect(crdResult(updated, name)?.action).toBe('configured');
    expect((await kubectlGet(cp.kubeconfig, 'crd', name))?.spec.names.shortNames).toEqual(['spr']);

    await repo.commit({ ...chart(), 'chart/crds': null });
    for (const run of [await sync(app, namespace, repo), await sync(app, namespace, repo)]) {
      expect(run.result.error).toBeUndefined();
      expect(run.result.outcome).toBe('Synced');
      const kept = crdResult(run, name);
      expect(kept?.action).toBe('unchanged');
      expect(kept?.message).toContain('helm.pruneCrds');
      expect(await kubectlGet(cp.kubeconfig, 'crd', name)).toBeDefined();
    }
  });

  it('are pruned when they leave the chart of an app that sets helm.pruneCrds', async () => {
    const { app, namespace, repo } = await newApp();
    const name = `cogs.${GROUP}`;
    await repo.commit(chart({ 'cogs.yaml': crdYaml('Cog') }));
    expect((await sync(app, namespace, repo, { helm: { pruneCrds: true } })).result.outcome).toBe('Synced');

    await repo.commit({ ...chart(), 'chart/crds': null });
    const run = await sync(app, namespace, repo, { helm: { pruneCrds: true } });
    expect(crdResult(run, name)?.action).toBe('pruned');
    const gone = await kubectlGet(cp.kubeconfig, 'crd', name);
    expect(gone === undefined || gone.metadata.deletionTimestamp !== undefined).toBe(true);
  });

  it('are named by their file in the chart when the API server rejects one', async () => {
    const { app, namespace, repo } = await newApp();
    const bad = crdYaml('Gear').replace('  scope: Namespaced\n', '  scope: Sideways\n');
    await repo.commit(chart({ 'gears.yaml': bad }));
    const run = await sync(app, namespace, repo);
    expect(run.result.outcome).toBe('Failed');
    expect(run.result.error).toContain('web/crds/gears.yaml');
  });
});

describe('a failed run', () => {
  it('reports health Unknown, and what the refused set did not write as skipped, in a plan too', async () => {
    const { app, namespace, repo } = await newApp();
    const badService = [
      'apiVersion: v1',
      'kind: Service',
      'metadata: {name: broken}',
      'spec: {ports: [{port: 99999}]}',
      '',
    ].join('\n');
    await repo.commit(chart({}, { 'chart/templates/service.yaml': badService }));
    for (const dryRun of [true, false]) {
      const run = await sync(app, namespace, repo, { dryRun });
      expect(run.result.outcome).toBe('Failed');
      expect(run.result.health).toBe('Unknown');
      expect(run.record.health).toBe('Unknown');
      const config = run.result.resources.find((r) => r.kind === 'ConfigMap');
      expect(config?.action).toBe('skipped');
    }
  });

  it('that could not store its state reports health Unknown', async () => {
    const { app, namespace, repo } = await newApp();
    await repo.commit(chart());
    // The write-ahead of the inventory is stored; the state after the run is not.
    let puts = 0;
    const failing = new Proxy(store, {
      get(target, key) {
        if (key === 'putState' && ++puts > 1) return () => Promise.reject(new Error('throttled'));
        const value = Reflect.get(target, key);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const run = await runSync(
      {
        app,
        source: { repo: repo.url, path: 'chart', app, render: { mode: 'auto', namespace } },
        target: { type: 'kubeconfig', kubeconfig: cp.kubeconfig },
        namespace,
      },
      {
        store: failing,
        loadSource: (settings, context) =>
          loadSource(settings, { cacheDir: join(workDir, 'cache'), ...context }),
        connect: (target) => connectCluster(target),
      },
    );
    expect(run.result.outcome).toBe('Failed');
    expect(run.result.health).toBe('Unknown');
  });
});

describe('a render error', () => {
  it('is reported as a render error leading with Helm’s error, and says how to get missing dependencies', async () => {
    const { app, namespace, repo } = await newApp();
    await repo.commit(
      chart(
        {},
        {
          'chart/Chart.yaml': [
            'apiVersion: v2',
            'name: web',
            'version: 0.1.0',
            'dependencies:',
            '  - {name: redis, version: 1.0.0, repository: "https://charts.example.com"}',
            '',
          ].join('\n'),
        },
      ),
    );
    const run = await sync(app, namespace, repo);
    expect(run.result.outcome).toBe('Failed');
    const error = run.result.error ?? '';
    expect(error).not.toContain('fetch source');
    expect(error).toMatch(
      /^render: helm template chart \(chart\/Chart\.yaml\) failed \(exit code 1\): Error: an error occurred while checking for chart dependencies/,
    );
    expect(error).toContain('missing in charts/ directory: redis');
    expect(error).toContain('helm.chart');
    expect(error).toContain('chart/charts/');
    expect(error).not.toContain('--debug');
  });
});

describe('createNamespace', () => {
  it("creates a missing namespace for the app's chart, labelled as the app's, and keeps it while it holds the app's objects", async () => {
    const { app, namespace, repo } = await newApp({ createNs: false });
    await repo.commit(chart());

    const without = await sync(app, namespace, repo);
    expect(without.result.outcome).toBe('Failed');
    expect(without.result.error).toContain(`namespaces "${namespace}" not found`);
    expect(without.result.error).toContain('createNamespace');

    const run = await sync(app, namespace, repo, { createNamespace: true });
    expect(run.result.error).toBeUndefined();
    expect(run.result.outcome).toBe('Synced');
    const ns = run.result.resources.find((r) => r.kind === 'Namespace');
    expect(ns).toMatchObject({ name: namespace, action: 'created' });
    expect((await kubectlGet(cp.kubeconfig, 'namespace', namespace))?.metadata.labels?.[APP_LABEL]).toBe(app);
    expect((await kubectlGet(cp.kubeconfig, 'configmap', `${app}-config`, namespace))?.data).toEqual({
      greeting: 'hello',
    });

    const again = await sync(app, namespace, repo, { createNamespace: true });
    expect(again.result.outcome).toBe('Synced');
    expect(again.result.resources.every((r) => r.action === 'unchanged')).toBe(true);

    // The setting is gone, but the app's chart still lives in the namespace: it stays.
    const off = await sync(app, namespace, repo);
    expect(off.result.resources.find((r) => r.kind === 'Namespace')?.action).not.toBe('pruned');
    expect(
      (await kubectlGet(cp.kubeconfig, 'namespace', namespace))?.metadata.deletionTimestamp,
    ).toBeUndefined();
  });

  it('never takes over a namespace that exists without the app label', async () => {
    const { app, namespace, repo } = await newApp();
    await repo.commit(chart());
    const run = await sync(app, namespace, repo, { createNamespace: true });
    expect(run.result.outcome).toBe('Synced');
    expect(run.result.resources.some((r) => r.kind === 'Namespace')).toBe(false);
    expect(
      (await kubectlGet(cp.kubeconfig, 'namespace', namespace))?.metadata.labels?.[APP_LABEL],
    ).toBeUndefined();
  });
});
