/** `KUBECONFIG=a:b` merged the way kubectl merges it (client-node's own merge differs). */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { contextName, kubeconfigIdentity, mergeKubeConfigs } from '../../lambda/cluster/kubeconfig-merge.ts';

const dir = mkdtempSync(join(tmpdir(), 'driftless-kubeconfig-merge-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, config: Record<string, unknown>): string {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, JSON.stringify({ apiVersion: 'v1', kind: 'Config', ...config }));
  return path;
}

const first = file('first/config', {
  'current-context': 'dev',
  clusters: [
    { name: 'dev', cluster: { server: 'https://dev.example:6443', 'certificate-authority': 'ca.pem' } },
  ],
  users: [{ name: 'alice', user: { token: 'from-first' } }],
  contexts: [{ name: 'dev', context: { cluster: 'dev', user: 'alice' } }],
});
const second = file('second/config', {
  'current-context': 'prod',
  clusters: [
    { name: 'dev', cluster: { server: 'https://elsewhere.example:6443' } },
    {
      name: 'prod',
      cluster: { server: 'https://prod.example:6443', 'certificate-authority': '../certs/prod.pem' },
    },
  ],
  users: [
    { name: 'alice', user: { token: 'from-second' } },
    { name: 'bob', user: { tokenFile: 'bob.token' } },
  ],
  contexts: [{ name: 'prod', context: { cluster: 'prod', user: 'bob' } }],
});

describe('mergeKubeConfigs', () => {
  it('takes the first current-context and the first definition of each name, skipping missing files', () => {
    const merged = mergeKubeConfigs([join(dir, 'missing'), first, second]);
    expect(merged.files).toEqual([first, second]);
    expect(merged['current-context']).toBe('dev');
    expect(merged.clusters).toMatchObject([
      { name: 'dev', cluster: { server: 'https://dev.example:6443' } },
      { name: 'prod', cluster: { server: 'https://prod.example:6443' } },
    ]);
    expect(merged.users).toMatchObject([{ name: 'alice', user: { token: 'from-first' } }, { name: 'bob' }]);
    expect(merged.contexts.map((c) => c.name)).toEqual(['dev', 'prod']);
  });

  it('keeps relative file paths relative to the file that names them', () => {
    const merged = mergeKubeConfigs([first, second]);
    expect(merged.clusters).toMatchObject([
      { cluster: { 'certificate-authority': join(dir, 'first', 'ca.pem') } },
      { cluster: { 'certificate-authority': join(dir, 'certs', 'prod.pem') } },
    ]);
    expect(merged.users[1]).toMatchObject({ user: { tokenFile: join(dir, 'second', 'bob.token') } });
  });

  it('fails naming the list when none of the files exists', () => {
    expect(() => mergeKubeConfigs([join(dir, 'a'), join(dir, 'b')])).toThrow(
      /none of the KUBECONFIG files exists: .*a:.*b/,
    );
  });
});

describe('the context and identity a connection uses', () => {
  it('names the current context of a single file or of a KUBECONFIG list, and its user', () => {
    expect(contextName(second)).toBe('prod');
    expect(contextName(second, 'dev')).toBe('dev');
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = [second, first].join(':');
    try {
      expect(contextName()).toBe('prod');
      expect(kubeconfigIdentity()).toBe('kubeconfig user "bob" (context "prod")');
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });
});
