import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKubeClient } from '../../lambda/cluster/kube-client.ts';
import { readSimpleKubeConfig } from '../../lambda/cluster/kubeconfig.ts';
import { connectCluster } from '../../lambda/cluster/target.ts';

const cp = inject('controlPlane');
let dir: string;

const config = (user: Record<string, unknown>, cluster: Record<string, unknown> = {}) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'local',
    contexts: [{ name: 'local', context: { cluster: 'c', user: 'u' } }],
    clusters: [{ name: 'c', cluster: { server: cp.server, 'certificate-authority': 'ca.crt', ...cluster } }],
    users: [{ name: 'u', user }],
  });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'driftless-kubeconfig-'));
  await writeFile(join(dir, 'ca.crt'), cp.caPem);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('reading a kubeconfig without client-node', () => {
  it('resolves a CA file relative to the kubeconfig and a bearer token, and reaches the server', async () => {
    const path = join(dir, 'token.yaml');
    await writeFile(path, config({ token: cp.adminToken }));
    const connection = readSimpleKubeConfig(path);
    expect(connection?.caPem).toBe(cp.caPem);
    const res = await createKubeClient(connection!).request({ method: 'GET', path: '/api/v1/namespaces' });
    expect(res.status).toBe(200);
  });

  it('re-reads a token file per request, so a rotated token is picked up', async () => {
    const path = join(dir, 'token-file.yaml');
    await writeFile(join(dir, 'token'), 'stale-token\n');
    await writeFile(
      path,
      config(
        { tokenFile: 'token' },
        { 'certificate-authority-data': Buffer.from(cp.caPem).toString('base64') },
      ),
    );
    const client = createKubeClient(readSimpleKubeConfig(path)!);
    expect((await client.request({ method: 'GET', path: '/api/v1/namespaces' })).status).toBe(401);
    await writeFile(join(dir, 'token'), `${cp.adminToken}\n`);
    expect((await client.request({ method: 'GET', path: '/api/v1/namespaces' })).status).toBe(200);
  });

  it('leaves exec plugins and auth providers to client-node', async () => {
    const path = join(dir, 'exec.yaml');
    await writeFile(
      path,
      config({ exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: 'true' } }),
    );
    expect(readSimpleKubeConfig(path)).toBeUndefined();
  });

  it('names the missing context and the ones the file has', async () => {
    const path = join(dir, 'ctx.yaml');
    await writeFile(path, config({ token: 'x' }));
    expect(() => readSimpleKubeConfig(path, 'prod')).toThrow(/has no context "prod"; it has: local/);
    await expect(connectCluster({ type: 'kubeconfig', kubeconfig: path, context: 'prod' })).rejects.toThrow(
      /no context "prod"/,
    );
  });
});
