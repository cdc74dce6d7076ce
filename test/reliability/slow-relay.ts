/**
 * A slowed API server for deadline tests: a TCP relay on 127.0.0.1 that holds every chunk a
 * client sends for a while before passing it on (TLS passes through unchanged), and notes when
 * each chunk came, so a test can see what reached the wire and when.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface SlowRelay {
  port: number;
  /** Every chunk clients sent: when it reached the relay and its size. */
  chunks: { at: number; bytes: number }[];
  stop(): Promise<void>;
}

/** A TCP relay that holds every chunk a client sends for `delayMs`, and notes when each came. */
export async function startSlowRelay(port: number, delayMs: number): Promise<SlowRelay> {
  const chunks: { at: number; bytes: number }[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('data', (chunk: Buffer) => {
      chunks.push({ at: Date.now(), bytes: chunk.length });
      setTimeout(() => upstream.destroyed || upstream.write(chunk), delayMs);
    });
    upstream.pipe(client);
    client.on('close', () => setTimeout(() => upstream.destroy(), delayMs));
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    chunks,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
