/**
 * Loud config mistakes, as a user meets them: `plan --config` and `cdk synth` (the app in
 * `infra/app.ts`) share one schema and refuse a repository the agent cannot fetch (ssh, `git@`,
 * a local path), a `path` that leaves the repository, and a misspelled key, naming the setting,
 * what to write instead and the line and column in the file.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot, runDriftless } from '../support/driftless-cli.ts';

const exec = promisify(execFile);
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-config-mistakes-'));
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

/** A one-app config file: `web`, with `lines` (indented under the app) after its name. */
async function configFile(name: string, lines: string[]): Promise<string> {
  const file = join(workDir, `${name}.yaml`);
  const app = ['name: web', ...lines, 'cluster: { name: prod, region: eu-west-1 }'];
  await writeFile(file, `apps:\n${app.map((line, i) => `${i === 0 ? '  - ' : '    '}${line}`).join('\n')}\n`);
  return file;
}

/** What `driftless plan --config FILE --app web` says on stderr (it fails before any cluster call). */
async function planError(file: string): Promise<string> {
  const run = await runDriftless(['plan', '--config', file, '--app', 'web', '--context', 'none'], {
    XDG_STATE_HOME: join(workDir, 'state'),
    XDG_CACHE_HOME: join(workDir, 'cache'),
  });
  expect(run.code).toBe(2);
  return run.stderr;
}

/** What `cdk synth` (node infra/app.ts, as the CDK CLI runs it) says for the config file. */
async function synthError(file: string): Promise<string> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CDK_OUTDIR: join(workDir, 'cdk.out'),
    CDK_CONTEXT_JSON: JSON.stringify({ 'aws:cdk:bundling-stacks': [], config: file }),
  };
  try {
    await exec(process.execPath, ['infra/app.ts'], { cwd: projectRoot, env });
  } catch (error) {
    return (error as { stderr: string }).stderr;
  }
  throw new Error(`synth accepted ${file}`);
}

const cases = [
  {
    name: 'an ssh repository (git@host:path)',
    lines: ['repo: git@github.com:acme/gitops.git'],
    expected:
      /apps\[0\]\.repo: "git@github\.com:acme\/gitops\.git" is not an https:\/\/ URL.*https:\/\/github\.com\/acme\/gitops\.git.*\(line 3, column 11\)/,
  },
  {
    name: 'an ssh:// repository',
    lines: ['repo: ssh://git@github.com/acme/gitops.git'],
    expected:
      /apps\[0\]\.repo: .* is not an https:\/\/ URL.*ssh:\/\/, git@host:path and local paths are not supported/,
  },
  {
    name: 'a local path',
    lines: ['repo: ./gitops'],
    expected:
      /apps\[0\]\.repo: "\.\/gitops" is not an https:\/\/ URL.*the CLI takes a local path with --repo PATH/,
  },
  {
    name: 'a path that leaves the repository',
    lines: ['repo: https://github.com/acme/gitops.git', 'path: ../../etc'],
    expected: /apps\[0\]\.path: "\.\.\/\.\.\/etc" leaves the repository.*\(line 4, column 11\)/,
  },
  {
    name: 'an absolute path',
    lines: ['repo: https://github.com/acme/gitops.git', 'path: /etc'],
    expected: /apps\[0\]\.path: "\/etc" leaves the repository/,
  },
  {
    name: 'a misspelled key',
    lines: ['repo: https://github.com/acme/gitops.git', 'selfheal: true'],
    expected: /apps\[0\]: Unrecognized key: "selfheal"; did you mean "selfHeal"\? \(line 4, column 5\)/,
  },
  {
    name: 'a misspelled nested key',
    lines: ['repo: https://github.com/acme/gitops.git', 'helm: { relaseName: web }'],
    expected:
      /apps\[0\]\.helm: Unrecognized key: "relaseName"; did you mean "releaseName"\? \(line 4, column 13\)/,
  },
];

describe.each(cases)('a config with $name', ({ name, lines, expected }) => {
  it('is refused by plan --config, naming the setting, what to write and where', async () => {
    expect(await planError(await configFile(`cli-${name.replaceAll(/\W+/g, '-')}`, lines))).toMatch(expected);
  });

  it('is refused by cdk synth with the same message', async () => {
    expect(await synthError(await configFile(`synth-${name.replaceAll(/\W+/g, '-')}`, lines))).toMatch(
      expected,
    );
  });
});

it('accepts an https repository and plain http to this machine (a test server, a port-forward)', async () => {
  for (const repo of ['https://github.com/acme/gitops.git', 'http://127.0.0.1:8080/gitops.git']) {
    const file = await configFile(`ok-${repo.length}`, [`repo: ${repo}`, 'path: apps/web']);
    const stderr = await planError(file);
    expect(stderr).not.toMatch(/invalid config/);
  }
});
