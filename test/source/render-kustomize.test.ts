/**
 * Kustomize apps end to end: the layer's real `kubectl kustomize`, the local API server, the Git
 * server and the embedded history. Bad overlays fail the run before any write.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import type { HistoryStore } from '../../lambda/history/store.ts';
import { checkKustomizations } from '../../lambda/source/render/kustomize.ts';
import { KUSTOMIZATION_FIELDS } from '../../lambda/source/render/kustomize-fields.ts';
import { type LoadSourceOptions, loadSource, type SourceSettings } from '../../lambda/source/source.ts';
import { runSync, type SyncInput } from '../../lambda/sync.ts';
import { type GitRepo, type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import { kustomizeRepo } from './render-fixtures.ts';

const cp = inject('controlPlane');

let git: GitServer;
let store: HistoryStore;
let workDir: string;

beforeAll(async () => {
  git = await startGitServer();
  workDir = await mkdtemp(join(tmpdir(), 'driftless-kustomize-test-'));
  store = await openHistoryStore(`sqlite:${join(workDir, 'history.db')}`);
});

afterAll(async () => {
  await store?.close();
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

let counter = 0;
async function newApp(): Promise<{ app: string; namespace: string; repo: GitRepo }> {
  counter += 1;
  const app = `kustomize-${counter}`;
  await kubectl(cp.kubeconfig, 'create', 'namespace', app);
  return { app, namespace: app, repo: await git.createRepo(app) };
}

function sync(app: string, source: SourceSettings, options: Partial<LoadSourceOptions> = {}) {
  const input: SyncInput = {
    app,
    source: { ...source, app },
    target: { type: 'kubeconfig', kubeconfig: cp.kubeconfig },
    prune: true,
    trigger: 'test',
  };
  return runSync(input, {
    store,
    loadSource: (settings, context) =>
      loadSource(settings, { cacheDir: join(workDir, 'cache'), ...context, ...options }),
    connect: (target) => connectCluster(target),
  });
}

async function namesIn(namespace: string, kinds = 'configmaps,services,deployments'): Promise<string[]> {
  const out = await kubectl(cp.kubeconfig, 'get', kinds, '-n', namespace, '-o', 'name');
  return out
    .split('\n')
    .filter((line) => line !== '' && !line.endsWith('/kube-root-ca.crt'))
    .sort();
}

describe('a Kustomize overlay', () => {
  it('syncs base + overlays/prod, a second run is all unchanged, and a changed generator rotates its ConfigMap with prune', async () => {
    const { app, namespace, repo } = await newApp();
    await repo.commit(kustomizeRepo(namespace, 'hello'));

    const first = await sync(app, { repo: repo.url, path: 'overlays/prod' });
    expect(first.result.error).toBeUndefined();
    expect(first.result.outcome).toBe('Synced');
    expect(first.record.counts).toEqual({ created: 3 });
    const [configMap] = (await namesIn(namespace, 'configmaps')).map((name) => name.split('/')[1] ?? '');
    expect(configMap).toMatch(/^prod-web-config-[a-z0-9]{10}$/);
    const deployment = await kubectlGet(cp.kubeconfig, 'deployment', 'prod-web', namespace);
    expect(deployment?.spec.replicas).toBe(3); // strategic-merge patch
    expect(deployment?.metadata.labels).toMatchObject({ env: 'prod', 'driftless.dev/app': app });
    expect(deployment?.spec.template.spec.containers[0].image).toBe('nginx:1.27'); // image override
    expect(deployment?.spec.template.spec.containers[0].envFrom[0].configMapRef.name).toBe(configMap);
    const service = await kubectlGet(cp.kubeconfig, 'service', 'prod-web', namespace);
    expect(service?.spec.ports[0].port).toBe(8080); // JSON6902 patch
    expect((await kubectlGet(cp.kubeconfig, 'configmap', configMap ?? '', namespace))?.data).toEqual({
      GREETING: 'hello',
    });

    const again = await sync(app, { repo: repo.url, path: 'overlays/prod' });
    expect(again.result.outcome).toBe('Synced');
    expect(again.result.resources.map((r) => r.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);

    await repo.commit(kustomizeRepo(namespace, 'bonjour'));
    const rotated = await sync(app, { repo: repo.url, path: 'overlays/prod' });
    expect(rotated.result.outcome).toBe('Synced');
    expect(rotated.record.counts).toEqual({ created: 1, configured: 1, unchanged: 1, pruned: 1 });
    const configMaps = (await namesIn(namespace, 'configmaps')).map((name) => name.split('/')[1]);
    expect(configMaps).toHaveLength(1);
    expect(configMaps[0]).not.toBe(configMap);
    const updated = await kubectlGet(cp.kubeconfig, 'deployment', 'prod-web', namespace);
    expect(updated?.spec.template.spec.containers[0].envFrom[0].configMapRef.name).toBe(configMaps[0]);
  });

  it('fails a broken kustomization before any write, naming the file and the revision', async () => {
    const { app, namespace, repo } = await newApp();
    const files = kustomizeRepo(namespace);
    const revision = await repo.commit({
      ...files,
      'overlays/prod/kustomization.yaml': `${files['overlays/prod/kustomization.yaml']}resourcez: [x.yaml]\n`,
    });
    const run = await sync(app, { repo: repo.url, path: 'overlays/prod' });
    expect(run.result.outcome).toBe('Failed');
    expect(run.record.revision).toBe(revision);
    expect(run.result.error).toContain('overlays/prod/kustomization.yaml');
    expect(run.result.error).toMatch(/kustomize build overlays\/prod .*failed \(exit code 1\): .*resourcez/);
    expect(await namesIn(namespace)).toEqual([]);
    const [recorded] = await store.listRuns({ app });
    expect(recorded).toMatchObject({ outcome: 'Failed', revision });
  });

  it('refuses a remote base unless the app opts in, naming the kustomization file', async () => {
    const { app, namespace, repo } = await newApp();
    await repo.commit({
      ...kustomizeRepo(namespace),
      'overlays/remote/kustomization.yaml':
        'resources:\n  - ../../base\n  - https://github.com/kubernetes-sigs/metrics-server/manifests/base?ref=v0.9.0\n',
    });
    const run = await sync(app, { repo: repo.url, path: 'overlays/remote' });
    expect(run.result.outcome).toBe('Failed');
    expect(run.result.error).toContain(
      'overlays/remote/kustomization.yaml: resources entry "https://github.com/kubernetes-sigs/metrics-server/manifests/base?ref=v0.9.0" is a remote base',
    );
    expect(run.result.error).toContain('kustomize.allowRemoteBases');
    expect(await namesIn(namespace)).toEqual([]);
  });

  it('stops a render that runs past its timeout, before any write', async () => {
    const { app, namespace, repo } = await newApp();
    await repo.commit(kustomizeRepo(namespace));
    const run = await sync(app, { repo: repo.url, path: 'overlays/prod' }, { render: { timeoutMs: 1 } });
    expect(run.result.outcome).toBe('Failed');
    expect(run.result.error).toContain(
      'kustomize build overlays/prod (overlays/prod/kustomization.yaml): ran past its timeout of 0.001 s and was stopped',
    );
    expect(await namesIn(namespace)).toEqual([]);
  });
});

/** Runs the check on a folder holding `files`; the error message, or 'allowed'. */
async function check(files: Record<string, string>, allowRemoteBases = false): Promise<string> {
  const dir = await mkdtemp(join(workDir, 'check-'));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return checkKustomizations(dir, 'app', allowRemoteBases).then(
    () => 'allowed',
    (error: Error) => error.message,
  );
}

