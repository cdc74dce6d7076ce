/**
 * `npm run demo`: the whole driftless story against a real, local Kubernetes cluster (API server,
 * controllers, scheduler, and kwok's simulated nodes), with the real CLI's output. Installs the
 * cluster if needed (once, a few minutes), starts it, turns `examples/app/` into a Git repository
 * in a temp dir, then:
 *
 *   1. first sync creates everything (deployment.yaml sorts before namespace.yaml: no matter) and
 *      waits: the Deployment becomes Healthy by itself as its controller rolls it out
 *   2. a commit changes the ConfigMap and deletes the Service: sync --prune applies and prunes
 *   3. someone runs `kubectl scale`: plan reports the drift (exit 1), sync --self-heal heals it
 *   4. history prints the log of every run
 *
 * Every step checks its exit code; the demo exits non-zero if the story does not hold. It stops
 * the control plane and removes its temp dir on the way out, also on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ControlPlane, kubectlBinary, startControlPlane } from '../test/support/control-plane.ts';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const cli = join(root, 'lambda', 'cli.ts');

interface Ran {
  code: number;
  stdout: string;
}

/** Runs a command, echoing its output as it comes, and returns its exit code and stdout. */
function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<Ran>((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? root,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
      process.stdout.write(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => process.stdout.write(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
  });
}

function say(title: string): void {
  process.stdout.write(`\n\x1b[1m== ${title}\x1b[0m\n`);
}

function expectExit(step: string, ran: Ran, expected: number): void {
  if (ran.code !== expected) {
    throw new Error(`demo step "${step}" exited with ${ran.code}, expected ${expected}`);
  }
}

async function main(): Promise<void> {
  say(
    'Local Kubernetes cluster (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok nodes; built once, then cached)',
  );
  expectExit(
    'install the cluster',
    await run('bash', [join(root, 'test/support/install-control-plane.sh')]),
    0,
  );

  const started = Date.now();
  let controlPlane: ControlPlane | undefined;
  const workspace = await mkdtemp(join(tmpdir(), 'driftless-demo-'));
  const cleanup = async () => {
    await controlPlane?.stop();
    await rm(workspace, { recursive: true, force: true });
  };
  const onSignal = () => {
    cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    controlPlane = await startControlPlane();
    if (controlPlane.controllersMissing)
      throw new Error(`no controllers run: ${controlPlane.controllersMissing}`);
    process.stdout.write(`API server ${controlPlane.server} (workspace ${workspace})\n`);
    const kubeconfig = controlPlane.kubeconfig;
    const repo = join(workspace, 'app');
    const git = (...args: string[]) => run('git', ['-C', repo, ...args]);
    const kubectl = (...args: string[]) => {
      process.stdout.write(`$ kubectl ${args.join(' ')}\n`);
      return run(kubectlBinary(), ['--kubeconfig', kubeconfig, ...args]);
    };
    const env = { DRIFTLESS_CACHE_DIR: join(workspace, 'cache') };
    const common = [
      '--repo',
      repo,
      '--app',
      'demo',
      '--kubeconfig',
      kubeconfig,
      '--history',
      `sqlite:${join(workspace, 'history.db')}`,
    ];
    const driftless = async (shown: string, args: string[]) => {
      process.stdout.write(`$ driftless ${shown}\n`);
      return run(process.execPath, [cli, ...args], { env });
    };

    say('A Git repository with examples/app: Namespace, Deployment, ConfigMap, Service');
    await cp(join(root, 'examples', 'app'), repo, { recursive: true });
    await run('git', ['init', '--quiet', '--initial-branch=main', repo]);
    await git('-c', 'user.name=demo', '-c', 'user.email=demo@driftless.dev', 'add', '.');
    await git(
      '-c',
      'user.name=demo',
      '-c',
      'user.email=demo@driftless.dev',
      'commit',
      '--quiet',
      '-m',
      'web app',
    );
    await git('log', '--oneline', '--stat');

    say('1. First sync: everything is created, the Namespace first although deployment.yaml sorts first;');
    say('   --wait: the Deployment goes Progressing -> Healthy by itself as its controller rolls it out');
    const first = await driftless('sync --app demo --repo ./app --prune --wait', [
      'sync',
      ...common,
      '--prune',
      '--wait',
      '2m',
    ]);
    expectExit('first sync', first, 0);
    if (!/; health Healthy$/m.test(first.stdout)) throw new Error('the first sync did not end Healthy');
    process.stdout.write(
      'Healthy: kube-controller-manager made the ReplicaSet, kube-scheduler placed its Pods on the kwok nodes, and they became Ready. Nobody set a status.\n',
    );
    await kubectl(
      'get',
      'namespace/demo',
      'deployment/web',
      'configmap/web-config',
      'service/web',
      '-n',
      'demo',
      '--show-labels',
    );
    await kubectl('get', 'pods', '-n', 'demo', '-o', 'wide');

    say('2. A commit changes the ConfigMap and deletes the Service');
    await writeFile(
      join(repo, 'configmap.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\n  namespace: demo\ndata:\n  GREETING: hello, world\n',
    );
    await rm(join(repo, 'service.yaml'));
    await git(
      '-c',
      'user.name=demo',
      '-c',
      'user.email=demo@driftless.dev',
      'commit',
      '--quiet',
      '-am',
      'greet the world, drop the Service',
    );
    await git('log', '--oneline', '-1', '--stat');
    expectExit(
      'sync with prune',
      await driftless('sync --app demo --repo ./app --prune', ['sync', ...common, '--prune']),
      0,
    );
    await kubectl('get', 'service,configmap', '-n', 'demo');

    say('3. Someone scales the Deployment by hand: plan reports the drift (exit 1)');
    await kubectl('scale', 'deployment/web', '-n', 'demo', '--replicas=5');
    const plan = await driftless('plan --app demo --repo ./app', ['plan', ...common]);
    process.stdout.write(`(exit code ${plan.code})\n`);
    expectExit('plan after drift', plan, 1);

    say('   ... and sync --self-heal puts Git back (exit 0)');
    expectExit(
      'self-heal',
      await driftless('sync --app demo --repo ./app --prune --self-heal', [
        'sync',
        ...common,
        '--prune',
        '--self-heal',
      ]),
      0,
    );
    const replicas = await kubectl(
      'get',
      'deployment/web',
      '-n',
      'demo',
      '-o',
      'jsonpath=replicas: {.spec.replicas}',
    );
    process.stdout.write('\n');
    if (replicas.stdout.trim() !== 'replicas: 2')
      throw new Error(`replicas is ${replicas.stdout.trim()} after self-heal, expected 2`);

    say('4. The sync history, newest first');
    expectExit(
      'history',
      await driftless('history --app demo', [
        'history',
        '--app',
        'demo',
        '--history',
        `sqlite:${join(workspace, 'history.db')}`,
      ]),
      0,
    );

    say(
      `Done in ${((Date.now() - started) / 1000).toFixed(1)} s. Stopping the control plane, removing ${workspace}`,
    );
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

try {
  await main();
} catch (error) {
  process.stderr.write(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
