/** What stops a run before any write, and what fails one object while the others still apply. */
import { describe, expect, it } from 'vitest';
import { createKubeClient } from '../../lambda/cluster/kube-client.ts';
import { apiErrorMessage } from '../../lambda/reconcile/apply.ts';
import { reconcile } from '../../lambda/reconcile/reconcile.ts';
import type { KubeObject } from '../../lambda/reconcile/types.ts';
import { kubectlGet } from '../support/kubectl.ts';
import {
  actionOf,
  adminClient,
  appRunner,
  configMap,
  cp,
  deployment,
  manifests,
  namespace,
} from './harness.ts';

const job = (name: string, ns: string, image: string): KubeObject => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name, namespace: ns },
  spec: {
    template: {
      metadata: { labels: { job: name } },
      spec: { restartPolicy: 'Never', containers: [{ name: 'run', image }] },
    },
  },
});

describe('validation before any write', () => {
  const kube = adminClient();

  it('rejects an unknown kind and a duplicate, naming file and document, and writes nothing', async () => {
    const NS = 'guard-invalid';
    const result = await reconcile({
      kube,
      options: { app: 'guard-invalid', revision: 'rev1', defaultNamespace: NS },
      state: { inventory: [] },
      desired: [
        { object: namespace(NS), origin: { file: 'ns.yaml', document: 0 } },
        { object: configMap('ok', NS, { a: '1' }), origin: { file: 'cm.yaml', document: 0 } },
        {
          object: { apiVersion: 'batch/v1beta1', kind: 'CronJob', metadata: { name: 'c' } },
          origin: { file: 'cron.yaml', document: 2 },
        },
        { object: configMap('ok', NS, { a: '2' }), origin: { file: 'more.yaml', document: 3 } },
      ],
    });
    expect(result.outcome).toBe('Failed');
    expect(result.error).toContain(
      'cron.yaml (document 2): CronJob c: unknown kind CronJob in batch/v1beta1; the server serves batch versions v1',
    );
    expect(result.error).toContain(
      'more.yaml (document 3): duplicate ConfigMap guard-invalid/ok, already defined in cm.yaml (document 0)',
    );
    expect(result.resources).toEqual([]);
    expect(result.state).toEqual({ inventory: [] });
    expect(await kubectlGet(cp.kubeconfig, 'namespace', NS)).toBeUndefined();
  });

  it('rejects one object declared through two API groups (core and events.k8s.io Event) as a duplicate', async () => {
    const NS = 'guard-alias';
    const event = (apiVersion: string) => ({
      apiVersion,
      kind: 'Event',
      metadata: { name: 'note', namespace: NS },
    });
    const result = await reconcile({
      kube,
      options: { app: 'guard-alias', revision: 'rev1', defaultNamespace: NS },
      state: { inventory: [] },
      desired: [
        { object: namespace(NS), origin: { file: 'ns.yaml', document: 0 } },
        { object: event('v1'), origin: { file: 'a.yaml', document: 0 } },
        { object: event('events.k8s.io/v1'), origin: { file: 'b.yaml', document: 0 } },
      ],
    });
    expect(result.outcome).toBe('Failed');
    expect(result.error).toContain(
      'b.yaml (document 0): duplicate Event guard-alias/note, already defined in a.yaml (document 0)',
    );
    expect(result.resources).toEqual([]);
    expect(await kubectlGet(cp.kubeconfig, 'namespace', NS)).toBeUndefined();
  });

  it('refuses a Secret value the API would reject, naming the key and never the value', async () => {
    const NS = 'guard-secret-type';
    const result = await reconcile({
      kube,
      options: { app: 'guard-secret-type', revision: 'rev1', defaultNamespace: NS },
      state: { inventory: [] },
      desired: [
        { object: namespace(NS), origin: { file: 'ns.yaml', document: 0 } },
        {
          object: {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'pin' },
            stringData: { pin: 987654321 },
          },
          origin: { file: 'pin.yaml', document: 0 },
        },
        {
          object: {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'raw' },
            data: { key: 'not base64!' },
          },
          origin: { file: 'raw.yaml', document: 0 },
        },
      ],
    });
    expect(result.outcome).toBe('Failed');
    expect(result.error).toContain('pin.yaml (document 0): Secret pin: stringData.pin must be a string');
    expect(result.error).toContain('raw.yaml (document 0): Secret raw: data.key is not valid base64');
    expect(JSON.stringify(result)).not.toMatch(/987654321|not base64!/);
    expect(await kubectlGet(cp.kubeconfig, 'namespace', NS)).toBeUndefined();
  });

  it('withholds the API message of a rejected Secret, which may quote a value', () => {
    const message = apiErrorMessage({ apiVersion: 'v1', kind: 'Secret', namespace: 'ns', name: 's' }, 422, {
      kind: 'Status',
      reason: 'Invalid',
      message:
        'Secret "s" is invalid: .stringData.pin: expected string, got &value.valueUnstructured{Value:987654321}',
      details: { causes: [{ field: '.stringData.pin', message: 'expected string, got 987654321' }] },
    });
    expect(message).toBe(
      'Secret ns/s: Invalid (HTTP 422): the API server rejected the Secret at .stringData.pin (its message is withheld: it may quote a Secret value)',
    );
  });

  it('rejects an app name that cannot be a label value before any write', async () => {
    const result = await reconcile({
      kube,
      options: { app: 'Not a label!', revision: 'rev1', defaultNamespace: 'default' },
      state: { inventory: [] },
      desired: manifests(configMap('guard-bad-app', 'default', { a: '1' })),
    });
    expect(result.outcome).toBe('Failed');
    expect(result.error).toMatch(/app name "Not a label!" is not a valid label value/);
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'guard-bad-app', 'default')).toBeUndefined();
  });

  it('puts namespaced objects without a namespace into the default namespace', async () => {
    const NS = 'guard-default';
    const app = appRunner(kube, { app: 'guard-default', defaultNamespace: NS });
    const result = await app.run(manifests(namespace(NS), configMap('plain', undefined, { a: '1' })), 'rev1');
    expect(actionOf(result, 'ConfigMap', 'plain')).toMatchObject({ namespace: NS, action: 'created' });
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'plain', NS)).toBeDefined();
  });

  it('fails the run with the server named when the API server is unreachable', async () => {
    const down = createKubeClient({ server: 'https://127.0.0.1:1', timeoutMs: 2000 });
    const state = {
      revision: 'rev0',
      inventory: [{ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'x', name: 'y' }],
    };
    const result = await reconcile({
      kube: down,
      desired: manifests(configMap('a', 'x', { a: '1' })),
      options: { app: 'guard-down', revision: 'rev1', defaultNamespace: 'x' },
      state,
    });
    expect(result.outcome).toBe('Failed');
    expect(result.error).toMatch(/unreachable: https:\/\/127\.0\.0\.1:1 stopped answering/);
    expect(result.state).toEqual(state);
  });
});

