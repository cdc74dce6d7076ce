/**
 * A TCP proxy that makes loopback behave like a network: every byte waits `rttMs / 2` in each
 * direction, so a request and its answer cost one added round trip, and a new connection costs
 * one more before its first byte goes through (the TCP handshake a real network charges). It
 * forwards bytes as they are, so TLS stays end to end: a kubeconfig whose server is
 * `https://127.0.0.1:<proxy port>` still verifies the API server's certificate (SAN 127.0.0.1).
 * Both tools of a benchmark go through the same proxy; it counts the connections they open.
 */
import { createServer, type Socket, connect as tcpConnect } from 'node:net';

export interface LatencyProxyOptions {
  /** Where the bytes go, e.g. the API server. */
  target: { host: string; port: number };
  /** Added round-trip time, ms: half of it each way. @default 0 */
  rttMs?: number;
}

export interface LatencyProxy {
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Added round-trip time of connections and bytes from now on. */
  rttMs: number;
  close(): Promise<void>;
}

export async function startLatencyProxy(options: LatencyProxyOptions): Promise<LatencyProxy> {
  let connections = 0;
  const open = new Set<Socket>();
  const state = { rttMs: options.rttMs ?? 0 };

  // Half-open on both sides: a FIN must wait its turn behind delayed bytes, not close at once.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    connections++;
    const upstream = tcpConnect({ ...options.target, allowHalfOpen: true });
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.setNoDelay(true);
      socket.on('close', () => open.delete(socket));
      // One side failing ends the pair, as a broken network path would.
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    const rtt = state.rttMs;
    // The client's first byte leaves after the handshake's round trip, then travels one way.
    delayed(client, upstream, rtt / 2, performance.now() + 1.5 * rtt);
    delayed(upstream, client, rtt / 2, 0);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('latency proxy: no listening address');

  return {
    port: address.port,
    get connections() {
      return connections;
    },
    get rttMs() {
      return state.rttMs;
    },
    set rttMs(value: number) {
      if (!(value >= 0)) throw new Error(`latency proxy: rttMs must be >= 0, got ${value}`);
      state.rttMs = value;
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Copies `from` to `to`, each chunk `delayMs` after it arrived (and none before `notBefore`), in
 * order; the end of the stream travels the same way. Reading pauses while the writer is full.
 */
function delayed(from: Socket, to: Socket, delayMs: number, notBefore: number): void {
  const queue: { due: number; chunk: Buffer | null }[] = [];
  let timer: NodeJS.Timeout | undefined;

  const flush = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length && queue[0]!.due <= now + 0.5) {
      const { chunk } = queue.shift()!;
      if (chunk === null) {
        to.end();
        return;
      }
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    }
    if (queue.length) timer = setTimeout(flush, queue[0]!.due - now);
  };
  const push = (chunk: Buffer | null) => {
    const now = performance.now();
    queue.push({ due: Math.max(now + delayMs, notBefore), chunk });
    // At no added delay, forward at once: even setTimeout(0) would cost a millisecond a chunk.
    if (!timer && queue[0]!.due <= now) flush();
    else if (!timer) timer = setTimeout(flush, queue[0]!.due - now);
  };

  from.on('data', (chunk: Buffer) => push(chunk));
  from.on('end', () => push(null));
  to.on('close', () => clearTimeout(timer));
}