/** Each loading field of a kustomization, holding `url` the way that field holds an entry. */
const FIELD_SHAPES: Record<string, (url: string) => string> = {
  resources: (url) => `resources: ["${url}"]`,
  bases: (url) => `bases: ["${url}"]`,
  components: (url) => `components: ["${url}"]`,
  generators: (url) => `generators: ["${url}"]`,
  transformers: (url) => `transformers: ["${url}"]`,
  validators: (url) => `validators: ["${url}"]`,
  crds: (url) => `crds: ["${url}"]`,
  configurations: (url) => `configurations: ["${url}"]`,
  patchesStrategicMerge: (url) => `patchesStrategicMerge: ["${url}"]`,
  patches: (url) => `patches: [{path: "${url}"}]`,
  patchesJson6902: (url) => `patchesJson6902: [{path: "${url}", target: {kind: ConfigMap, name: a}}]`,
  replacements: (url) => `replacements: [{path: "${url}"}]`,
  openapi: (url) => `openapi: {path: "${url}"}`,
  configMapGenerator: (url) => `configMapGenerator: [{name: a, files: ["key=${url}"]}]`,
  secretGenerator: (url) => `secretGenerator: [{name: a, envs: ["${url}"]}]`,
  helmCharts: (url) => `helmCharts: [{name: a, repo: "${url}"}]`,
  helmChartInflationGenerator: (url) =>
    `helmChartInflationGenerator: [{chartName: a, chartRepoUrl: "${url}"}]`,
};

