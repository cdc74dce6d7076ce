/**
 * The benchmark's figures per added round trip: for each operation, driftless and the kubectl
 * commands that do the same job, with medians, requests, connections, ratios and the issue's
 * targets; then the sequential round trips on the critical path, derived from two latencies.
 */
import { type Burst, verbLine } from './audit-log.ts';
import { median, type Run } from './measure.ts';

export const DRIFTLESS = 'driftless sync';
export const KUBECTL_APPLY = 'kubectl apply --server-side';
export const KUBECTL_DIFF = 'kubectl diff --server-side';
export const KUBECTL_DRY_RUN_THEN_APPLY = 'kubectl apply --dry-run=server, then apply';

/** operation -> tool -> runs */
export type Samples = Record<string, Record<string, Run[]>>;

export interface ToolFigures {
  medianMs: number;
  samplesMs: number[];
  requests: number;
  connections: number;
  peakRssMb?: number;
  failures: number;
  byVerb: Record<string, number>;
  peakInFlight: number;
  /** Request bursts the server saw (apart by half the added round trip), of the median run. */
  bursts: Burst[];
}

export interface LatencyFigures {
  rttMs: number;
  operations: Record<string, Record<string, ToolFigures>>;
  /** operation -> kubectl tool -> driftless ÷ tool (wall time) */
  ratios: Record<string, Record<string, number>>;
}

/** The issue's targets (#27): driftless ÷ tool, at a latency (`any`: at every latency). */
const TARGETS: { rttMs: number | 'any'; operation: string; tool: string; atMost: number }[] = [
  { rttMs: 30, operation: 'cold sync', tool: KUBECTL_APPLY, atMost: 0.2 },
  { rttMs: 30, operation: 'no-op', tool: KUBECTL_DIFF, atMost: 0.05 },
  { rttMs: 'any', operation: 'cold sync', tool: KUBECTL_DRY_RUN_THEN_APPLY, atMost: 0.5 },
];

export function summarizeLatency(samples: Samples, rttMs: number): LatencyFigures {
  const operations: LatencyFigures['operations'] = {};
  const ratios: LatencyFigures['ratios'] = {};
  for (const [operation, tools] of Object.entries(samples)) {
    operations[operation] = {};
    for (const [tool, runs] of Object.entries(tools)) {
      const ms = median(runs.map((r) => r.ms));
      const typical = [...runs].sort((a, b) => Math.abs(a.ms - ms) - Math.abs(b.ms - ms))[0]!;
      operations[operation][tool] = {
        medianMs: Math.round(ms),
        samplesMs: runs.map((r) => Math.round(r.ms)),
        requests: median(runs.map((r) => r.requests)),
        connections: median(runs.map((r) => r.connections ?? 0)),
        peakRssMb: runs.some((r) => r.peakRssMb)
          ? Math.round(Math.max(...runs.map((r) => r.peakRssMb ?? 0)))
          : undefined,
        failures: runs.filter((r) => r.exitCode !== 0 && !(tool === KUBECTL_DIFF && r.exitCode === 1)).length,
        byVerb: typical.byVerb ?? {},
        peakInFlight: typical.peakInFlight ?? 0,
        bursts: typical.bursts ?? [],
      };
    }
    const ours = operations[operation][DRIFTLESS];
    if (!ours) continue;
    ratios[operation] = {};
    for (const [tool, theirs] of Object.entries(operations[operation])) {
      if (tool !== DRIFTLESS) ratios[operation][tool] = Number((ours.medianMs / theirs.medianMs).toFixed(3));
    }
  }
  return { rttMs, operations, ratios };
}

/** One table: a row per operation and tool. */
export function latencyLines(figures: LatencyFigures, title: string): string[] {
  const header = ['operation', 'tool', 'median ms', 'requests', 'conns', 'peak in flight', 'ratio', 'target'];
  const rows: string[][] = [];
  for (const [operation, tools] of Object.entries(figures.operations)) {
    let label = operation;
    for (const [tool, f] of Object.entries(tools)) {
      const ratio = figures.ratios[operation]?.[tool];
      const target = TARGETS.find(
        (t) =>
          t.operation === operation && t.tool === tool && (t.rttMs === 'any' || t.rttMs === figures.rttMs),
      );
      rows.push([
        label,
        tool,
        `${f.medianMs}${f.failures ? ` (${f.failures} failed)` : ''}`,
        `${f.requests}`,
        `${f.connections}`,
        `${f.peakInFlight}`,
        ratio === undefined ? '' : ratio.toFixed(3),
        target
          ? `≤ ${target.atMost}${ratio !== undefined && ratio <= target.atMost ? ' met' : ' missed'}`
          : '',
      ]);
      label = '';
    }
  }
  return [title, ...table(header, rows), 'ratio: driftless ÷ that kubectl command, wall time of one run'];
}

/**
 * Sequential round trips on the critical path of each operation, derived from the wall times at
 * the lowest and the highest latency: (wall at high − wall at low) ÷ (high − low). Next to it,
 * the request bursts the API server saw at the highest latency (a cross-check from the audit log).
 */
export function roundTripLines(all: LatencyFigures[]): string[] {
  if (all.length < 2) return ['sequential round trips: needs two latencies (BENCH_LATENCIES=0,30)'];
  const low = all.reduce((a, b) => (a.rttMs <= b.rttMs ? a : b));
  const high = all.reduce((a, b) => (a.rttMs >= b.rttMs ? a : b));
  const rows: string[][] = [];
  for (const [operation, tools] of Object.entries(high.operations)) {
    let label = operation;
    for (const [tool, f] of Object.entries(tools)) {
      const before = low.operations[operation]?.[tool];
      if (!before) continue;
      rows.push([
        label,
        tool,
        roundTrips(f.medianMs - before.medianMs, high.rttMs - low.rttMs),
        `${f.bursts.length}`,
      ]);
      label = '';
    }
  }
  return [
    `sequential round trips on the critical path, derived: (wall at +${high.rttMs} ms − wall at +${low.rttMs} ms) ÷ ${high.rttMs - low.rttMs} ms`,
    ...table(['operation', 'tool', 'round trips', `server bursts at +${high.rttMs} ms`], rows),
    'bursts: groups of requests apart by an idle server for half a round trip (a lower bound when requests overlap)',
  ];
}

/** A negative difference means the CPU's noise outweighed the latency: say so, not a number of trips. */
function roundTrips(extraMs: number, addedRttMs: number): string {
  const trips = extraMs / addedRttMs;
  return trips < 0 ? `${trips.toFixed(1)} (noise)` : trips.toFixed(1);
}

/** Where driftless's requests go at the highest latency: each burst's verbs and concurrency. */
export function burstLines(figures: LatencyFigures, tools = [DRIFTLESS]): string[] {
  const lines = [`where the requests go at +${figures.rttMs} ms (bursts apart by half a round trip):`];
  for (const [operation, byTool] of Object.entries(figures.operations)) {
    for (const tool of tools) {
      const f = byTool[tool];
      if (!f) continue;
      // A lone request names its path (discovery, the cluster identity); a crowd its verbs.
      const shown = f.bursts
        .slice(0, 12)
        .map((b) =>
          b.requests === 1
            ? `[${Object.keys(b.byVerb)[0]} ${b.paths[0]}]`
            : `[${verbLine(b.byVerb)}; ${b.peakInFlight} at once]`,
        );
      const more = f.bursts.length > 12 ? ` … ${f.bursts.length - 12} more` : '';
      lines.push(`  ${operation}, ${tool}: ${shown.join(' ')}${more}`);
    }
  }
  return lines;
}

export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