describe('failures of single objects', () => {
  const kube = adminClient();

  it('never modifies an object that carries another app label and names the owner, and writes nothing else', async () => {
    const NS = 'guard-owner';
    const other = appRunner(kube, { app: 'guard-other', defaultNamespace: NS });
    await other.run(manifests(namespace(NS), configMap('shared', NS, { owner: 'other' })), 'rev1');

    const mine = appRunner(kube, { app: 'guard-mine', defaultNamespace: NS });
    const result = await mine.run(
      manifests(configMap('shared', NS, { owner: 'mine' }), configMap('own', NS, { a: '1' })),
      'rev1',
    );
    expect(actionOf(result, 'ConfigMap', 'shared')).toMatchObject({
      action: 'failed',
      message: expect.stringMatching(/ConfigMap guard-owner\/shared is owned by app "guard-other"/),
    });
    // A bad set writes nothing: the app's own new object is not created either.
    expect(actionOf(result, 'ConfigMap', 'own')).toMatchObject({
      action: 'skipped',
      message: /^not applied/,
    });
    expect(result.outcome).toBe('Failed');
    expect(result.error).toMatch(/nothing was applied: 1 object\(s\) failed/);
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'shared', NS))?.data.owner).toBe('other');
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'own', NS)).toBeUndefined();
    expect(result.state.inventory).toEqual([]);
  });

  it('fails a change to an immutable field with a message saying what is immutable, and applies nothing else', async () => {
    const NS = 'guard-immutable';
    const app = appRunner(kube, { app: 'guard-immutable', defaultNamespace: NS, prune: true });
    await app.run(
      manifests(namespace(NS), deployment('web', NS, { app: 'web' }), configMap('a', NS, { v: '1' })),
      'rev1',
    );
    const result = await app.run(
      manifests(
        namespace(NS),
        deployment('web', NS, { app: 'web-v2' }),
        configMap('a', NS, { v: '2' }),
        configMap('b', NS, { v: '1' }),
      ),
      'rev2',
    );
    expect(actionOf(result, 'Deployment', 'web')).toMatchObject({
      action: 'failed',
      message: expect.stringMatching(
        /^Deployment guard-immutable\/web: spec\.selector is immutable.*delete and re-create/,
      ),
    });
    expect(actionOf(result, 'ConfigMap', 'a')?.action).toBe('skipped');
    expect(actionOf(result, 'ConfigMap', 'b')?.action).toBe('skipped');
    expect(result.outcome).toBe('Failed');
    // Nothing of rev2 was applied: rev1 stays the synced revision.
    expect(result.state.revision).toBe('rev1');
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'a', NS))?.data.v).toBe('1');
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'b', NS)).toBeUndefined();
    const live = await kubectlGet(cp.kubeconfig, 'deployment', 'web', NS);
    expect(live?.spec.selector.matchLabels.app).toBe('web');
  });

  it("fails a change to a Job's template as immutable", async () => {
    const NS = 'guard-job';
    const app = appRunner(kube, { app: 'guard-job', defaultNamespace: NS });
    await app.run(manifests(namespace(NS), job('migrate', NS, 'busybox:1.36')), 'rev1');
    const result = await app.run(manifests(namespace(NS), job('migrate', NS, 'busybox:1.37')), 'rev2');
    expect(actionOf(result, 'Job', 'migrate')).toMatchObject({
      action: 'failed',
      message: expect.stringMatching(/^Job guard-job\/migrate: spec\.template is immutable/),
    });
    expect(actionOf(result, 'Namespace', NS)?.action).toBe('unchanged');
  });

  it('reports an API rejection of one object with its reason and applies only the Namespace the others need', async () => {
    const NS = 'guard-reject';
    const app = appRunner(kube, { app: 'guard-reject', defaultNamespace: NS });
    const bad = configMap('Not_A_Valid_Name', NS, { a: '1' });
    const result = await app.run(manifests(namespace(NS), bad, configMap('fine', NS, { a: '1' })), 'rev1');
    expect(actionOf(result, 'ConfigMap', 'Not_A_Valid_Name')).toMatchObject({
      action: 'failed',
      message: expect.stringMatching(
        /^ConfigMap guard-reject\/Not_A_Valid_Name: (Invalid|BadRequest|NotFound)/,
      ),
    });
    // The Namespace goes first (the ConfigMaps cannot be dry-run without it); nothing else is written.
    expect(actionOf(result, 'Namespace', NS)?.action).toBe('created');
    expect(actionOf(result, 'ConfigMap', 'fine')?.action).toBe('skipped');
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'fine', NS)).toBeUndefined();
  });
});
