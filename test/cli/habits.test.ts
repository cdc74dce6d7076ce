/**
 * kubectl's habits and the papercuts a platform engineer hits first, each through the CLI
 * against the local API server and Git server: KUBECONFIG lists, --version, -o yaml, short SHAs,
 * `| head`, plan in the conditional, --quiet, the history's columns, AWS and RBAC error hints.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import { grantClusterIdentity } from '../support/cluster-identity.ts';
import { type CliRun, projectRoot, runDriftless } from '../support/driftless-cli.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';

const exec = promisify(execFile);
const cp = inject('controlPlane');
const NS = 'habits-cli';

let workDir: string;
let repo: string;
let history: string;
let git: GitServer;
const revisions: string[] = [];

function driftless(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return runDriftless(args, { DRIFTLESS_CACHE_DIR: join(workDir, 'cache'), ...env });
}

function common(app = 'habits'): string[] {
  return ['--repo', repo, '--app', app, '--kubeconfig', cp.kubeconfig, '--history', `sqlite:${history}`];
}

const configMap = (name: string, value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${NS}\ndata:\n  v: "${value}"\n`;

/** An environment with no AWS settings at all, so the SDK finds neither region nor credentials. */
function noAws(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of Object.keys(process.env)) if (key.startsWith('AWS_')) env[key] = undefined;
  return {
    ...env,
    AWS_CONFIG_FILE: join(workDir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(workDir, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-habits-test-'));
  repo = join(workDir, 'repo');
  history = join(workDir, 'history.db');
  git = await startGitServer();
  await exec('git', ['init', '--quiet', '--initial-branch=main', repo]);
  const gitIn = (...args: string[]) => exec('git', ['-C', repo, ...args]);
  await writeFile(
    join(repo, 'namespace.yaml'),
    `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${NS}\n`,
  );
  for (const value of ['1', '2']) {
    await writeFile(join(repo, 'a.yaml'), configMap('a', value));
    await writeFile(join(repo, 'b.yaml'), configMap('b', '1'));
    await gitIn('add', '-A');
    await gitIn('-c', 'user.name=t', '-c', 'user.email=t@driftless.dev', 'commit', '--quiet', '-m', value);
    revisions.push((await gitIn('rev-parse', 'HEAD')).stdout.trim());
  }
});

afterAll(async () => {
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

describe('kubectl habits', () => {
  it('--version prints the version and exits 0', async () => {
    const run = await driftless(['--version']);
    const manifest = JSON.parse(await readFile(join(projectRoot, 'package.json'), 'utf8'));
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(manifest.version);
  });

  it('plan speaks in the conditional, and -o yaml prints the same object as YAML', async () => {
    const plan = await driftless(['plan', ...common()]);
    expect(plan.code).toBe(1);
    expect(plan.stdout).toMatch(/^would create\s+ConfigMap\s+habits-cli\s+a/m);
    expect(plan.stdout).toMatch(/^--- ConfigMap habits-cli\/a \(would create\)$/m);
    expect(plan.stdout).toMatch(/^OutOfSync: plan of habits at [0-9a-f]{7}: 3 would create in /m);
    expect(plan.stdout).not.toMatch(/^created/m);

    const yaml = await driftless(['plan', ...common(), '-o', 'yaml']);
    expect(yaml.code).toBe(1);
    expect(parse(yaml.stdout)).toMatchObject({
      app: 'habits',
      outcome: 'OutOfSync',
      dryRun: true,
      revision: revisions[1],
    });
  });

  it('accepts a short commit SHA as --ref, local and remote', async () => {
    const short = revisions[0]!.slice(0, 7);
    const local = await driftless(['sync', ...common(), '--ref', short, '-o', 'json']);
    expect(local.code, local.stderr).toBe(0);
    expect(JSON.parse(local.stdout).revision).toBe(revisions[0]);
    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'a', NS))?.data.v).toBe('1');

    const remote = await git.createRepo('habits-remote');
    const tip = await remote.commit({ 'cm.yaml': configMap('remote', 'x') });
    const viaUrl = await driftless([
      'plan',
      '--repo',
      remote.url,
      '--ref',
      tip.slice(0, 8),
      '--app',
      'habits-remote',
      '--kubeconfig',
      cp.kubeconfig,
      '--history',
      `sqlite:${history}`,
      '-o',
      'json',
    ]);
    expect(viaUrl.stderr).not.toMatch(/not found/);
    expect(JSON.parse(viaUrl.stdout).revision).toBe(tip);
  });

  it('--quiet hides unchanged rows but keeps them in the summary', async () => {
    const sync = await driftless(['sync', ...common()]);
    expect(sync.code).toBe(0);
    expect(sync.stdout).toMatch(/^configured\s+ConfigMap\s+habits-cli\s+a/m);
    const quiet = await driftless(['plan', ...common(), '--quiet']);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).not.toMatch(/^unchanged/m);
    expect(quiet.stdout).toMatch(/^Synced: plan of habits at [0-9a-f]{7}: 3 unchanged/m);
    const loud = await driftless(['plan', ...common()]);
    expect(loud.stdout).toMatch(/^unchanged\s+ConfigMap/m);
  });

  it('history names the run mode MODE (not KIND) and shows the cluster context, and -o yaml prints one document per run', async () => {
    const run = await driftless(['history', '--app', 'habits', '--history', `sqlite:${history}`]);
    const [header, newest] = run.stdout.split('\n');
    expect(header).toMatch(/^STARTED\s+APP\s+CLUSTER\s+REVISION\s+OUTCOME\s+HEALTH\s+MODE\s+TRIGGER/);
    expect(header).not.toMatch(/\bKIND\b/);
    expect(newest).toMatch(/\bhabits\s+admin\s+[0-9a-f]{7}\s+Synced\s+Healthy\s+plan\b/);
    expect(run.stdout).not.toMatch(/current-context/);
    const yaml = await driftless([
      'history',
      '--app',
      'habits',
      '--limit',
      '2',
      '--history',
      `sqlite:${history}`,
      '-o',
      'yaml',
    ]);
    const docs = parseAllDocuments(yaml.stdout).map((doc) => doc.toJS());
    expect(docs).toHaveLength(2);
    expect(docs[0]).toMatchObject({ app: 'habits', status: 'Synced', runId: expect.any(String) });
  });

  it('history --run prints one run in full: every object, action and stored diff', async () => {
    const list = await driftless([
      'history',
      '--app',
      'habits',
      '--history',
      `sqlite:${history}`,
      '-o',
      'json',
    ]);
    const configured = list.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .find((run) => !run.dryRun && run.resources.some((r: { action: string }) => r.action === 'configured'));
    const run = await driftless(['history', '--run', configured.runId, '--history', `sqlite:${history}`]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^Run:\\s+${configured.runId}$`, 'm'));
    expect(run.stdout).toMatch(/^Cluster:\s+admin$/m);
    expect(run.stdout).toMatch(/^configured\s+ConfigMap\s+habits-cli\s+a/m);
    expect(run.stdout).toMatch(/^unchanged\s+ConfigMap\s+habits-cli\s+b/m);
    expect(run.stdout).toMatch(/^--- ConfigMap habits-cli\/a \(configured\)$/m);
    expect(run.stdout).toMatch(/^\+\s+v: "2"$/m);

    const missing = await driftless(['history', '--run', 'no-such-run', '--history', `sqlite:${history}`]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no run no-such-run/);
  });

  it('KUBECONFIG=a:b merges like kubectl: a missing file is skipped, the first current-context and the first definition win', async () => {
    const admin = JSON.parse(await readFile(cp.kubeconfig, 'utf8'));
    const first = join(workDir, 'first.kubeconfig');
    const second = join(workDir, 'second.kubeconfig');
    // The first file names the context only; the second defines it again (a dead server) and sets another current-context.
    await writeFile(first, JSON.stringify({ ...admin, clusters: admin.clusters, users: admin.users }));
    await writeFile(
      second,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          { name: 'local', cluster: { server: 'https://127.0.0.1:1' } },
          { name: 'dead', cluster: { server: 'https://127.0.0.1:1' } },
        ],
        users: [{ name: 'admin', user: { token: 'wrong' } }],
        contexts: [
          { name: 'admin', context: { cluster: 'dead', user: 'admin' } },
          { name: 'other', context: { cluster: 'dead', user: 'admin' } },
        ],
        'current-context': 'other',
      }),
    );
    const list = [join(workDir, 'missing.kubeconfig'), first, second].join(':');
    const run = await driftless(
      ['plan', '--repo', repo, '--app', 'habits', '--history', `sqlite:${history}`, '-o', 'json'],
      {
        KUBECONFIG: list,
      },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).outcome).toBe('Synced');
    const newest = await driftless([
      'history',
      '--app',
      'habits',
      '--limit',
      '1',
      '--history',
      `sqlite:${history}`,
    ]);
    expect(newest.stdout).toMatch(/\bhabits\s+admin\s/);
  });

  it('`| head` ends quietly with the command exit code (no EPIPE stack trace)', async () => {
    const big = join(workDir, 'big.db');
    const store = await openHistoryStore(`sqlite:${big}`);
    for (let i = 0; i < 1500; i++) {
      const startedAt = new Date(Date.UTC(2030, 0, 1, 0, 0, i)).toISOString();
      await store.finishRun({
        app: `app-${i % 5}`,
        runId: `r${i}`,
        revision: 'a'.repeat(40),
        outcome: 'Synced',
        dryRun: false,
        trigger: 'cli',
        startedAt,
        finishedAt: startedAt,
        durationMs: 5,
        resources: [],
        counts: { unchanged: 3 },
      });
    }
    await store.close();
    const { stdout, stderr } = await exec(
      'bash',
      [
        '-c',
        `set -o pipefail; node lambda/cli.ts history --limit 1500 --history sqlite:${big} | head -1; echo "exit=\${PIPESTATUS[0]}"`,
      ],
      {
        cwd: projectRoot,
        env: { ...process.env, PATH: `${join(projectRoot, 'node_modules', '.bin')}:${process.env.PATH}` },
      },
    ).catch((error: { stdout: string; stderr: string }) => error);
    expect(stdout).toMatch(/^STARTED/);
    expect(stdout).toMatch(/exit=0$/m);
    expect(stderr).not.toMatch(/EPIPE|Error/);
  });
});

describe('error hints', () => {
  it('names AWS_REGION when the region is missing, and the credential chain when credentials are', async () => {
    const noRegion = await driftless(['history', '--history', 'dynamodb:some-table'], noAws());
    expect(noRegion.code).toBe(2);
    expect(noRegion.stderr).toMatch(/AWS_REGION/);

    const noCredentials = await driftless(
      ['history', '--history', 'dynamodb:some-table'],
      noAws({ AWS_REGION: 'eu-west-1' }),
    );
    expect(noCredentials.code).toBe(2);
    expect(noCredentials.stderr).toMatch(/AWS_ACCESS_KEY_ID.*AWS_PROFILE.*aws sso login/);
  });

  it('an EKS target without AWS credentials records the run Failed with the chain it searched', async () => {
    const run = await driftless(
      [
        'plan',
        '--repo',
        repo,
        '--app',
        'habits-eks',
        '--cluster',
        'demo',
        '--region',
        'eu-west-1',
        '--history',
        `sqlite:${history}`,
        '-o',
        'json',
      ],
      noAws(),
    );
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout).error).toMatch(
      /connect to cluster: .*no AWS credentials found.*AWS_ACCESS_KEY_ID/,
    );
  });

  it('a 401 names the kubeconfig user and context and points to the README', async () => {
    const admin = JSON.parse(await readFile(cp.kubeconfig, 'utf8'));
    const bad = join(workDir, 'bad-token.kubeconfig');
    await writeFile(
      bad,
      JSON.stringify({ ...admin, users: [{ name: 'admin', user: { token: 'not-a-token' } }] }),
    );
    const run = await driftless([
      'plan',
      '--repo',
      repo,
      '--app',
      'habits',
      '--kubeconfig',
      bad,
      '--history',
      `sqlite:${history}`,
      '-o',
      'json',
    ]);
    expect(run.code).toBe(2);
    const { error } = JSON.parse(run.stdout);
    expect(error).toMatch(/401/);
    expect(error).toMatch(/kubeconfig user "admin" \(context "admin"\)/);
    expect(error).toMatch(/Cluster access/);
  });

  it('a 403 names the identity that was refused and points to access entries in the README', async () => {
    await kubectl(cp.kubeconfig, 'create', 'namespace', 'habits-rbac');
    await kubectl(cp.kubeconfig, 'create', 'serviceaccount', 'nobody', '-n', 'habits-rbac');
    // It may identify the cluster (kube-system's uid), and nothing more: refused mid-run.
    await grantClusterIdentity(
      cp.kubeconfig,
      '--serviceaccount=habits-rbac:nobody',
      'driftless-cluster-identity-nobody',
    );
    const token = (await kubectl(cp.kubeconfig, 'create', 'token', 'nobody', '-n', 'habits-rbac')).trim();
    const admin = JSON.parse(await readFile(cp.kubeconfig, 'utf8'));
    const limited = join(workDir, 'nobody.kubeconfig');
    await writeFile(
      limited,
      JSON.stringify({
        ...admin,
        users: [{ name: 'nobody', user: { token } }],
        contexts: [{ name: 'limited', context: { cluster: 'local', user: 'nobody' } }],
        'current-context': 'limited',
      }),
    );
    const run = await driftless([
      'plan',
      '--repo',
      repo,
      '--app',
      'habits',
      '--kubeconfig',
      limited,
      '--history',
      `sqlite:${history}`,
      '-o',
      'json',
    ]);
    expect(run.code).toBe(2);
    const result = JSON.parse(run.stdout);
    expect(result.outcome).toBe('Failed');
    const message = result.resources.find((r: { kind: string }) => r.kind === 'Namespace').message;
    expect(message).toMatch(/Forbidden \(HTTP 403\).*system:serviceaccount:habits-rbac:nobody/);
    expect(message).toMatch(/authenticated as kubeconfig user "nobody" \(context "limited"\)/);
    expect(message).toMatch(/EKS access policy.*Cluster access/);
    expect(existsSync(history)).toBe(true);
  });
});
