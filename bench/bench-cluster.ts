/**
 * A control plane as the benchmark uses it: audit log on, and reached only through the latency
 * proxy, by both tools, with one kubeconfig. `timed` runs a command and returns its wall time with
 * its requests (audit log, by User-Agent) and the connections it opened (proxy).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ControlPlane, kubectlBinary, startControlPlane } from '../test/support/control-plane.ts';
import { auditCounter } from './audit-log.ts';
import { type LatencyProxy, startLatencyProxy } from './latency-proxy.ts';
import { measure, type Run } from './measure.ts';

export interface BenchCluster {
  /** A kubeconfig whose server is the proxy; the API server's certificate still verifies. */
  kubeconfig: string;
  proxy: LatencyProxy;
  /** Runs `cmd`, counting the requests whose User-Agent starts with `agent`. */
  timed(agent: string, cmd: string, args: string[]): Promise<Run>;
  /** `kubectl --kubeconfig <through the proxy> --cache-dir <the bench's> ...args`, timed. */
  kubectl(args: string[]): Promise<Run>;
  stop(): Promise<void>;
}

export async function startBenchCluster(work: string, name: string, rttMs = 0): Promise<BenchCluster> {
  const auditLog = join(work, `${name}-audit.log`);
  // With controllers, as users' clusters run: the Deployments both tools create roll out on
  // kwok's nodes during both tools' runs alike (the controllers' requests are counted apart).
  const cp: ControlPlane = await startControlPlane({ auditLogPath: auditLog });
  let proxy: LatencyProxy | undefined;
  try {
    const { hostname, port } = new URL(cp.server);
    proxy = await startLatencyProxy({ target: { host: hostname, port: Number(port) }, rttMs });
    const kubeconfig = join(work, `${name}.kubeconfig`);
    const config = JSON.parse(await readFile(cp.kubeconfig, 'utf8'));
    // The proxy listens on 127.0.0.1 too, a name the serving certificate holds: no tls-server-name.
    config.clusters[0].cluster.server = `https://127.0.0.1:${proxy.port}`;
    await writeFile(kubeconfig, JSON.stringify(config));

    const requestsSince = auditCounter(auditLog);
    const through = proxy;
    const timed = async (agent: string, cmd: string, args: string[]): Promise<Run> => {
      await requestsSince(''); // move the mark past earlier requests
      const connections = through.connections;
      const run = await measure(cmd, args);
      const opened = through.connections - connections;
      // Bursts apart by half a round trip: at 0 ms added every request is one burst.
      const audit = await requestsSince(agent, through.rttMs > 0 ? through.rttMs / 2 : undefined);
      return { ...run, ...audit, connections: opened };
    };
    const cacheDir = join(work, 'kubectl-cache');
    return {
      kubeconfig,
      proxy,
      timed,
      kubectl: (args) =>
        timed('kubectl/', kubectlBinary(), ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, ...args]),
      async stop() {
        await through.close();
        await cp.stop();
      },
    };
  } catch (error) {
    await proxy?.close();
    await cp.stop();
    throw error;
  }
}
