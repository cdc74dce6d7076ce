/**
 * Stable renders: a chart that generates a certificate (`genCA`, `randAlphaNum`) renders another
 * body every time. When the commit and every render input are those of the last successful run,
 * an object nobody touched since driftless applied it is `unchanged` whatever the new render says;
 * a touched one is drift, and a new commit applies the new render, as Helm's upgrade does.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import type { HistoryStore } from '../../lambda/history/store.ts';
import type { ClusterCapabilities } from '../../lambda/source/render/settings.ts';
import { loadSource } from '../../lambda/source/source.ts';
import { runSync, type SyncInput } from '../../lambda/sync.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';

const cp = inject('controlPlane');
const APP = 'stable-render';

let git: GitServer;
let store: HistoryStore;
let workDir: string;

beforeAll(async () => {
  git = await startGitServer();
  workDir = await mkdtemp(join(tmpdir(), 'driftless-stable-render-'));
  store = await openHistoryStore(`sqlite:${join(workDir, 'history.db')}`);
  await kubectl(cp.kubeconfig, 'create', 'namespace', APP);
});

afterAll(async () => {
  await store?.close();
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

/** A webhook-style chart: a Secret holding a fresh CA and a ConfigMap with a random token. */
function chart(greeting: string): Record<string, string> {
  return {
    'chart/Chart.yaml': 'apiVersion: v2\nname: certs\nversion: 0.1.0\n',
    'chart/values.yaml': `greeting: ${greeting}\n`,
    'chart/templates/tls.yaml': [
      '{{- $ca := genCA "webhook-ca" 365 }}',
      'apiVersion: v1',
      'kind: Secret',
      'metadata: {name: webhook-tls}',
      'type: Opaque',
      'data:',
      '  ca.crt: {{ $ca.Cert | b64enc }}',
      '',
    ].join('\n'),
    'chart/templates/token.yaml': [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata: {name: token}',
      'data:',
      '  token: {{ randAlphaNum 16 | quote }}',
      '  greeting: {{ .Values.greeting | quote }}',
      '',
    ].join('\n'),
  };
}

function sync(options: Partial<SyncInput> = {}) {
  return runSync(
    {
      app: APP,
      source: { repo: repoUrl, path: 'chart', app: APP, render: { mode: 'auto', namespace: APP } },
      target: { type: 'kubeconfig', kubeconfig: cp.kubeconfig },
      namespace: APP,
      prune: true,
      trigger: 'test',
      ...options,
    },
    {
      store,
      loadSource: (settings, context) =>
        loadSource(settings, {
          cacheDir: join(workDir, 'cache'),
          ...context,
          // Read once: other test files add CRDs to the shared cluster meanwhile, and new API
          // versions are a new render input (the chart is rendered again, as it should be).
          capabilities: () => {
            capabilities ??= context?.capabilities?.();
            return capabilities ?? Promise.reject(new Error('no cluster capabilities'));
          },
        }),
      connect: (target) => connectCluster(target),
    },
  );
}

let repoUrl = '';
let capabilities: Promise<ClusterCapabilities> | undefined;
const token = async () => (await kubectlGet(cp.kubeconfig, 'configmap', 'token', APP))?.data.token;

describe('a chart that generates a certificate', () => {
  it('settles after one sync: unchanged across runs, drift still seen, a new commit applies', async () => {
    const repo = await git.createRepo(APP);
    repoUrl = repo.url;
    await repo.commit(chart('hello'));
    const first = await sync();
    expect(first.result.error).toBeUndefined();
    expect(first.record.counts).toEqual({ created: 2 });
    const applied = await token();

    for (const dryRun of [false, true, false]) {
      const run = await sync({ dryRun });
      expect(run.result.outcome).toBe('Synced');
      expect(run.record.counts).toEqual({ unchanged: 2 });
    }
    expect(await token()).toBe(applied);

    // Someone edits the ConfigMap: drift, reported without self-heal, healed with it.
    await kubectl(
      cp.kubeconfig,
      'patch',
      'configmap',
      'token',
      '-n',
      APP,
      '-p',
      '{"data":{"token":"edited"}}',
    );
    const drifted = await sync();
    expect(drifted.result.outcome).toBe('OutOfSync');
    expect(drifted.result.resources.find((r) => r.name === 'token')?.action).toBe('drifted');
    const healed = await sync({ selfHeal: true });
    expect(healed.result.resources.find((r) => r.name === 'token')?.action).toBe('configured');
    expect(await token()).not.toBe('edited');

    // A new commit is an upgrade: the chart's objects are applied as rendered now.
    await repo.commit(chart('bonjour'));
    const upgraded = await sync();
    expect(upgraded.result.outcome).toBe('Synced');
    expect(upgraded.result.resources.find((r) => r.name === 'token')?.action).toBe('configured');
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'token', APP))?.data.greeting).toBe('bonjour');
  });
});
