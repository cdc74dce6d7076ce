/**
 * `npm run bench`: driftless against kubectl on the same API server and the same manifests, in
 * one run, at each added round trip: both tools reach the API server only through a latency
 * proxy (`latency-proxy.ts`), as a Lambda in the cluster's region (~2 ms) or a laptop far from it
 * (~30 ms) would. Prints one table per latency and writes `bench/results.json`.
 *
 *   BENCH_OBJECTS   (default 1000)    objects in the generated app
 *   BENCH_REPS      (default 3)       repetitions per latency; each uses fresh names
 *   BENCH_LATENCIES (default 0,2,30)  added round trips, ms
 *   BENCH_REALWORLD (default on)      `off` skips kube-prometheus (it is skipped anyway when absent)
 *
 * Requests are counted on the server side from the API server's audit log, by User-Agent, so both
 * tools are counted the same way; connections by the proxy. Peak RSS is each process's VmHWM.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runGeneratedApp } from './app-runs.ts';
import { startBenchCluster } from './bench-cluster.ts';
import { bundleSize } from './bundle.ts';
import {
  burstLines,
  DRIFTLESS,
  KUBECTL_APPLY,
  type LatencyFigures,
  latencyLines,
  roundTripLines,
  type Samples,
  summarizeLatency,
} from './latency-table.ts';
import { log } from './measure.ts';
import { type RealworldFigures, realworldFigures, realworldLines } from './realworld.ts';
import { type RenderFigures, renderFigures, renderLines } from './render.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const objects = positive('BENCH_OBJECTS', process.env.BENCH_OBJECTS ?? '1000');
const reps = positive('BENCH_REPS', process.env.BENCH_REPS ?? '3');
const latencies = (process.env.BENCH_LATENCIES ?? '0,2,30')
  .split(',')
  .map((v) => positive('BENCH_LATENCIES', v, 0));
const withRealworld = process.env.BENCH_REALWORLD !== 'off';

function positive(setting: string, value: string, min = 1): number {
  const n = Number(value.trim());
  if (!Number.isFinite(n) || n < min || value.trim() === '') {
    throw new Error(
      `${setting}: "${value}" is not a number ≥ ${min} (e.g. BENCH_LATENCIES=0,30 BENCH_OBJECTS=200)`,
    );
  }
  return n;
}

async function main() {
  const work = await mkdtemp(join(tmpdir(), 'driftless-bench-'));
  const cli = join(root, 'lambda/cli.ts');
  try {
    log('starting control plane (audit log on) behind the latency proxy ...');
    const cluster = await startBenchCluster(work, 'generated');
    const perLatency: LatencyFigures[] = [];
    try {
      for (const rttMs of latencies) {
        cluster.proxy.rttMs = rttMs;
        const samples: Samples = {};
        for (let rep = 1; rep <= reps; rep++) {
          log(`+${rttMs} ms round trip, repetition ${rep}/${reps}: ${objects} objects`);
          await runGeneratedApp({ cluster, work, objects, suffix: `${rep}r${rttMs}`, cli }, samples);
        }
        perLatency.push(summarizeLatency(samples, rttMs));
      }
    } finally {
      await cluster.stop();
    }

    const realworld: RealworldFigures = withRealworld
      ? await realworldFigures({ root, work, cli, latencies })
      : { set: 'kube-prometheus', skipped: 'BENCH_REALWORLD=off' };
    const bundle = await bundleSize();
    const results = {
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        memoryGb: Math.round(totalmem() / 2 ** 30),
        node: process.version,
      },
      objects,
      reps,
      latenciesMs: latencies,
      latencies: perLatency,
      bundle,
      realworld,
      render: await renderFigures(objects, bundle.deployedBytes),
      measuredAt: new Date().toISOString(),
    };
    printTables(results);
    await mkdir(join(root, 'bench'), { recursive: true });
    await writeFile(join(root, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
    log('wrote bench/results.json');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function printTables(results: {
  machine: { cpus: number; cpuModel?: string; node: string };
  objects: number;
  reps: number;
  latencies: LatencyFigures[];
  bundle: { deployedBytes: number; sdkExternalBytes: number };
  realworld: RealworldFigures;
  render: RenderFigures;
}) {
  const highest = results.latencies.at(-1);
  const rss = results.latencies[0]?.operations['cold sync']?.[DRIFTLESS]?.peakRssMb;
  const out = [
    `driftless benchmark: generated app of ${results.objects} objects, medians of ${results.reps}, ${results.machine.cpus} × ${results.machine.cpuModel}, node ${results.machine.node}`,
    ...results.latencies.flatMap((latency) => [
      '',
      ...latencyLines(latency, `+${latency.rttMs} ms round trip (latency proxy, both tools):`),
    ]),
    '',
    ...roundTripLines(results.latencies),
    '',
    ...(highest ? burstLines(highest, [DRIFTLESS, KUBECTL_APPLY]) : []),
    '',
    `driftless peak RSS (cold sync): ${rss ?? '?'} MB`,
    `Lambda bundle: ${(results.bundle.deployedBytes / 1e6).toFixed(2)} MB as deployed (AWS SDK included), ${(results.bundle.sdkExternalBytes / 1e6).toFixed(2)} MB with the runtime's AWS SDK`,
    ...realworldLines(results.realworld),
    '',
    ...renderLines(results.render),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

await main();
