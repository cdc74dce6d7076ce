/**
 * `connectCluster` for a kubeconfig target, and `driftless token` as a kubeconfig exec plugin:
 * the ExecCredential it prints is accepted by kubectl and by client-node, and the token inside
 * passes the aws-iam-authenticator stand-in.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { CALLER, type EksControlPlane, startEksControlPlane } from '../support/eks-control-plane.ts';
import { kubectl } from '../support/kubectl.ts';

const cp = inject('controlPlane');
const cli = fileURLToPath(new URL('../../lambda/cli.ts', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'driftless-kubeconfig-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('connectCluster to a kubeconfig context', () => {
  it('uses the file and its current context', async () => {
    const client = await connectCluster({ type: 'kubeconfig', kubeconfig: cp.kubeconfig });
    expect(client.server).toBe(cp.server);
    expect((await client.request({ method: 'GET', path: '/api/v1/namespaces' })).status).toBe(200);
  });

  it('uses KUBECONFIG when no file is given', async () => {
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = cp.kubeconfig;
    try {
      const client = await connectCluster({ type: 'kubeconfig', context: 'admin' });
      expect((await client.request({ method: 'GET', path: '/version' })).status).toBe(200);
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });

  it('names the contexts the file has when the requested one is missing', async () => {
    await expect(
      connectCluster({ type: 'kubeconfig', kubeconfig: cp.kubeconfig, context: 'prod' }),
    ).rejects.toThrow(/has no context "prod"; it has: admin/);
  });
});

describe('driftless token as a kubeconfig exec plugin', () => {
  let eks: EksControlPlane;
  let kubeconfig: string;

  beforeAll(async () => {
    eks = await startEksControlPlane({ clusterName: 'exec-cluster', region: 'ap-southeast-2' });
    kubeconfig = join(dir, 'eks.kubeconfig');
    const env = {
      AWS_ACCESS_KEY_ID: CALLER.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CALLER.secretAccessKey,
      AWS_SESSION_TOKEN: CALLER.sessionToken ?? '',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: join(dir, 'no-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'),
    };
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          { name: 'eks', cluster: { server: eks.cp.server, 'certificate-authority': eks.cp.caFile } },
        ],
        users: [
          {
            name: 'eks',
            user: {
              exec: {
                apiVersion: 'client.authentication.k8s.io/v1beta1',
                command: process.execPath,
                args: [cli, 'token', '--cluster', 'exec-cluster', '--region', 'ap-southeast-2'],
                env: Object.entries(env).map(([name, value]) => ({ name, value })),
                interactiveMode: 'Never',
              },
            },
          },
        ],
        contexts: [{ name: 'eks', context: { cluster: 'eks', user: 'eks' } }],
        'current-context': 'eks',
      }),
    );
  });

  afterAll(async () => {
    await eks?.stop();
  });

  it('lets kubectl in as the mapped IAM identity', async () => {
    await kubectl(kubeconfig, 'create', 'configmap', 'via-exec-plugin', '-n', 'default');
    expect(eks.verifier.reviews.at(-1)).toMatchObject({ authenticated: true, username: 'driftless-agent' });
    expect(
      await kubectl(eks.cp.kubeconfig, 'get', 'configmap', 'via-exec-plugin', '-n', 'default', '-o', 'name'),
    ).toBe('configmap/via-exec-plugin\n');
  });

  it('lets a kubeconfig target (client-node) in through the same plugin', async () => {
    const client = await connectCluster({ type: 'kubeconfig', kubeconfig });
    const res = await client.request({ method: 'GET', path: '/api/v1/namespaces/default/configmaps' });
    expect(res.status).toBe(200);
    expect(eks.verifier.reviews.at(-1)).toMatchObject({
      authenticated: true,
      accessKeyId: CALLER.accessKeyId,
    });
  });
});
