/**
 * The Kubernetes client retries what may pass (429 with Retry-After, 5xx, a broken connection),
 * within bounds, against the real API server behind an HTTPS stand-in that injects the faults.
 */
import { createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isConnectionBroken, isTooManyRequests, isUnreachable } from '../../lambda/cluster/api-errors.ts';
import { createKubeClient, type KubeClient } from '../../lambda/cluster/kube-client.ts';
import { reconcile } from '../../lambda/reconcile/reconcile.ts';
import { type HttpStandIn, startHttpStandIn } from '../reliability/http-stand-in.ts';
import { kubectlGet } from '../support/kubectl.ts';

const cp = inject('controlPlane');
let standIn: HttpStandIn;

beforeAll(async () => {
  standIn = await startHttpStandIn(cp);
});
afterAll(async () => {
  await standIn?.stop();
});

function client(retry: { maxAttempts?: number } = {}): KubeClient {
  return createKubeClient({
    server: standIn.server,
    caPem: cp.caPem,
    authorization: async () => `Bearer ${cp.adminToken}`,
    retry: { baseDelayMs: 20, ...retry },
  });
}

describe('retries', () => {
  it('sends a request again after a 429 (waiting its Retry-After) and a 503, and returns the answer', async () => {
    const path = '/api/v1/namespaces/default';
    const answers = [
      { status: 429, headers: { 'retry-after': '1' }, body: { kind: 'Status', reason: 'TooManyRequests' } },
      { status: 503, body: { kind: 'Status', reason: 'ServiceUnavailable' } },
    ];
    standIn.decide = (req) => (req.url === path ? (answers.shift() ?? 'forward') : 'forward');
    const started = standIn.seen.length;
    const kube = client();
    const res = await kube.request<{ metadata: { name: string } }>({ method: 'GET', path });
    expect(res.status).toBe(200);
    expect(res.body.metadata.name).toBe('default');
    expect(standIn.seen.slice(started).filter((r) => r.url === path)).toHaveLength(3);
  });

  it('gives up after the bounded attempts and returns the last 429 as a typed error', async () => {
    const path = '/api/v1/namespaces/kube-system';
    standIn.decide = (req) =>
      req.url === path ? { status: 429, body: { kind: 'Status', reason: 'TooManyRequests' } } : 'forward';
    const started = standIn.seen.length;
    const res = await client({ maxAttempts: 3 }).request({ method: 'GET', path });
    expect(isTooManyRequests(res)).toBe(true);
    expect(standIn.seen.slice(started).filter((r) => r.url === path)).toHaveLength(3);
  });

  it('throws a connection-broken error, not unreachable, when one request keeps breaking while the server answers others', async () => {
    const path = '/api/v1/namespaces/default/configmaps/never-answered';
    standIn.decide = (req) => (req.url === path ? 'break' : 'forward');
    const error = await client({ maxAttempts: 3 })
      .request({ method: 'GET', path })
      .catch((e: unknown) => e);
    expect(isConnectionBroken(error)).toBe(true);
    expect((error as Error).message).toMatch(/the connection broke after 3 attempts/);
  });
});

describe('a server that stopped answering', () => {
  it('trips after the silence: every outstanding and queued request fails at once with one error naming the server, and nothing more is sent', async () => {
    // Accepts connections and never answers (a host gone from the network): each attempt times out.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const server = `https://127.0.0.1:${(silent.address() as { port: number }).port}`;
    try {
      const kube = createKubeClient({
        server,
        caPem: cp.caPem,
        timeoutMs: 500,
        silenceMs: 1_500,
        maxSockets: 4,
        retry: { baseDelayMs: 20 },
      });
      const started = Date.now();
      const errors = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          kube.request({ method: 'GET', path: `/api/v1/namespaces/default/configmaps/cm-${i}` }).then(
            () => undefined,
            (e: unknown) => e as Error,
          ),
        ),
      );
      const elapsed = Date.now() - started;
      // Without the breaker, 40 requests over 4 sockets retried 5 times each take over 20 s.
      expect(elapsed).toBeLessThan(4_000);
      expect(errors.every((e) => isUnreachable(e))).toBe(true);
      const messages = new Set(errors.map((e) => e?.message));
      expect([...messages]).toEqual([
        expect.stringMatching(
          new RegExp(
            `^API server unreachable: ${server} stopped answering \\(no answer for \\d+ s while \\d+ requests failed to connect; last: .*no answer within 500 ms\\)`,
          ),
        ),
      ]);
      const sent = kube.requestCount;
      const later = await kube.request({ method: 'GET', path: '/version' }).catch((e: unknown) => e);
      expect((later as Error).message).toBe([...messages][0]);
      expect(kube.requestCount).toBe(sent);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

const NOT_APPLIED =
  'not applied: other objects of this set failed before the first write (a bad set writes nothing)';

describe('one request whose connection keeps breaking', () => {
  it('fails only that object after bounded retries, and the run names no unreachable server (a bad set writes nothing)', async () => {
    const NS = 'retry-broken';
    const broken = `/api/v1/namespaces/${NS}/configmaps/breaks`;
    standIn.decide = (req) => (req.method === 'PATCH' && req.url.startsWith(broken) ? 'break' : 'forward');
    const started = standIn.seen.length;
    const cm = (name: string) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name },
      data: { a: '1' },
    });
    const result = await reconcile({
      kube: client(),
      desired: [namespace(NS), cm('breaks'), cm('fine-1'), cm('fine-2')].map((object, i) => ({
        object,
        origin: { file: `m/${i}.yaml`, document: 0 },
      })),
      options: { app: 'retry-broken', revision: 'rev1', defaultNamespace: NS },
      state: { inventory: [] },
    });
    // The object's own failure, not the run's: the server answered every other request.
    expect(result.error).toMatch(
      /^nothing was applied: 1 object\(s\) failed before the first write:\n {2}ConfigMap retry-broken\/breaks: PATCH .*the connection broke after 5 attempts/,
    );
    expect(result.error).not.toMatch(/unreachable/);
    expect(result.outcome).toBe('Failed');
    expect(result.resources.find((r) => r.name === 'breaks')).toMatchObject({
      action: 'failed',
      message: expect.stringMatching(
        /^ConfigMap retry-broken\/breaks: .*the connection broke after 5 attempts/,
      ),
    });
    // Every other object was decided and reported; only the Namespace they need went first.
    expect(result.resources.filter((r) => r.action === 'created').map((r) => r.name)).toEqual([NS]);
    expect(
      result.resources
        .filter((r) => r.action === 'skipped')
        .map((r) => `${r.name}: ${r.message}`)
        .sort(),
    ).toEqual(['fine-1', 'fine-2'].map((name) => `${name}: ${NOT_APPLIED}`));
    expect(
      standIn.seen.slice(started).filter((r) => r.method === 'PATCH' && r.url.startsWith(broken)),
    ).toHaveLength(5);
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'fine-2', NS)).toBeUndefined();
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'breaks', NS)).toBeUndefined();
  });
});

function namespace(name: string) {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
}
