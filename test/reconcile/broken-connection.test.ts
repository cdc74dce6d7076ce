/**
 * A read or a delete whose connection keeps breaking (the server answers every other request)
 * is that object's failure, not the run's: the run names the object and is not "unreachable".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubeClient } from '../../lambda/cluster/kube-client.ts';
import { type HttpStandIn, startHttpStandIn } from '../reliability/http-stand-in.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import { actionOf, appRunner, configMap, cp, manifests, namespace } from './harness.ts';

let standIn: HttpStandIn;
beforeAll(async () => {
  standIn = await startHttpStandIn(cp);
});
afterAll(async () => {
  await standIn?.stop();
});

function client() {
  return createKubeClient({
    server: standIn.server,
    caPem: cp.caPem,
    authorization: async () => `Bearer ${cp.adminToken}`,
    retry: { baseDelayMs: 20 },
  });
}

describe('one request whose connection keeps breaking', () => {
  it('fails the object whose GET keeps breaking, naming it, and writes nothing', async () => {
    const ns = 'broken-get';
    await kubectl(cp.kubeconfig, 'create', 'namespace', ns);
    const broken = `/api/v1/namespaces/${ns}/configmaps/breaks`;
    standIn.decide = (req) => (req.method === 'GET' && req.url === broken ? 'break' : 'forward');
    const app = appRunner(client(), { app: 'broken-get', defaultNamespace: ns, adopt: true });
    const result = await app.run(
      manifests(configMap('breaks', ns, { a: '1' }), configMap('fine', ns, { a: '1' })),
      'rev1',
    );
    standIn.decide = () => 'forward';
    expect(actionOf(result, 'ConfigMap', 'breaks')).toMatchObject({
      action: 'failed',
      message: expect.stringMatching(new RegExp(`^ConfigMap ${ns}/breaks: .*the connection broke`)),
    });
    expect(result.outcome).toBe('Failed');
    expect(result.error).toMatch(/1 object\(s\) failed before the first write/);
    expect(result.error).not.toMatch(/unreachable/);
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'fine', ns)).toBeUndefined();
  });

  it('fails the object whose DELETE keeps breaking and prunes the others', async () => {
    const ns = 'broken-delete';
    const app = appRunner(client(), { app: 'broken-delete', defaultNamespace: ns, prune: true });
    const all = manifests(
      namespace(ns),
      configMap('breaks', ns, { a: '1' }),
      configMap('goes', ns, { a: '1' }),
      configMap('stays', ns, { a: '1' }),
    );
    expect((await app.run(all, 'rev1')).outcome).toBe('Synced');
    const broken = `/api/v1/namespaces/${ns}/configmaps/breaks`;
    standIn.decide = (req) => (req.method === 'DELETE' && req.url === broken ? 'break' : 'forward');
    const result = await app.run(manifests(namespace(ns), configMap('stays', ns, { a: '1' })), 'rev2');
    standIn.decide = () => 'forward';
    expect(result.error).toBeUndefined();
    expect(actionOf(result, 'ConfigMap', 'breaks')).toMatchObject({
      action: 'failed',
      message: expect.stringMatching(new RegExp(`^ConfigMap ${ns}/breaks: .*the connection broke`)),
    });
    expect(actionOf(result, 'ConfigMap', 'goes')?.action).toBe('pruned');
    expect(result.outcome).toBe('Failed');
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'goes', ns)).toBeUndefined();
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'breaks', ns)).toBeDefined();
  });
});
