import { createHash, randomBytes } from 'node:crypto';
import { Agent, request } from 'node:https';
import { type AddressInfo, connect, createServer, type Server } from 'node:net';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { type LatencyProxy, startLatencyProxy } from '../../bench/latency-proxy.ts';

const cp = inject('controlPlane');
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function proxyTo(port: number, rttMs: number): Promise<LatencyProxy> {
  const proxy = await startLatencyProxy({ target: { host: '127.0.0.1', port }, rttMs });
  closers.push(() => proxy.close());
  return proxy;
}

/** GET `path` from the API server on `port`, verifying its certificate; the body and the time it took. */
function get(port: number, path: string, agent: Agent): Promise<{ body: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        agent,
        ca: cp.caPem,
        headers: { authorization: `Bearer ${cp.adminToken}` },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          res.statusCode === 200
            ? resolve({ body: Buffer.concat(chunks).toString(), ms: performance.now() - started })
            : reject(new Error(`GET ${path}: ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A TCP server that sends back every byte it gets and ends when the client ends. */
async function echoServer(): Promise<number> {
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

describe('latency proxy (bench)', () => {
  it('adds the round trip to each request to the API server and keeps TLS verifying it end to end', async () => {
    const apiPort = Number(new URL(cp.server).port);
    const proxy = await proxyTo(apiPort, 30);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    closers.push(async () => agent.destroy());

    const direct = await get(apiPort, '/api', new Agent());
    const first = await get(proxy.port, '/api', agent);
    const second = await get(proxy.port, '/api', agent);

    expect(first.body).toBe(direct.body);
    expect(second.body).toBe(direct.body);
    // A new connection pays the TCP handshake, the TLS handshake and the request: 3 round trips.
    expect(first.ms).toBeGreaterThanOrEqual(90);
    // On the kept-alive connection, one round trip.
    expect(second.ms).toBeGreaterThanOrEqual(30);
    expect(second.ms).toBeLessThan(first.ms);
    expect(proxy.connections).toBe(1);
  });

  it('costs nothing measurable at 0 ms added', async () => {
    const apiPort = Number(new URL(cp.server).port);
    const proxy = await proxyTo(apiPort, 0);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    closers.push(async () => agent.destroy());
    await get(proxy.port, '/api', agent);
    const runs = [];
    for (let i = 0; i < 5; i++) runs.push((await get(proxy.port, '/api', agent)).ms);
    expect(Math.min(...runs)).toBeLessThan(15);
  });

  it('forwards bytes unchanged both ways, the end of the stream included', async () => {
    const proxy = await proxyTo(await echoServer(), 2);
    const sent = randomBytes(4 * 1024 * 1024);
    const socket = connect({ host: '127.0.0.1', port: proxy.port });
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    const ended = new Promise<void>((resolve, reject) => {
      socket.on('end', resolve);
      socket.on('error', reject);
    });
    for (let at = 0; at < sent.length; at += 64 * 1024) socket.write(sent.subarray(at, at + 64 * 1024));
    socket.end();
    await ended;

    const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect(digest(Buffer.concat(received))).toBe(digest(sent));
    expect(proxy.connections).toBe(1);
  });

  it('charges a new connection a round trip before its first byte, and counts connections', async () => {
    const proxy = await proxyTo(await echoServer(), 40);
    const roundTrip = async () => {
      const started = performance.now();
      const socket = connect({ host: '127.0.0.1', port: proxy.port });
      socket.write('ping');
      await new Promise((resolve) => socket.once('data', resolve));
      socket.destroy();
      return performance.now() - started;
    };
    // Handshake + the byte's own round trip.
    expect(await roundTrip()).toBeGreaterThanOrEqual(80);
    proxy.rttMs = 0;
    expect(await roundTrip()).toBeLessThan(40);
    expect(proxy.connections).toBe(2);
  });
});
