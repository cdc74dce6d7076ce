/**
 * What the CLI loads before it runs a command: every start pays for it, and a no-op sync is
 * mostly start. The deploy config's schema library is loaded only for `--config`.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'driftless-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Prints the URL of every module the CLI loads, one per line, on stderr.
const hook = join(dir, 'hook.mjs');
writeFileSync(
  hook,
  `import { registerHooks } from 'node:module';
import { writeSync } from 'node:fs';
registerHooks({ load(url, context, next) { writeSync(2, 'LOADED ' + url + '\\n'); return next(url, context); } });
`,
);

async function loadedBy(args: string[]): Promise<string[]> {
  const run = await exec(process.execPath, ['--import', hook, 'lambda/cli.ts', ...args]).catch(
    (error: { stderr: string }) => error,
  );
  return run.stderr
    .split('\n')
    .filter((line) => line.startsWith('LOADED '))
    .map((line) => line.slice('LOADED '.length));
}

const schemaLibrary = (urls: string[]) => urls.filter((url) => url.includes('/node_modules/zod/'));

describe('CLI start', () => {
  it('loads no schema library for a sync without --config, nor for --version', async () => {
    const sync = await loadedBy(['sync', '--app', 'web', '--repo', join(dir, 'missing'), '-o', 'json']);
    expect(sync.some((url) => url.endsWith('/lambda/sync.ts'))).toBe(true);
    expect(schemaLibrary(sync)).toEqual([]);
    expect(schemaLibrary(await loadedBy(['--version']))).toEqual([]);
  });

  it('loads it for --config, which it validates', async () => {
    const config = join(dir, 'driftless.config.yaml');
    writeFileSync(config, 'apps: []\n');
    const loaded = await loadedBy(['sync', '--config', config, '--app', 'web', '-o', 'json']);
    expect(schemaLibrary(loaded).length).toBeGreaterThan(0);
  });
});