describe('the check of what a kustomization loads', () => {
  it('walks every loading field: a URL in any of them is refused, naming the file and the field', async () => {
    expect(Object.keys(FIELD_SHAPES).sort()).toEqual(KUSTOMIZATION_FIELDS.map((row) => row.field).sort());
    for (const row of KUSTOMIZATION_FIELDS) {
      const shape = FIELD_SHAPES[row.field] as (url: string) => string;
      const message = await check({
        'app/kustomization.yaml': `${shape('https://example.com/org/repo/x')}\n`,
      });
      if (row.role === 'refused')
        expect(message, row.field).toContain(`${row.field} needs Kustomize's --enable-helm`);
      else
        expect(message, row.field).toMatch(
          new RegExp(
            `^app/kustomization\\.yaml: ${row.field} entry "(key=)?https://example\\.com/org/repo/x" is a remote (base|file)`,
          ),
        );
    }
  });

  it('recognises remote references by Kustomize syntax, even where the repository holds a folder of that name', async () => {
    for (const entry of [
      'https://github.com/org/repo//base?ref=v1',
      'github.com/org/repo/base',
      'git@github.com:org/repo.git/base',
      'ssh://git@example.com:2222/org/repo',
      'git::https://example.com/org/repo',
      'https://dev.azure.com/org/project/_git/repo/base',
      'HTTP://example.com/x.yaml',
    ]) {
      const decoy = `app/${entry.replace(/\/\/+/g, '/').replace(/\?.*/, '')}/kustomization.yaml`;
      const message = await check({
        'app/kustomization.yaml': `resources: ["${entry}"]\n`,
        [decoy]: 'resources: []\n',
      });
      expect(message, entry).toContain(`resources entry "${entry}" is a remote base`);
      expect(await check({ 'app/kustomization.yaml': `resources: ["${entry}"]\n` }, true), entry).toBe(
        'allowed',
      );
    }
  });

  it('with allowRemoteBases, still refuses this machine and file:// repositories', async () => {
    for (const [entry, reason] of [
      ['http://127.0.0.1:8080/x.yaml', 'points at this machine (127.0.0.1)'],
      ['http://2130706433/x.yaml', 'points at this machine (127.0.0.1)'],
      ['ssh://git@[::1]:22/org/repo', 'points at this machine (::1)'],
      ['git@localhost:org/repo', 'points at this machine (localhost)'],
      ['https://169.254.169.254/latest/x', 'points at this machine (169.254.169.254)'],
      ['file:///etc/org/repo', 'is a file:// repository'],
    ]) {
      const message = await check({ 'app/kustomization.yaml': `resources: ["${entry}"]\n` }, true);
      expect(message, entry).toContain(`resources entry "${entry}" ${reason}`);
    }
  });

  it('checks plugin configuration (inline, in a file, built by a folder) and refuses files it cannot read', async () => {
    const transformer =
      'apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: https://example.com/p\n';
    expect(
      await check({ 'app/kustomization.yaml': 'transformers: [t.yaml]\n', 'app/t.yaml': transformer }),
    ).toMatch(
      /^app\/t\.yaml \(a transformers entry of app\/kustomization\.yaml\): "https:\/\/example\.com\/p" is a remote file/,
    );
    const inline = `generators:\n- |-\n${transformer.replace(/^/gm, '  ')}`;
    expect(await check({ 'app/kustomization.yaml': inline })).toContain(
      '(an inline generators entry): "https://example.com/p"',
    );
    expect(
      await check({
        'app/kustomization.yaml': 'validators: [../v]\n',
        'v/kustomization.yaml': 'resources: [t.yaml]\n',
        'v/t.yaml': transformer,
      }),
    ).toContain('v/t.yaml (a resources entry of v/kustomization.yaml): "https://example.com/p"');
    expect(
      await check({
        'app/kustomization.yaml': 'resources: [a.yaml]\nresources: ["https://example.com/x"]\n',
      }),
    ).toBe(
      'app/kustomization.yaml: cannot be read to check what Kustomize would load (Map keys must be unique); fix the YAML',
    );
    expect(
      await check({
        'app/kustomization.yaml': 'resources: [a.yaml]\ncommonAnnotations: {docs: "https://example.com"}\n',
      }),
    ).toBe('allowed');
  });
});
