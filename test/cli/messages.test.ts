/**
 * Messages of the first hour, through the CLI: each names the file or setting, says what to do,
 * and is printed once (not by the log line and the result both).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localRepo } from '../reliability/cli-repo.ts';
import { type CliRun, runDriftless } from '../support/driftless-cli.ts';

const _exec = promisify(execFile);
let workDir: string;
let repo: string;

/** No AWS credentials, region or profile anywhere: what a laptop without `aws configure` has. */
const NO_AWS: NodeJS.ProcessEnv = {
  AWS_REGION: undefined,
  AWS_DEFAULT_REGION: undefined,
  AWS_PROFILE: undefined,
  AWS_ACCESS_KEY_ID: undefined,
  AWS_SECRET_ACCESS_KEY: undefined,
  AWS_SESSION_TOKEN: undefined,
  AWS_WEB_IDENTITY_TOKEN_FILE: undefined,
  AWS_CONTAINER_CREDENTIALS_FULL_URI: undefined,
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: undefined,
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_CONFIG_FILE: '/nonexistent/aws-config',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
};

function driftless(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return runDriftless(
    args,
    { XDG_STATE_HOME: join(workDir, 'state'), XDG_CACHE_HOME: join(workDir, 'cache'), ...env },
    'node',
    workDir,
  );
}

/** How many times `text` appears in everything the run printed. */
function times(run: CliRun, text: string): number {
  return `${run.stdout}\n${run.stderr}`.split(text).length - 1;
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-messages-'));
  repo = join(workDir, 'repo');
  await (await localRepo(repo)).commit({
    'cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\n',
  });
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe('messages that say what to do', () => {
  it('history --history dynamodb:TABLE without a region names AWS_REGION, not a flag history lacks', async () => {
    const run = await driftless(['history', '--history', 'dynamodb:runs-table'], NO_AWS);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/AWS_REGION/);
    expect(run.stderr).not.toMatch(/--region/);
    expect(times(run, 'AWS_REGION (for example')).toBe(1);
  });

  it('a missing --kubeconfig names the file and what to do, once, instead of a bare ENOENT', async () => {
    const missing = join(workDir, 'no-such-kubeconfig.yaml');
    const run = await driftless(['plan', '--app', 'm', '--repo', repo, '--kubeconfig', missing]);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toMatch(/ENOENT/);
    expect(run.stderr).toMatch(
      new RegExp(`--kubeconfig ${missing}: no such file; give the path of an existing kubeconfig`),
    );
    expect(times(run, 'no such file')).toBe(1);
  });

  it('a KUBECONFIG that points nowhere is named the same way', async () => {
    const run = await driftless(['plan', '--app', 'm', '--repo', repo], {
      KUBECONFIG: join(workDir, 'gone.yaml'),
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/KUBECONFIG=.*gone\.yaml: no such file; .*--kubeconfig FILE/);
  });

  it('--config without --context, no AWS credentials: suggests --context, once', async () => {
    const config = join(workDir, 'driftless.config.yaml');
    await writeFile(
      config,
      'apps:\n  - name: web\n    repo: https://git.example.com/web.git\n    cluster: { name: prod, region: eu-west-1 }\n',
    );
    const run = await driftless(['plan', '--config', config, '--app', 'web'], NO_AWS);
    expect(run.code).toBe(2);
    expect(run.stdout).toMatch(/CredentialsProviderError/);
    expect(run.stdout).toMatch(
      /EKS cluster "prod" in eu-west-1 with AWS credentials: to run it against a cluster of your kubeconfig instead, pass --context NAME \(or --kubeconfig FILE\)/,
    );
    expect(times(run, 'CredentialsProviderError')).toBe(1);
  });

  it('sync PATH (a positional repository) suggests --repo PATH, once', async () => {
    const run = await driftless(['sync', '--app', 'm', './my-app']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/unexpected argument "\.\/my-app": .*--repo \.\/my-app/);
    expect(run.stderr).not.toMatch(/Expected 0 arguments/);
    expect(times(run, 'unexpected argument')).toBe(1);
  });

  it('sync PATH -o json still prints its one Failed object', async () => {
    const run = await driftless(['sync', '--app', 'm', './my-app', '-o', 'json']);
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout)).toMatchObject({
      app: 'm',
      outcome: 'Failed',
      error: expect.stringMatching(/--repo/),
    });
  });
});
