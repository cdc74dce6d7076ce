import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { appConfig, synthAgent } from './synth-agent.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

describe('function bundle', () => {
  it('bundles the real handler with esbuild into a small ESM package that loads the copied config', async () => {
    const { app } = synthAgent([appConfig('bundle-web'), appConfig('bundle-api')], {
      bundle: true,
      nag: false,
      entry: resolve(ROOT, 'lambda/handler.ts'),
    });
    const outdir = app.synth().directory;
    const assets = readdirSync(outdir)
      .map((name) => join(outdir, name))
      .filter((dir) => existsSync(join(dir, 'index.mjs')));
    expect(assets).toHaveLength(1);
    const task = assets[0]!;
    expect(readdirSync(task).sort()).toEqual(['driftless.config.yaml', 'index.mjs', 'index.mjs.map']);
    expect(readFileSync(join(task, 'driftless.config.yaml'), 'utf8')).toContain('name: bundle-api');

    // Measured 1.7 MB with every dependency (AWS SDK included) minified and client-node (kubeconfig
    // targets, CLI only) left out; with it the bundle was 5.9 MB.
    const size = statSync(join(task, 'index.mjs')).size;
    expect(size).toBeLessThan(2.5 * 1024 * 1024);

    // Load it the way Lambda does: an ES module, no node_modules next to it, config path from the env.
    const script = `
      const { handler } = await import(${JSON.stringify(join(task, 'index.mjs'))});
      await handler({ app: 'not-listed' }).catch((error) => console.log(error.name + ': ' + error.message));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: task,
      env: { PATH: process.env.PATH, DRIFTLESS_CONFIG_FILE: join(task, 'driftless.config.yaml') },
    });
    expect(stdout).toContain(
      'ConfigError: unknown app "not-listed": no app of that name is in the deployed config',
    );
  });
});
