/**
 * `npm run bench`: driftless against kubectl on the same local API server and the same manifests,
 * in one run. Prints a table of medians and ratios and writes `bench/results.json`.
 *
 *   BENCH_OBJECTS (default 1000)  objects in the generated app
 *   BENCH_REPS    (default 3)     repetitions; each uses fresh names (a clean namespace and CRD group)
 *
 * Requests are counted on the server side from the API server's audit log, by User-Agent, so both
 * tools are counted the same way. Peak RSS is the driftless process's VmHWM.
 */
import { execFile, spawn } from 'node:child_process';
import { cp as copy, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { kubectlBinary, startControlPlane } from '../test/support/control-plane.ts';
import { bundleSize } from './bundle.ts';
import { generateApp } from './generate.ts';
import { type RealworldFigures, realworldFigures, realworldLines } from './realworld.ts';
import { type RenderFigures, renderFigures, renderLines } from './render.ts';

const exec = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const objects = Number(process.env.BENCH_OBJECTS ?? 1000);
const reps = Number(process.env.BENCH_REPS ?? 3);

interface Run {
  ms: number;
  requests: number;
  peakRssMb?: number;
  exitCode: number;
}

const log = (message: string) => process.stderr.write(`${message}\n`);

async function main() {
  const work = await mkdtemp(join(tmpdir(), 'driftless-bench-'));
  const auditLog = join(work, 'audit.log');
  log(`starting control plane (audit log on) ...`);
  const cp = await startControlPlane({ auditLogPath: auditLog });
  const samples: Record<string, Run[]> = {};
  const add = (name: string, run: Run) => {
    samples[name] ??= [];
    samples[name].push(run);
  };

  try {
    const requestsSince = requestCounter(auditLog);
    const timed = async (agent: string, cmd: string, args: string[], env = {}): Promise<Run> => {
      await requestsSince(''); // move the mark
      const run = await measure(cmd, args, env);
      return { ...run, requests: await requestsSince(agent) };
    };
    const kubectl = (args: string[]) =>
      timed('kubectl/', kubectlBinary(), ['--kubeconfig', cp.kubeconfig, ...args]);

    for (let rep = 1; rep <= reps; rep++) {
      log(`repetition ${rep}/${reps}: ${objects} objects`);
      // --- driftless ---
      const app = generateApp(objects, `d${rep}`);
      const repo = join(work, `repo-d${rep}`);
      await writeRepo(repo, app.files);
      const history = `sqlite:${join(work, `history-${rep}.db`)}`;
      const driftless = (extra: string[]) =>
        timed('driftless/', process.execPath, [
          join(root, 'lambda/cli.ts'),
          'sync',
          '--repo',
          repo,
          '--app',
          `bench-d${rep}`,
          '--namespace',
          app.namespace,
          '--kubeconfig',
          cp.kubeconfig,
          '--history',
          history,
          '--output',
          'json',
          ...extra,
        ]);
      add('cold sync', await driftless([]));
      add('no-op sync', await driftless([]));
      await exec(kubectlBinary(), [
        '--kubeconfig',
        cp.kubeconfig,
        '-n',
        app.namespace,
        'patch',
        'configmap',
        'cm-0',
        '--type=merge',
        '-p',
        '{"data":{"owner":"someone-else"}}',
      ]);
      add('drift + self-heal', await driftless(['--self-heal']));
      await commit(repo, {
        [app.configMapFiles[1]!]: app.files[app.configMapFiles[1]!]!.replace('platform', 'team-b'),
      });
      add('one-file change', await driftless([]));
      const pruned = app.configMapFiles.slice(-Math.floor(objects / 10));
      await commit(repo, Object.fromEntries(pruned.map((file) => [file, null])));
      add('prune 10%', await driftless(['--prune']));

      // --- kubectl on its own copy of the same manifests ---
      const kapp = generateApp(objects, `k${rep}`);
      const kdir = join(work, `kubectl-${rep}`);
      await writeTree(kdir, kapp.files);
      // kubectl's best case: the operator scripts the order (CRD and Namespace, wait, then the rest).
      const started = performance.now();
      const first = await kubectl([
        'apply',
        '--server-side',
        '-f',
        join(kdir, 'crd.yaml'),
        '-f',
        join(kdir, 'namespace.yaml'),
      ]);
      const wait = await kubectl([
        'wait',
        '--for=condition=established',
        `crd/widgets.${kapp.crdGroup}`,
        '--timeout=60s',
      ]);
      const rest = await kubectl(['apply', '--server-side', '-R', '-f', kdir]);
      add('kubectl apply --server-side (cold)', {
        ms: performance.now() - started,
        requests: first.requests + wait.requests + rest.requests,
        exitCode: Math.max(first.exitCode, wait.exitCode, rest.exitCode),
      });
      add('kubectl apply --server-side (no-op)', await kubectl(['apply', '--server-side', '-R', '-f', kdir]));
      add('kubectl diff --server-side (no-op)', await kubectl(['diff', '--server-side', '-R', '-f', kdir]));
    }

    await cp.stop();
    log('realworld: kube-prometheus as released, driftless and kubectl on control planes of their own ...');
    const realworld = await realworldFigures(root, {
      measure: (cmd, args) => measure(cmd, args, {}),
      repoOf: async (from, to) => {
        await copy(from, to, { recursive: true });
        await exec('git', ['init', '--quiet', '--initial-branch=main', to]);
        await commit(to, {}, 'as released');
      },
      requestCounter,
      work,
      cli: join(root, 'lambda/cli.ts'),
    });
    const bundle = await bundleSize();
    const results = {
      ...summarize(samples, bundle),
      realworld,
      render: await renderFigures(objects, bundle.deployedBytes),
    };
    printTable(results);
    await mkdir(join(root, 'bench'), { recursive: true });
    await writeFile(join(root, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
    log('wrote bench/results.json');
  } finally {
    await cp.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** Counts the audit log's requests by User-Agent prefix since the previous call. */
function requestCounter(auditLog: string): (agent: string) => Promise<number> {
  let seen = 0;
  return async (agent) => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const lines = (await readFile(auditLog, 'utf8')).split('\n').filter(Boolean);
    const fresh = lines.slice(seen);
    seen = lines.length;
    return fresh.filter((line) => (JSON.parse(line).userAgent ?? '').startsWith(agent)).length;
  };
}

/** Runs a command, returning wall time and, for the child process itself, its peak RSS. */
async function measure(
  cmd: string,
  args: string[],
  env: Record<string, string>,
): Promise<Omit<Run, 'requests'>> {
  const started = performance.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let peakKb = 0;
  const stderr: string[] = [];
  child.stdout.resume();
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const poll = setInterval(async () => {
    try {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      if (kb > peakKb) peakKb = kb;
    } catch {
      // the process has exited
    }
  }, 10);
  const exitCode: number = await new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 2)));
  clearInterval(poll);
  const ms = performance.now() - started;
  const ok = cmd === kubectlBinary() && args.includes('diff') ? exitCode <= 1 : exitCode === 0;
  if (!ok) log(`  ! ${cmd} ${args.slice(0, 3).join(' ')} exited ${exitCode}: ${stderr.join('').slice(-800)}`);
  return { ms, exitCode, peakRssMb: peakKb ? peakKb / 1024 : undefined };
}

async function writeTree(dir: string, files: Record<string, string | null>) {
  for (const [path, content] of Object.entries(files)) {
    const full = join(dir, path);
    if (content === null) {
      await rm(full, { force: true });
      continue;
    }
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, content);
  }
}

