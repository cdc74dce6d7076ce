/**
 * An HTTPS stand-in in front of the real API server, for faults that need to see the request: it
 * terminates TLS with the API server's own certificate (so clients keep trusting it), lets a test
 * answer or break chosen requests, and forwards everything else unchanged.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';

/** What to do with one request: pass it on, answer it here, or reset its connection. */
export type StandInAction =
  | 'forward'
  | 'break'
  | { status: number; headers?: Record<string, string>; body?: unknown };

export interface StandInRequest {
  method: string;
  /** Path and query, e.g. `/api/v1/namespaces/x/configmaps/y?dryRun=All`. */
  url: string;
}

export interface HttpStandIn {
  /** `https://127.0.0.1:PORT` */
  server: string;
  /** Every request seen, in order. */
  readonly seen: StandInRequest[];
  decide: (req: StandInRequest) => StandInAction;
  stop(): Promise<void>;
}

export async function startHttpStandIn(target: {
  server: string;
  caPem: string;
  caFile: string;
}): Promise<HttpStandIn> {
  const key = await readFile(join(dirname(target.caFile), 'apiserver.key'));
  const upstream = new URL(target.server);
  const standIn: HttpStandIn = {
    server: '',
    seen: [],
    decide: () => 'forward',
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server: Server = createServer({ cert: target.caPem, key }, (req: IncomingMessage, res) => {
    const seen = { method: req.method ?? 'GET', url: req.url ?? '/' };
    standIn.seen.push(seen);
    const action = standIn.decide(seen);
    if (action === 'break') {
      // The connection closes with no answer: the client sees "socket hang up" (ECONNRESET).
      req.socket.destroy();
      return;
    }
    if (action !== 'forward') {
      req.resume();
      res.writeHead(action.status, { 'content-type': 'application/json', ...action.headers });
      res.end(JSON.stringify(action.body ?? { kind: 'Status', code: action.status }));
      return;
    }
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        ca: target.caPem,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => req.socket.destroy());
    req.pipe(out);
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  standIn.server = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return standIn;
}
