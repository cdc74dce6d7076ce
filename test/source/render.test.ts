/**
 * The source stage with renderers, without a cluster: auto-detection, plain folders with CI
 * files, the real metrics-server overlay, the rendered-output cache, bounds and redaction.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redactToolLine } from '../../lambda/source/render/error-text.ts';
import { type LoadSourceOptions, loadSource, SourceError } from '../../lambda/source/source.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';
import { REALWORLD, realworldAbsent } from '../support/realworld.ts';
import { helmRepo, kustomizeRepo } from './render-fixtures.ts';

const CAPABILITIES = { kubeVersion: 'v1.34.1', apiVersions: ['v1', 'apps/v1'] };

let server: GitServer;
let options: LoadSourceOptions;

beforeAll(async () => {
  server = await startGitServer();
  options = {
    cacheDir: await mkdtemp(join(tmpdir(), 'driftless-render-')),
    capabilities: async () => CAPABILITIES,
  };
});
afterAll(async () => {
  await server.stop();
  await rm(options.cacheDir, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<SourceError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SourceError);
  return error as SourceError;
}

async function filesUnder(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files[relative(dir, path)] = await readFile(path, 'utf8');
  }
  return files;
}

describe('choosing how a folder becomes objects', () => {
  it('skips hidden folders and files that are not manifests in a plain folder, so a repository root with CI syncs', async () => {
    const repo = await server.createRepo('render-plain-root');
    await repo.commit({
      '.github/workflows/ci.yml': 'on: push\njobs:\n  test: {runs-on: ubuntu-latest}\n',
      '.gitlab-ci.yml': 'stages: [test]\n',
      'README.md': '# not a manifest\n',
      Makefile: 'all:\n',
      'cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n',
    });
    const loaded = await loadSource({ repo: repo.workTree }, options);
    expect(loaded.renderer).toBe('plain');
    expect(loaded.objects.map((o) => `${o.origin.file} ${o.object.metadata.name}`)).toEqual(['cm.yaml a']);
  });

  it('auto-detects Kustomize by its kustomization file and Helm by Chart.yaml', async () => {
    const repo = await server.createRepo('render-auto');
    await repo.commit({ ...kustomizeRepo('auto'), ...helmRepo('auto.example.com') });
    const overlay = await loadSource({ repo: repo.workTree, path: 'overlays/prod' }, options);
    expect(overlay.renderer).toBe('kustomize');
    expect(overlay.objects.map((o) => o.origin.file)).toEqual(Array(3).fill('kustomize build overlays/prod'));
    const chart = await loadSource({ repo: repo.workTree, path: 'chart', app: 'web' }, options);
    expect(chart.renderer).toBe('helm');
    expect(chart.objects.map((o) => o.origin.file)).toContain(
      'helm template chart: web/templates/greeting.yaml',
    );
    // Forced plain: a chart's files are not manifests, and the message says what the folder is.
    expect(
      (await failure(loadSource({ repo: repo.workTree, path: 'chart', render: { mode: 'plain' } }, options)))
        .message,
    ).toBe(
      'chart/Chart.yaml document 0 (line 1): missing kind (a Helm chart file: point path at the chart folder, or set render: helm)',
    );
  });

  it('refuses a folder that is both a kustomization and a chart, or a forced mode with nothing to render', async () => {
    const repo = await server.createRepo('render-ambiguous');
    await repo.commit({
      'app/kustomization.yaml': 'resources: []\n',
      'app/Chart.yaml': 'name: x\n',
      'plain/cm.yaml': '',
    });
    expect((await failure(loadSource({ repo: repo.workTree, path: 'app' }, options))).message).toBe(
      'app holds both kustomization.yaml and Chart.yaml: set render to kustomize or helm for this app',
    );
    expect(
      (await failure(loadSource({ repo: repo.workTree, path: 'plain', render: { mode: 'helm' } }, options)))
        .message,
    ).toBe('render: helm, but plain holds no Chart.yaml');
  });
});

describe('rendering', () => {
  it.skipIf(realworldAbsent)(
    'renders the released metrics-server v0.9.0 overlays/release to its 9 objects',
    async () => {
      const repo = await server.createRepo('render-metrics-server');
      await repo.commit(await filesUnder(join(REALWORLD, 'metrics-server-v0.9.0', 'files')));
      const loaded = await loadSource({ repo: repo.workTree, path: 'overlays/release' }, options);
      expect(loaded.objects).toHaveLength(9);
      const deployment = loaded.objects.find((o) => o.object.kind === 'Deployment')?.object as Record<
        string,
        any
      >;
      expect(deployment.spec.template.spec.containers[0].image).toBe(
        'registry.k8s.io/metrics-server/metrics-server:v0.9.0',
      );
      expect(loaded.objects.map((o) => o.object.kind)).toContain('APIService');
    },
  );

  it('caches rendered output by commit, path and settings, and never a set that holds a Secret', async () => {
    const repo = await server.createRepo('render-cache');
    await repo.commit({
      ...helmRepo('cache.example.com'),
      'secret/kustomization.yaml':
        'secretGenerator:\n  - name: token\n    literals: [TOKEN=s3cr3t-Value-42]\n',
    });
    const chart = (values: Record<string, unknown>) =>
      loadSource({ repo: repo.workTree, path: 'chart', app: 'web', render: { helm: { values } } }, options);
    expect((await chart({ color: 'red' })).cached).toBe(false);
    expect((await chart({ color: 'red' })).cached).toBe(true);
    const other = await chart({ color: 'blue' });
    expect(other.cached).toBe(false);
    expect(other.objects.find((o) => o.object.metadata.name === 'web-color')?.object.data).toEqual({
      color: 'blue',
    });

    const secret = () => loadSource({ repo: repo.workTree, path: 'secret' }, options);
    expect((await secret()).objects[0]?.object.kind).toBe('Secret');
    expect((await secret()).cached).toBe(false);
    for (const entry of await readdir(options.cacheDir)) {
      if (entry.startsWith('manifests-'))
        expect(await readFile(join(options.cacheDir, entry), 'utf8')).not.toContain('s3cr3t');
    }
  });

  it('bounds the output of a render by maxTotalBytes', async () => {
    const repo = await server.createRepo('render-output-bound');
    await repo.commit(kustomizeRepo('bound'));
    const error = await failure(
      loadSource(
        { repo: repo.workTree, path: 'overlays/prod' },
        { ...options, limits: { maxTotalBytes: 200 } },
      ),
    );
    expect(error.message).toBe(
      'kustomize build overlays/prod (overlays/prod/kustomization.yaml): printed more than the limit of 200 bytes (maxTotalBytes) and was stopped',
    );
  });

  it('refuses a kustomization that reaches outside the repository', async () => {
    const repo = await server.createRepo('render-escape');
    const revision = await repo.commit({ 'app/kustomization.yaml': 'resources: [../../../etc]\n' });
    const error = await failure(loadSource({ repo: repo.workTree, path: 'app' }, options));
    expect(error.message).toBe(
      'app/kustomization.yaml: resources entry "../../../etc" points outside the repository',
    );
    expect(error.revision).toBe(revision);
  });

  it('renders only vendored subcharts: a dependency missing from charts/ fails, naming it', async () => {
    const repo = await server.createRepo('render-unvendored');
    const revision = await repo.commit({
      ...helmRepo('unvendored.example.com'),
      'chart/Chart.yaml':
        'apiVersion: v2\nname: web\nversion: 0.1.0\ndependencies:\n  - name: redis\n    version: 1.0.0\n    repository: https://charts.example.com\n',
    });
    const error = await failure(loadSource({ repo: repo.workTree, path: 'chart' }, options));
    expect(error.message).toMatch(
      /^helm template chart \(chart\/Chart\.yaml\) failed \(exit code 1\): .*redis/,
    );
    expect(error.message).toContain('charts/');
    expect(error.revision).toBe(revision);
  });

  it('refuses a remote base unless the app allows remote bases, a file:// one even then, and never caches a render that may fetch', async () => {
    const remote = await server.createRepo('render-remote-base');
    await remote.commit({
      'base/kustomization.yaml': 'resources: [cm.yaml]\n',
      'base/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-remote}\n',
    });
    const repo = await server.createRepo('render-remote-overlay');
    await repo.commit({
      'app/kustomization.yaml': `resources:\n  - file://${remote.bareDir}//base?ref=main\n`,
      'local/kustomization.yaml': 'resources: [cm.yaml]\n',
      'local/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: local}\n',
      'https/kustomization.yaml': 'resources: [https://github.com/example-org/base//app?ref=v1]\n',
    });
    const refused = await failure(loadSource({ repo: repo.workTree, path: 'https' }, options));
    expect(refused.message).toMatch(
      /^https\/kustomization\.yaml: resources entry "https:.*" is a remote base.*kustomize\.allowRemoteBases/,
    );
    // file:// reads the machine's own files: the opt-in does not reach that far.
    const allowRemote = { kustomize: { allowRemoteBases: true } };
    const hostFiles = await failure(
      loadSource({ repo: repo.workTree, path: 'app', render: allowRemote }, options),
    );
    expect(hostFiles.message).toMatch(/is a file:\/\/ repository.*even with kustomize\.allowRemoteBases/);

    // With the opt-in a render is not pinned by the commit, so it is never cached.
    const allowed = { repo: repo.workTree, path: 'local', render: allowRemote };
    const first = await loadSource(allowed, options);
    expect(first.objects.map((o) => o.object.metadata.name)).toEqual(['local']);
    expect((await loadSource(allowed, options)).cached).toBe(false);
    expect((await loadSource({ repo: repo.workTree, path: 'local' }, options)).cached).toBe(false);
    expect((await loadSource({ repo: repo.workTree, path: 'local' }, options)).cached).toBe(true);
  });

  it('includes the CRDs of a chart and names both templates of an object rendered twice', async () => {
    const repo = await server.createRepo('render-chart-crds');
    const crd = [
      'apiVersion: apiextensions.k8s.io/v1',
      'kind: CustomResourceDefinition',
      'metadata: {name: gadgets.crds.example.com}',
      'spec:',
      '  group: crds.example.com',
      '  scope: Namespaced',
      '  names: {plural: gadgets, kind: Gadget}',
      '  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]',
      '',
    ].join('\n');
    await repo.commit({ ...helmRepo('crds.example.com'), 'chart/crds/gadget.yaml': crd });
    const loaded = await loadSource({ repo: repo.workTree, path: 'chart', app: 'web' }, options);
    expect(loaded.objects.find((o) => o.object.kind === 'CustomResourceDefinition')?.origin.file).toBe(
      'helm template chart: web/crds/gadget.yaml',
    );

    await repo.commit({
      'chart/templates/again.yaml':
        'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}-color}\n',
    });
    const error = await failure(loadSource({ repo: repo.workTree, path: 'chart', app: 'web' }, options));
    expect(error.message).toMatch(
      /^helm template chart: web\/templates\/[a-z]+\.yaml document \d: ConfigMap web-color is already defined in helm template chart: web\/templates\/[a-z]+\.yaml document \d$/,
    );
  });

  it("fails a chart, saying why, when the cluster's capabilities cannot be read", async () => {
    const repo = await server.createRepo('render-no-cluster');
    await repo.commit(helmRepo('no-cluster.example.com'));
    const capabilities = async () => {
      throw new Error('GET https://10.0.0.1/version: API server unreachable (connect ECONNREFUSED)');
    };
    const error = await failure(
      loadSource({ repo: repo.workTree, path: 'chart' }, { ...options, capabilities }),
    );
    expect(error.message).toBe(
      "helm template chart: cannot read the cluster's version and API versions for .Capabilities: GET https://10.0.0.1/version: API server unreachable (connect ECONNREFUSED)",
    );
  });

  it('refuses a helm values file outside the repository', async () => {
    const repo = await server.createRepo('render-values-escape');
    await repo.commit(helmRepo('escape.example.com'));
    const error = await failure(
      loadSource(
        { repo: repo.workTree, path: 'chart', render: { helm: { valuesFiles: ['../../x.yaml'] } } },
        options,
      ),
    );
    expect(error.message).toBe(
      'helm.valuesFiles: "../../x.yaml" is outside the repository; give a path inside it',
    );
  });
});

describe('redacting a renderer error line', () => {
  it('masks Secret values, opaque tokens and URL credentials, and keeps file names', () => {
    expect(redactToolLine('error: map[stringData:map[password:hunter2]] in Secret db')).toBe(
      'error: map[stringData: ***',
    );
    expect(redactToolLine('Secret "db" data: {"token": "c2VjcmV0LXZhbHVl"}')).toBe('Secret "db" data: ***');
    expect(redactToolLine('auth wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY failed')).toBe('auth *** failed');
    expect(redactToolLine('fetch https://user:pa55@git.example.com/x failed')).toBe(
      'fetch https://***@git.example.com/x failed',
    );
    expect(redactToolLine('web/templates/deployment2.yaml:3:5: bad')).toBe(
      'web/templates/deployment2.yaml:3:5: bad',
    );
  });

  it('masks every run of 32+ hex, base64 or base64url characters, whatever its case', () => {
    const hex = 'de'.repeat(20);
    expect(redactToolLine(`error calling fail: ${hex}`)).toBe('error calling fail: ***');
    expect(redactToolLine(`fail: ${hex.toUpperCase()}.`)).toBe('fail: ***.');
    expect(redactToolLine(`fail: ${'c2VjcmV0'.repeat(5)}==`)).toBe('fail: ***');
    expect(redactToolLine(`fail: ${'abcdefgh'.repeat(4)}/abc+`)).toBe('fail: ***');
    expect(redactToolLine(`fail: ${'ab_cd-ef'.repeat(5)}`)).toBe('fail: ***');
    // Shorter runs, words and paths stay: the message still names the template.
    expect(redactToolLine(`at (chart/templates/cm.yaml:1:4): ${'ab'.repeat(15)}`)).toBe(
      `at (chart/templates/cm.yaml:1:4): ${'ab'.repeat(15)}`,
    );
  });
});