async function writeRepo(dir: string, files: Record<string, string>) {
  await exec('git', ['init', '--quiet', '--initial-branch=main', dir]);
  await commit(dir, files, 'app');
}

async function commit(dir: string, files: Record<string, string | null>, message = 'change') {
  await writeTree(dir, files);
  await exec('git', ['-C', dir, 'add', '-A']);
  const author = ['-c', 'user.name=bench', '-c', 'user.email=bench@driftless.dev'];
  await exec('git', ['-C', dir, ...author, 'commit', '-qm', message]);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

function summarize(
  samples: Record<string, Run[]>,
  bundle: { deployedBytes: number; sdkExternalBytes: number },
) {
  const operations = Object.fromEntries(
    Object.entries(samples).map(([name, runs]) => [
      name,
      {
        medianMs: Math.round(median(runs.map((r) => r.ms))),
        requests: median(runs.map((r) => r.requests)),
        peakRssMb:
          runs[0]?.peakRssMb === undefined
            ? undefined
            : Math.round(Math.max(...runs.map((r) => r.peakRssMb ?? 0))),
        failures: runs.filter((r) => r.exitCode !== 0 && !(name.includes('diff') && r.exitCode === 1)).length,
        samplesMs: runs.map((r) => Math.round(r.ms)),
      },
    ]),
  );
  const ms = (name: string) => operations[name]?.medianMs ?? Number.NaN;
  const ratios = {
    'no-op sync / kubectl diff --server-side': ms('no-op sync') / ms('kubectl diff --server-side (no-op)'),
    'no-op sync / kubectl apply --server-side (no-op)':
      ms('no-op sync') / ms('kubectl apply --server-side (no-op)'),
    'cold sync / kubectl apply --server-side (cold)':
      ms('cold sync') / ms('kubectl apply --server-side (cold)'),
  };
  return {
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryGb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
    },
    objects,
    reps,
    operations,
    ratios: Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, Number(v.toFixed(3))])),
    bundle,
    measuredAt: new Date().toISOString(),
  };
}

function printTable(
  results: ReturnType<typeof summarize> & { render: RenderFigures; realworld: RealworldFigures },
) {
  const rows = Object.entries(results.operations).map(([name, op]) => [
    name,
    `${op.medianMs}`,
    `${op.requests}`,
    op.peakRssMb === undefined ? '' : `${op.peakRssMb}`,
    op.failures ? `${op.failures} failed` : '',
  ]);
  const header = ['operation', 'median ms', 'requests', 'peak RSS MB', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const out = [
    `driftless benchmark: ${results.objects} objects, ${results.reps} repetitions, ${results.machine.cpus} cpus, node ${results.machine.node}`,
    line(header),
    ...rows.map(line),
    '',
    ...Object.entries(results.ratios).map(([k, v]) => `${k}: ${v}`),
    `Lambda bundle: ${(results.bundle.deployedBytes / 1e6).toFixed(2)} MB as deployed (AWS SDK included), ${(results.bundle.sdkExternalBytes / 1e6).toFixed(2)} MB with the runtime's AWS SDK`,
    ...realworldLines(results.realworld),
    ...renderLines(results.render),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

await main();
