/**
 * A real Kubernetes cluster on loopback, for integration tests: etcd and kube-apiserver, and
 * beside them kube-controller-manager, kube-scheduler and kwok's simulated nodes
 * (cluster-controllers.ts), so Namespaces are finalized, the garbage collector cascades,
 * Deployments roll out and Jobs complete. Its token file holds the identities users deploy with
 * (identities.ts).
 *
 * Binaries come from `KUBEBUILDER_ASSETS` (the envtest convention) or from the per-version cache
 * that `test/support/install-control-plane.sh` fills (the version is in `control-plane.env`,
 * `DRIFTLESS_KUBE_VERSION` overrides it). A missing API server or etcd fails the start with a
 * message that says how to install them; missing controllers are reported in
 * `controllersMissing` and the tests that need them skip, saying why. The flags are those of a
 * real cluster where they matter to the engine: RBAC, the default admission chain
 * (ValidatingAdmissionPolicy included), service account keys, a /16 service range.
 */
import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { findControllers, startControllers } from './cluster-controllers.ts';
import { newIdentities, type TestIdentities, tokenFileLines, writeIdentities } from './identities.ts';
import { spawnLogged, terminate } from './processes.ts';

export interface ControlPlaneOptions {
  /**
   * URL of a token-review webhook (`--authentication-token-webhook-config-file`), for
   * tokens the static token file does not know. @default none
   */
  tokenWebhookUrl?: string;
  /**
   * Write an audit log (one JSON line per request, level Metadata) to this path, so a benchmark
   * can count every client's requests on the server side. @default none
   */
  auditLogPath?: string;
  /** How long to wait for `/readyz`. @default 60_000 */
  startTimeoutMs?: number;
  /**
   * Run kube-controller-manager, kube-scheduler and kwok beside the API server. A test about the
   * API server alone (outages, discovery) may leave them out. @default true
   */
  controllers?: boolean;
}

export interface ControlPlaneInfo {
  /** `https://127.0.0.1:PORT` */
  server: string;
  /** Bearer token of a `system:masters` user, for the harness and observers. */
  adminToken: string;
  /** PEM of the serving certificate (self-signed: it is its own CA). */
  caPem: string;
  /** Path of the serving certificate, for `--certificate-authority`. */
  caFile: string;
  /** A kubeconfig with one context, `admin`, using `adminToken`. */
  kubeconfig: string;
  /** The identities users deploy with (identities.ts), each with its kubeconfig. */
  identities: TestIdentities;
  /** Why no controllers run (binaries not built, or not asked for); undefined when they run. */
  controllersMissing?: string;
}

export interface ControlPlane extends ControlPlaneInfo {
  /** Stops kube-apiserver only (etcd keeps the data), e.g. to inject an outage. */
  stopApiServer(): Promise<void>;
  /** SIGKILLs kube-apiserver (no graceful shutdown, as a crash), etcd keeps the data. */
  killApiServer(): Promise<void>;
  /** Starts kube-apiserver again on the same port with the same data. */
  startApiServer(): Promise<void>;
  stop(): Promise<void>;
}

/** The versions in `control-plane.env`, shared with the install script. */
export function controlPlaneVersions(): { kube: string; etcd: string; compat: string } {
  const env = readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'control-plane.env'), 'utf8');
  const value = (key: string) => {
    const found = new RegExp(`^${key}=(\\S+)$`, 'm').exec(env)?.[1];
    if (!found) throw new Error(`control-plane.env sets no ${key}`);
    return found;
  };
  return {
    kube: process.env.DRIFTLESS_KUBE_VERSION || value('KUBE_VERSION'),
    etcd: value('ETCD_VERSION'),
    compat: value('KUBE_COMPAT_VERSION'),
  };
}

/** Where the binaries are: `KUBEBUILDER_ASSETS`, else the install script's per-version cache. */
export function controlPlaneAssets(): string {
  return process.env.KUBEBUILDER_ASSETS || controlPlaneCache();
}

/** The install script's folder for this version (controllers and kwok are built there). */
function controlPlaneCache(): string {
  const root =
    process.env.DRIFTLESS_ENVTEST_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'driftless', 'envtest');
  return join(root, controlPlaneVersions().kube);
}

/**
 * The kubectl the tests observe with: the one built beside kube-apiserver (same version; an
 * envtest folder from setup-envtest has one too), else the first on the PATH.
 */
