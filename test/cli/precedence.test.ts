/**
 * `--config FILE --app NAME` with flags, through the CLI: a flag overrides only the setting it
 * names. `--repo ./checkout` keeps the config's path, ref, render, helm and kustomize; a config
 * used with `--kubeconfig` needs no EKS cluster.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SyncResult } from '../../lambda/reconcile/types.ts';
import { runDriftless } from '../support/driftless-cli.ts';

const exec = promisify(execFile);
const cp = inject('controlPlane');
const REMOTE = 'https://git.example.com/acme/gitops.git';
const CLUSTER = '    cluster: { name: prod, region: eu-west-1 }\n';

let workDir: string;
let checkout: string;
let config: string;
let localConfig: string;
let releaseRevision: string;

const configMap = (name: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata: {a: "1"}\n`;

async function commitFiles(files: Record<string, string>, message: string): Promise<string> {
  for (const [file, content] of Object.entries(files)) {
    await mkdir(dirname(join(checkout, file)), { recursive: true });
    await writeFile(join(checkout, file), content);
  }
  const git = (...args: string[]) => exec('git', ['-C', checkout, ...args]);
  await git('add', '-A');
  await git('-c', 'user.name=t', '-c', 'user.email=t@driftless.dev', 'commit', '--quiet', '-m', message);
  return (await git('rev-parse', 'HEAD')).stdout.trim();
}

/** `plan --config FILE --app APP --repo CHECKOUT ...` from a scratch folder, as JSON. */
async function plan(app: string, ...flags: string[]): Promise<{ code: number; result: SyncResult }> {
  const run = await runDriftless(
    [
      'plan',
      '--config',
      app === 'local' ? localConfig : config,
      '--app',
      app,
      '--repo',
      checkout,
      '--kubeconfig',
      cp.kubeconfig,
      '-o',
      'json',
      ...flags,
    ],
    {
      XDG_STATE_HOME: join(workDir, 'state'),
      XDG_CACHE_HOME: join(workDir, 'cache'),
      DRIFTLESS_CACHE_DIR: '',
    },
    'node',
    workDir,
  );
  return { code: run.code, result: JSON.parse(run.stdout) as SyncResult };
}

const names = (result: SyncResult) => result.resources.map((r) => r.name).sort();

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-precedence-'));
  checkout = join(workDir, 'checkout');
  await exec('git', ['init', '--quiet', '--initial-branch=main', checkout]);
  await commitFiles(
    {
      'root.yaml': configMap('prec-root'),
      'web/cm.yaml': configMap('prec-web'),
      'chart/Chart.yaml': 'apiVersion: v2\nname: shop\nversion: 0.1.0\n',
      'chart/values.yaml': 'flavour: plain\n',
      'chart/templates/cm.yaml':
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Values.flavour }}\n',
      // A remote base on a host that does not resolve: refused unless kustomize.allowRemoteBases.
      'remote/kustomization.yaml': 'resources:\n  - https://git.example.invalid/acme/base//app?ref=v1\n',
    },
    'main',
  );
  await exec('git', ['-C', checkout, 'checkout', '--quiet', '-b', 'release']);
  releaseRevision = await commitFiles(
    { 'web/extra.yaml': configMap('prec-web-release'), 'other/cm.yaml': configMap('prec-other') },
    'release',
  );
  await exec('git', ['-C', checkout, 'checkout', '--quiet', 'main']);
  config = join(workDir, 'driftless.config.yaml');
  await writeFile(
    config,
    `apps:\n` +
      `  - name: web\n    repo: ${REMOTE}\n    path: web\n    ref: release\n${CLUSTER}` +
      `  - name: shop\n    repo: ${REMOTE}\n    path: chart\n    render: helm\n` +
      `    helm: { releaseName: shop-rel, values: { flavour: spicy } }\n${CLUSTER}` +
      `  - name: strict\n    repo: ${REMOTE}\n    path: web\n    render: kustomize\n${CLUSTER}` +
      `  - name: remote\n    repo: ${REMOTE}\n    path: remote\n    kustomize: { allowRemoteBases: true }\n${CLUSTER}`,
  );
  // No cluster: usable from the CLI with --kubeconfig or --context only.
  localConfig = join(workDir, 'local.config.yaml');
  await writeFile(localConfig, `apps:\n  - name: local\n    repo: ${REMOTE}\n    path: web\n`);
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe('--repo with --config keeps the settings no flag names', () => {
  it("keeps the config's path and ref", async () => {
    const { code, result } = await plan('web');
    expect(result.error).toBeUndefined();
    expect(code).toBe(1);
    expect(result.revision).toBe(releaseRevision);
    expect(names(result)).toEqual(['prec-web', 'prec-web-release']);
  });

  it('--ref overrides the ref alone: the path stays', async () => {
    const { result } = await plan('web', '--ref', 'main');
    expect(result.error).toBeUndefined();
    expect(names(result)).toEqual(['prec-web']);
  });

  it('--path overrides the path alone: the ref stays', async () => {
    const { result } = await plan('web', '--path', 'other');
    expect(result.error).toBeUndefined();
    expect(result.revision).toBe(releaseRevision);
    expect(names(result)).toEqual(['prec-other']);
  });

  it("keeps the config's helm release name and values", async () => {
    const { result } = await plan('shop');
    expect(result.error).toBeUndefined();
    expect(names(result)).toEqual(['shop-rel-spicy']);
  });

  it("keeps the config's render mode; --render overrides it", async () => {
    const kept = await plan('strict');
    expect(kept.code).toBe(2);
    expect(kept.result.error).toMatch(/kustomization/i);
    const overridden = await plan('strict', '--render', 'plain');
    expect(overridden.result.error).toBeUndefined();
    expect(names(overridden.result)).toEqual(['prec-web']);
  });

  it("keeps the config's kustomize settings (allowRemoteBases)", async () => {
    const { code, result } = await plan('remote', '--path', 'remote');
    expect(code).toBe(2);
    // Allowed, the base is fetched (and fails: nothing listens); dropped, it would be refused.
    expect(result.error).toBeDefined();
    expect(result.error).not.toMatch(/is a remote base/);
  });
});

describe('a deploy config on a kubeconfig', () => {
  it('needs no EKS cluster for an app run with --kubeconfig', async () => {
    const { result } = await plan('local');
    expect(result.error).toBeUndefined();
    expect(names(result)).toEqual(['prec-web']);
  });

  it('still needs the cluster without --kubeconfig or --context, naming the setting', async () => {
    const run = await runDriftless(
      ['plan', '--config', localConfig, '--app', 'local', '-o', 'json'],
      { XDG_STATE_HOME: join(workDir, 'state'), XDG_CACHE_HOME: join(workDir, 'cache') },
      'node',
      workDir,
    );
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout).error).toMatch(/apps\[0\]\.cluster/);
  });
});
