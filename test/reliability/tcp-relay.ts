/**
 * A TCP relay in front of a real server, for fault injection below the protocol: it forwards
 * bytes unchanged (TLS passes through, so certificates for 127.0.0.1 stay valid), counts what
 * the client sent, and can cut the link (every open connection reset, new ones refused) and
 * restore it. The server behind it keeps running and keeps its data.
 */

import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpRelay {
  /** The relay's port on 127.0.0.1. */
  port: number;
  /** Bytes clients sent through the relay so far. */
  readonly bytesFromClients: number;
  /**
   * Called synchronously after each chunk a client sends is counted, before it is forwarded:
   * a test can act (e.g. SIGKILL the client) at an exact point of the traffic.
   */
  onClientBytes?: (total: number) => void;
  /** Resets every open connection and refuses new ones (accepted, then reset at once). */
  cut(): void;
  /** Forwards new connections again. */
  restore(): void;
  stop(): Promise<void>;
}

export async function startTcpRelay(target: { host?: string; port: number }): Promise<TcpRelay> {
  const host = target.host ?? '127.0.0.1';
  const sockets = new Set<Socket>();
  let cut = false;
  let bytes = 0;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // A reset is the point of `cut`; it must not become an unhandled error here.
    socket.on('error', () => {});
  };

  const relay: TcpRelay = {
    port: 0,
    get bytesFromClients() {
      return bytes;
    },
    cut() {
      cut = true;
      for (const socket of sockets) socket.resetAndDestroy();
    },
    restore() {
      cut = false;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };

  const server: Server = createServer((client) => {
    track(client);
    if (cut) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect({ host, port: target.port });
    track(upstream);
    client.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      relay.onClientBytes?.(bytes);
      if (!upstream.destroyed) upstream.write(chunk);
    });
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  relay.port = (server.address() as AddressInfo).port;
  return relay;
}
