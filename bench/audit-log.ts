/**
 * The API server's audit log as the benchmark reads it: every request of one run, counted on the
 * server side by User-Agent (so both tools are counted the same way), and where they went: how
 * many of each verb, how many at once, in how many bursts.
 */
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RequestFigures {
  /** Requests of the run's User-Agent. */
  requests: number;
  /** Requests by verb, dry runs apart (`patch`, `patch dry-run`, `list`, `get`, ...). */
  byVerb: Record<string, number>;
  /** Most requests the server held at once. */
  peakInFlight: number;
  /**
   * Bursts: requests separated from the previous ones by a server idle time of at least
   * `burstGapMs` (half the added round trip); with latency each burst waits for the one before.
   */
  bursts: Burst[];
}

export interface Burst {
  requests: number;
  byVerb: Record<string, number>;
  peakInFlight: number;
  /** Up to three of its request paths (no query), to tell discovery from LISTs from writes. */
  paths: string[];
}

interface AuditEvent {
  auditID: string;
  verb: string;
  requestURI: string;
  userAgent?: string;
  requestReceivedTimestamp: string;
  stageTimestamp: string;
}

/** Reads new lines of the audit log since the previous call, for the User-Agent prefix given. */
export function auditCounter(
  auditLog: string,
): (agent: string, burstGapMs?: number) => Promise<RequestFigures> {
  let offset = 0;
  return async (agent, burstGapMs = Number.POSITIVE_INFINITY) => {
    await sleep(200); // the last request's event is written as its answer goes out
    const file = await open(auditLog, 'r');
    let text: string;
    try {
      const { size } = await file.stat();
      const buffer = Buffer.alloc(size - offset);
      await file.read(buffer, 0, buffer.length, offset);
      const complete = buffer.lastIndexOf(0x0a) + 1; // a partly written last line waits for the next call
      text = buffer.subarray(0, complete).toString();
      offset += complete;
    } finally {
      await file.close();
    }
    // A watch logs ResponseStarted and ResponseComplete: one request, two lines.
    const events = new Map<string, AuditEvent>();
    for (const line of text.split('\n')) {
      if (!line) continue;
      const event = JSON.parse(line) as AuditEvent;
      if ((event.userAgent ?? '').startsWith(agent)) events.set(event.auditID, event);
    }
    return figures([...events.values()], burstGapMs);
  };
}

function figures(events: AuditEvent[], burstGapMs: number): RequestFigures {
  const spans = events
    .map((e) => ({
      verb: verbOf(e),
      path: e.requestURI.split('?')[0]!,
      start: microseconds(e.requestReceivedTimestamp),
      end: microseconds(e.stageTimestamp),
    }))
    .sort((a, b) => a.start - b.start);
  const bursts: (typeof spans)[] = [];
  let busyUntil = Number.NEGATIVE_INFINITY;
  for (const span of spans) {
    if (span.start - busyUntil >= burstGapMs * 1000 || !bursts.length) bursts.push([]);
    bursts.at(-1)!.push(span);
    busyUntil = Math.max(busyUntil, span.end);
  }
  const summary = (group: typeof spans): Burst => ({
    requests: group.length,
    byVerb: countBy(group.map((s) => s.verb)),
    peakInFlight: peakInFlight(group),
    paths: [...new Set(group.map((s) => s.path))].slice(0, 3),
  });
  const { paths: _all, ...total } = summary(spans);
  return { ...total, bursts: bursts.map(summary) };
}

/** `2026-01-01T00:00:00.123456Z` in µs: a request on loopback often takes less than a ms. */
function microseconds(timestamp: string): number {
  const fraction = /\.(\d+)Z$/.exec(timestamp)?.[1] ?? '0';
  return Date.parse(timestamp) * 1000 + (Number(fraction.padEnd(6, '0').slice(0, 6)) % 1000);
}

function verbOf(event: AuditEvent): string {
  return /[?&]dryRun=All/.test(event.requestURI) ? `${event.verb} dry-run` : event.verb;
}

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort(([, a], [, b]) => b - a));
}

function peakInFlight(spans: { start: number; end: number }[]): number {
  const edges = spans.flatMap((s) => [
    { at: s.start, step: 1 },
    { at: s.end, step: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || b.step - a.step);
  let now = 0;
  let peak = 0;
  for (const edge of edges) {
    now += edge.step;
    peak = Math.max(peak, now);
  }
  return peak;
}

/** `patch dry-run ×1000, list ×9` */
export function verbLine(byVerb: Record<string, number>): string {
  return Object.entries(byVerb)
    .map(([verb, n]) => `${verb} ×${n}`)
    .join(', ');
}