export function kubectlBinary(): string {
  const beside = join(controlPlaneAssets(), 'kubectl');
  return existsSync(beside) ? beside : 'kubectl';
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const assets = controlPlaneAssets();
  const apiserverBin = join(assets, 'kube-apiserver');
  const etcdBin = join(assets, 'etcd');
  for (const bin of [apiserverBin, etcdBin]) {
    if (!existsSync(bin)) {
      throw new Error(
        `control plane binary ${bin} not found: run \`npm run control-plane\` (Debian/Ubuntu) or set KUBEBUILDER_ASSETS to a folder with kube-apiserver and etcd`,
      );
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'driftless-cp-'));
  const logs: string[] = [];
  const processes: ChildProcess[] = [];

  const etcdPort = await freePort();
  const peerPort = await freePort();
  const etcd = spawnLogged(
    etcdBin,
    [
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync=true',
      '--log-level=error',
    ],
    logs,
  );
  processes.push(etcd);

  const adminToken = `admin-${Math.random().toString(36).slice(2)}`;
  const certDir = join(dir, 'certs');
  await mkdir(certDir);
  const identities = newIdentities(dir);
  await writeFile(
    join(dir, 'tokens.csv'),
    `${adminToken},admin,admin,"system:masters"\n${tokenFileLines(identities)}`,
  );
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await writeFile(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));

  const args = [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    // No kubernetes Service endpoints for a loopback address (the reconciler refuses it).
    '--endpoint-reconciler-type=none',
    `--cert-dir=${certDir}`,
    `--token-auth-file=${join(dir, 'tokens.csv')}`,
    '--authorization-mode=RBAC',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${join(dir, 'sa.key')}`,
    `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
    '--service-cluster-ip-range=10.0.0.0/16',
    '--disable-admission-plugins=ServiceAccount',
    '--allow-privileged=true',
    '--enable-priority-and-fairness=false',
    '--v=0',
  ];
  if (options.tokenWebhookUrl) {
    const webhookConfig = join(dir, 'token-webhook.kubeconfig');
    await writeFile(
      webhookConfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'webhook', cluster: { server: options.tokenWebhookUrl } }],
        users: [{ name: 'apiserver', user: {} }],
        contexts: [{ name: 'webhook', context: { cluster: 'webhook', user: 'apiserver' } }],
        'current-context': 'webhook',
      }),
    );
    args.push(
      `--authentication-token-webhook-config-file=${webhookConfig}`,
      '--authentication-token-webhook-version=v1',
      // Each test that checks a rejected token must reach the webhook, not a cache.
      '--authentication-token-webhook-cache-ttl=0s',
    );
  }

  if (options.auditLogPath) {
    const policy = join(dir, 'audit-policy.yaml');
    await writeFile(
      policy,
      'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: ["RequestReceived"]\nrules:\n- level: Metadata\n',
    );
    args.push(
      `--audit-policy-file=${policy}`,
      `--audit-log-path=${options.auditLogPath}`,
      '--audit-log-mode=blocking',
    );
  }

  const timeoutMs = options.startTimeoutMs ?? 60_000;
  let apiserver: ChildProcess | undefined;
  let port = 0;
  const caFile = join(certDir, 'apiserver.crt');
  let caPem = '';

  const startApiServer = async (): Promise<void> => {
    if (port === 0) port = await freePort();
    const proc = spawnLogged(apiserverBin, [...args, `--secure-port=${port}`], logs);
    apiserver = proc;
    processes.push(proc);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) {
        throw new Error(`kube-apiserver exited with ${proc.exitCode}:\n${logs.slice(-30).join('')}`);
      }
      if (existsSync(caFile)) {
        caPem ||= await readFile(caFile, 'utf8');
        if ((await probe(port, adminToken, caPem)) === 200) return;
      }
      await sleep(100);
    }
    throw new Error(`kube-apiserver did not become ready in ${timeoutMs} ms:\n${logs.slice(-30).join('')}`);
  };

  const stopApiServer = async (): Promise<void> => {
    if (apiserver) await terminate(apiserver);
    apiserver = undefined;
  };

  try {
    await startApiServer();
  } catch (error) {
    await Promise.all(processes.map(terminate));
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  const server = `https://127.0.0.1:${port}`;
  const kubeconfig = join(dir, 'admin.kubeconfig');
  await writeFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'local', cluster: { server, 'certificate-authority': caFile } }],
      users: [{ name: 'admin', user: { token: adminToken } }],
      contexts: [{ name: 'admin', context: { cluster: 'local', user: 'admin' } }],
      'current-context': 'admin',
    }),
  );

  let controllersMissing: string | undefined = 'not asked for (controllers: false)';
  try {
    await writeIdentities(identities, { server, caFile, adminKubeconfig: kubeconfig });
    if (options.controllers !== false) {
      const binaries = findControllers([...new Set([assets, controlPlaneCache()])]);
      if ('missing' in binaries) {
        controllersMissing = binaries.missing;
        process.stderr.write(`test cluster without controllers: ${controllersMissing}\n`);
      } else {
        processes.push(
          ...(await startControllers({
            binaries,
            dir,
            adminKubeconfig: kubeconfig,
            caFile,
            serviceAccountKey: join(dir, 'sa.key'),
            logs,
          })),
        );
        controllersMissing = undefined;
      }
    }
  } catch (error) {
    await Promise.all(processes.map(terminate));
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  return {
    server,
    adminToken,
    identities,
    controllersMissing,
    caPem,
    caFile,
    kubeconfig,
    stopApiServer,
    async killApiServer() {
      const proc = apiserver;
      apiserver = undefined;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGKILL');
      await exited;
    },
    startApiServer,
    async stop() {
      await Promise.all(processes.map(terminate));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function probe(port: number, token: string, ca: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/readyz', ca, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', () => resolve(0));
    req.setTimeout(2_000, () => req.destroy());
    req.end();
  });
}
