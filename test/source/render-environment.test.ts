/**
 * What a renderer process gets: the checkout as its working folder, and an environment without
 * our AWS credentials, tokens or Git credentials, and with no network. A stand-in `kubectl`
 * (through `DRIFTLESS_KUBECTL`, the documented override) prints what it saw as a ConfigMap.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSource } from '../../lambda/source/source.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';

const SECRET_ENV = {
  AWS_ACCESS_KEY_ID: 'TESTKEYID-RENDER-ENV',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  AWS_SESSION_TOKEN: 'session-token-value',
  GITHUB_TOKEN: 'ghp_exampletokenvalue',
  DRIFTLESS_GIT_TOKEN: 'git-token-value',
};

let server: GitServer;
let workDir: string;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  server = await startGitServer({ tls: true });
  workDir = await mkdtemp(join(tmpdir(), 'driftless-render-env-'));
  const fake = join(workDir, 'kubectl');
  await writeFile(
    fake,
    [
      '#!/bin/sh',
      'echo "apiVersion: v1"',
      'echo "kind: ConfigMap"',
      'echo "metadata: {name: seen}"',
      'echo "data:"',
      'echo "  cwd: \\"$(pwd)\\""',
      'echo "  args: \\"$*\\""',
      'echo "  overlay: \\"$(cat "$2/kustomization.yaml" | head -c 40)\\""',
      'echo "  env: |"',
      'env | sort | sed "s/^/    /"',
      '',
    ].join('\n'),
  );
  await chmod(fake, 0o755);
  for (const [name, value] of Object.entries({ ...SECRET_ENV, DRIFTLESS_KUBECTL: fake })) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
});

afterAll(async () => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await server.stop();
  await rm(workDir, { recursive: true, force: true });
});

describe('the renderer process', () => {
  it('runs in the checkout, without AWS credentials, tokens or the Git credential, and without network', async () => {
    const repo = await server.createRepo('render-env');
    await repo.commit({ 'app/kustomization.yaml': 'resources: [cm.yaml]\n', 'app/cm.yaml': '' });
    const [seen] = (
      await loadSource(
        { repo: repo.url.replace('://', '://user:git-token-value@'), path: 'app' },
        { cacheDir: join(workDir, 'cache'), ca: server.ca ? [server.ca] : [] },
      )
    ).objects;
    const data = seen?.object.data as { cwd: string; args: string; overlay: string; env: string };
    expect(data.args).toBe('kustomize ./app');
    expect(data.overlay).toBe('resources: [cm.yaml]');
    expect(data.cwd).toMatch(/driftless-render-[^/]+\/repo$/);
    for (const value of Object.values(SECRET_ENV)) expect(data.env).not.toContain(value);
    expect(data.env).not.toMatch(/^\s*AWS_/m);
    expect(data.env).toMatch(/^\s*HTTPS_PROXY=http:\/\/127\.0\.0\.1:9$/m);
    expect(data.env).toMatch(/^\s*HOME=.*driftless-render-[^/]+\/home$/m);
  });
});
