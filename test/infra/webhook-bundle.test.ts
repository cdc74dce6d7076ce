import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { appConfig, synthAgent } from './synth-agent.ts';

const run = promisify(execFile);

describe('webhook bundle', () => {
  it('bundles the receiver with its config into a small ESM package that answers as Lambda loads it', async () => {
    const { app } = synthAgent(
      { apps: [appConfig('bundle-hook')], webhook: true },
      { bundle: true, nag: false },
    );
    const outdir = app.synth().directory;
    const packages = readdirSync(outdir)
      .map((name) => join(outdir, name))
      .filter(
        (dir) =>
          existsSync(join(dir, 'index.mjs')) &&
          readFileSync(join(dir, 'index.mjs'), 'utf8').includes('driftless-webhook'),
      );
    expect(packages).toHaveLength(1);
    const task = packages[0]!;
    expect(readFileSync(join(task, 'driftless.config.yaml'), 'utf8')).toContain('name: bundle-hook');
    expect(statSync(join(task, 'index.mjs')).size).toBeLessThan(1.5 * 1024 * 1024);

    const script = `
      const { handler } = await import(${JSON.stringify(join(task, 'index.mjs'))});
      const answer = await handler({ requestContext: { http: { method: 'GET' } }, headers: {} });
      console.log(JSON.stringify(answer));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: task,
      env: { PATH: process.env.PATH, DRIFTLESS_CONFIG_FILE: join(task, 'driftless.config.yaml') },
    });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toMatchObject({ statusCode: 405 });
  });
});
