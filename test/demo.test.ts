/**
 * `npm run demo` is the README's main command: run it end to end, as a user would, and check
 * that it tells the whole story, exits 0, and leaves nothing behind.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { expect, it } from 'vitest';

const projectRoot = resolve(import.meta.dirname, '..');

function npmRunDemo(): Promise<{ code: number | null; output: string }> {
  return new Promise((done, reject) => {
    const child = spawn('npm', ['run', 'demo'], { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => done({ code, output }));
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

it('npm run demo creates (and waits until Healthy by itself), changes, prunes, detects and heals drift, prints history, and cleans up', async () => {
  const { code, output } = await npmRunDemo();
  expect(code, output).toBe(0);

  // 1. first sync creates all four objects although deployment.yaml sorts before namespace.yaml
  expect(output).toMatch(/Synced: sync of demo at [0-9a-f]{7}: 4 created in .*; health Healthy$/m);
  // ... and waits until the Deployment is Healthy by itself: Pods run on kwok's nodes
  expect(output).toContain('Nobody set a status.');
  expect(output).toMatch(/^web-\S+\s+1\/1\s+Running\s+.*kwok-node-\d/m);
  // 2. the new commit configures the ConfigMap and prunes the Service
  expect(output).toMatch(/configured\s+ConfigMap\s+demo\s+web-config/);
  expect(output).toMatch(/pruned\s+Service\s+demo\s+web/);
  // 3. kubectl scale is reported by plan (exit 1) with a diff, then healed
  expect(output).toMatch(/drifted\s+Deployment\s+demo\s+web/);
  expect(output).toMatch(/-\s+replicas: 5\n\+\s+replicas: 2/);
  expect(output).toContain('(exit code 1)');
  expect(output).toMatch(/Synced: sync of demo at [0-9a-f]{7}: 1 configured, 2 unchanged/);
  expect(output).toContain('replicas: 2');
  // 4. history, newest first: heal, plan, prune, first sync
  const history = output.slice(output.indexOf('$ driftless history'));
  expect(
    history.match(/^\S+ \S+\s+demo\s+\S+\s+[0-9a-f]{7}\s+\S+/gm)?.map((row) => row.split(/\s+/)[5]),
  ).toEqual(['Synced', 'OutOfSync', 'Synced', 'Synced']);

  // Nothing left running, nothing left on disk.
  const server = output.match(/API server https:\/\/127\.0\.0\.1:(\d+) \(workspace (\S+)\)/);
  expect(server).not.toBeNull();
  expect(await portOpen(Number(server![1]))).toBe(false);
  expect(existsSync(server![2]!)).toBe(false);
}, 180_000);
