/**
 * A bad set writes nothing. Through the CLI, against the real API server:
 *
 * - a commit with a field typo (`replica: 3`) and an object in a missing namespace beside a good
 *   change -> Failed (exit 2), every failing object listed with its reason (the typo names the
 *   field: `fieldValidation=Strict`), the good change not applied, nothing pruned
 * - the first sync of a set whose objects land in a Namespace of the same commit -> the
 *   Namespace goes first (others need it to be dry-run), then everything in one run
 * - an object the API server warns about -> applied, the warning in its message
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubectlGet } from '../support/kubectl.ts';
import { actions, configMapYaml, driftlessJson, localRepo, namespaceYaml, resourceOf } from './cli-repo.ts';

const cp = inject('controlPlane');
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-bad-set-'));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

function sync(args: string[]) {
  return driftlessJson(workDir, [
    'sync',
    ...args,
    '--kubeconfig',
    cp.kubeconfig,
    '--history',
    `sqlite:${join(workDir, 'history.db')}`,
  ]);
}

const deploymentYaml = (namespace: string, spec: string, templateAnnotations = '') => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ${namespace}
spec:
${spec}  selector: { matchLabels: { app: web } }
  template:
    metadata:
      labels: { app: web }
${templateAnnotations}    spec:
      containers: [{ name: web, image: "nginx:1.25" }]
`;

describe('a bad set writes nothing', () => {
  it('applies nothing of a commit with a field typo and an object in a missing namespace, and lists both', async () => {
    const repo = await localRepo(join(workDir, 'typo'));
    await repo.commit({
      'ns.yaml': namespaceYaml('bad-set'),
      'cm.yaml': configMapYaml('bad-set', 'settings', 'one'),
      'old.yaml': configMapYaml('bad-set', 'old', 'x'),
    });
    const args = ['--app', 'bad-set', '--repo', repo.dir, '--prune'];
    expect((await sync(args)).code).toBe(0);

    await repo.commit({
      'cm.yaml': configMapYaml('bad-set', 'settings', 'two'),
      'old.yaml': null,
      'deployment.yaml': deploymentYaml('bad-set', '  replica: 3\n'),
      'lost.yaml': configMapYaml('no-such-namespace', 'lost', 'x'),
    });
    const bad = await sync(args);
    expect(bad.code).toBe(2);
    expect(bad.result.outcome).toBe('Failed');
    expect(resourceOf(bad.result, 'Deployment', 'web')).toMatchObject({
      action: 'failed',
      message: expect.stringMatching(/spec\.replica: field not declared in schema/),
    });
    expect(resourceOf(bad.result, 'ConfigMap', 'lost')).toMatchObject({
      action: 'failed',
      message: expect.stringMatching(/no-such-namespace/),
    });
    expect(bad.result.error).toMatch(/nothing was applied: 2 object\(s\) failed/);
    expect(bad.result.error).toMatch(/Deployment bad-set\/web: .*spec\.replica/);
    expect(bad.result.error).toMatch(/ConfigMap no-such-namespace\/lost: /);
    expect(resourceOf(bad.result, 'ConfigMap', 'old')?.action).toBe('orphaned');

    expect((await kubectlGet(cp.kubeconfig, 'configmap', 'settings', 'bad-set'))?.data.text).toBe('one');
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'old', 'bad-set')).toBeDefined();
    expect(await kubectlGet(cp.kubeconfig, 'deployment', 'web', 'bad-set')).toBeUndefined();
  });

  it('creates the Namespace a first sync needs first, then the rest in one run', async () => {
    const repo = await localRepo(join(workDir, 'first'));
    await repo.commit({
      'a-deployment.yaml': deploymentYaml('bad-set-first', '  replicas: 1\n'),
      'cm.yaml': configMapYaml('bad-set-first', 'settings', 'one'),
      'ns.yaml': namespaceYaml('bad-set-first'),
    });
    const first = await sync(['--app', 'bad-set-first', '--repo', repo.dir]);
    expect(first.code).toBe(0);
    expect(actions(first.result).sort()).toEqual([
      'created ConfigMap settings',
      'created Deployment web',
      'created Namespace bad-set-first',
    ]);
  });

  it("reports the API server's warnings in the object's message", async () => {
    const repo = await localRepo(join(workDir, 'warned'));
    await repo.commit({
      'ns.yaml': namespaceYaml('bad-set-warned'),
      'deployment.yaml': deploymentYaml(
        'bad-set-warned',
        '  replicas: 1\n',
        '      annotations: { seccomp.security.alpha.kubernetes.io/pod: runtime/default }\n',
      ),
    });
    const run = await sync(['--app', 'bad-set-warned', '--repo', repo.dir]);
    expect(run.code).toBe(0);
    expect(resourceOf(run.result, 'Deployment', 'web')).toMatchObject({
      action: 'created',
      message: expect.stringMatching(/warning: .*seccomp/),
    });
  });
});
