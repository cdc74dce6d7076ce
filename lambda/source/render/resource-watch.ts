/**
 * Memory and CPU-time bounds of a renderer's process group. Node's `child_process` sets no
 * rlimits, and `ulimit -v` cannot serve: a Go binary reserves address space at start (helm 4
 * dies with "failed to reserve page summary memory" under 512 MiB of address space). So a
 * watchdog reads the resident pages (`/proc/<pid>/statm`) of the renderer and its descendants
 * every 10 to 100 ms (closer to the limit, more often), their CPU time (`stat`) every 250 ms,
 * and at a limit freezes them (SIGSTOP, so the
 * peak it reads from VmHWM is the final one) and reports. The caller kills the process group.
 * Without `/proc` (macOS) nothing is watched here; the CPU time is still bounded by `ulimit -t`.
 */
import { readdirSync, readFileSync } from 'node:fs';

/**
 * How often the renderer is sampled: the time its memory headroom lasts at {@link FAST_GROWTH},
 * between these bounds. A normal render (far from its limit) costs a read every 100 ms; a bomb
 * close to its limit is read every 10 ms.
 */
const MIN_INTERVAL_MS = 10;
const MAX_INTERVAL_MS = 100;
/** Bytes per ms: a doubling Helm template was seen to grow ~1 GiB/s between 5 ms samples, in bursts. */
const FAST_GROWTH = 1024 * 1024;
/** How often descendants are looked for (a renderer rarely has any: git, for remote bases). */
const CHILDREN_EVERY_MS = 1000;
/** How often CPU time is read (`stat` walks every thread: 3x the cost of `statm`). */
const CPU_EVERY_MS = 250;
/** Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ: 100 on every Linux Lambda runs). */
const CLOCK_TICKS = 100;

export interface ResourceLimits {
  /** Resident memory of the whole group, in bytes. */
  maxMemoryBytes: number;
  /** CPU time (user + system) of the whole group, in seconds. */
  maxCpuSeconds: number;
}

export type LimitExceeded = { reason: 'memory'; peakBytes: number } | { reason: 'cpu'; cpuSeconds: number };

export interface ResourceWatch {
  /** Stops sampling. */
  stop(): void;
  /** CPU seconds of the group at the last sample. */
  cpuSeconds(): number;
  /** Highest resident memory of the group seen, in bytes (VmHWM where the kernel kept it). */
  peakBytes(): number;
}

/**
 * Samples the process group led by `pid` until {@link ResourceWatch.stop}; calls `exceeded` once,
 * with the group already frozen, when it passes a limit.
 */
export function watchResources(
  pid: number,
  limits: ResourceLimits,
  exceeded: (why: LimitExceeded) => void,
): ResourceWatch {
  const members = new Set([pid]);
  // CPU time of members that have exited, so it still counts.
  const cpuOf = new Map<number, number>();
  let childrenAt = 0;
  let cpuAt = 0;
  let cpu = 0;
  let peak = 0;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    const now = Date.now();
    if (now >= childrenAt) {
      for (const member of descendants(pid)) members.add(member);
      childrenAt = now + CHILDREN_EVERY_MS;
    }
    let rss = 0;
    for (const member of members) {
      const bytes = residentBytes(member);
      if (bytes === undefined && member !== pid) members.delete(member);
      rss += bytes ?? 0;
    }
    if (now >= cpuAt) {
      for (const member of members) {
        const seconds = cpuSeconds(member);
        if (seconds !== undefined) cpuOf.set(member, seconds);
      }
      cpu = 0;
      for (const seconds of cpuOf.values()) cpu += seconds;
      cpuAt = now + CPU_EVERY_MS;
    }
    peak = Math.max(peak, rss);
    if (rss > limits.maxMemoryBytes) {
      peak = Math.max(peak, freezeAndReadPeak(pid, members));
      exceeded({ reason: 'memory', peakBytes: peak });
    } else if (cpu > limits.maxCpuSeconds) {
      freeze(pid);
      exceeded({ reason: 'cpu', cpuSeconds: cpu });
    } else {
      const lasts = (limits.maxMemoryBytes - rss) / FAST_GROWTH;
      timer = setTimeout(tick, Math.min(MAX_INTERVAL_MS, Math.max(MIN_INTERVAL_MS, lasts)));
    }
  };
  timer = setTimeout(tick, MIN_INTERVAL_MS);
  return {
    stop: () => clearTimeout(timer),
    cpuSeconds: () => cpu,
    peakBytes: () => peak,
  };
}

/** Resident bytes of one process; `undefined` once it is gone (a zombie has none). */
function residentBytes(pid: number): number | undefined {
  try {
    const pages = Number(readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ')[1]);
    return pages > 0 ? pages * pageSize() : undefined;
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds of one process; `undefined` once it is gone. */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the command name (which may hold spaces and parentheses), from field 3 on:
    // utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Peak resident bytes (VmHWM) of one process, 0 when it is gone. */
function readPeak(pid: number): number {
  try {
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return hwm ? Number(hwm[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Children of every thread of `pid`, and theirs (`/proc/<pid>/task/<tid>/children`). */
function descendants(pid: number): number[] {
  const found: number[] = [];
  const pending = [pid];
  while (pending.length > 0 && found.length < 1000) {
    const parent = pending.pop() as number;
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${parent}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      let children = '';
      try {
        children = readFileSync(`/proc/${parent}/task/${task}/children`, 'latin1');
      } catch {
        // Thread gone.
      }
      for (const child of children.split(' ').filter(Boolean).map(Number)) {
        found.push(child);
        pending.push(child);
      }
    }
  }
  return found;
}

let cachedPageSize: number | undefined;

/** The kernel's page size: this process's VmRSS (kB) over its resident pages, as a power of two. */
function pageSize(): number {
  if (cachedPageSize === undefined) {
    cachedPageSize = 4096;
    try {
      const rss = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'latin1'));
      const pages = Number(readFileSync('/proc/self/statm', 'latin1').split(' ')[1]);
      if (rss && pages > 0) cachedPageSize = 2 ** Math.round(Math.log2((Number(rss[1]) * 1024) / pages));
    } catch {
      // No /proc: nothing is sampled anyway.
    }
  }
  return cachedPageSize;
}

function isStopped(pid: number): boolean {
  try {
    return /^State:\s+[Tt]/m.test(readFileSync(`/proc/${pid}/status`, 'latin1'));
  } catch {
    return true;
  }
}

function freeze(pid: number): void {
  try {
    process.kill(-pid, 'SIGSTOP');
  } catch {
    // Already gone.
  }
}

/** Stops the group, then reads its peak: nothing grows between the read and the kill. */
function freezeAndReadPeak(pid: number, members: Set<number>): number {
  freeze(pid);
  // SIGSTOP lands asynchronously: wait (briefly) until the leader is seen stopped.
  let tries = 0;
  while (tries < 200 && !isStopped(pid)) tries += 1;
  let peak = 0;
  for (const member of members) peak += readPeak(member);
  return peak;
}
