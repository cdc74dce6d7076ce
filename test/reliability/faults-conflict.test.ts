/**
 * Fault: another field manager changes a field driftless manages (a person with kubectl, another
 * controller). kubectl writes it, kubectl reads the result: driftless is observed from outside.
 *
 *   other manager takes a field, self-heal on   -> Synced; `configured`, "drift healed: re-applied;
 *                                                  took data.color from "<manager>""; the field is
 *                                                  driftless's again, the other manager's own
 *                                                  fields are left alone
 *   other manager takes a field, self-heal off  -> OutOfSync; `drifted` with the diff; the
 *                                                  cluster keeps the other value
 *   same, then a new revision changes the field -> Synced; `configured`, "took data.color from ..."
 *   (self-heal off)
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { openHistoryStore } from '../../lambda/history/open-store.ts';
import type { HistoryStore } from '../../lambda/history/store.ts';
import { loadSource } from '../../lambda/source/source.ts';
import { runSync, type SyncInput } from '../../lambda/sync.ts';
import { type GitRepo, type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';

const cp = inject('controlPlane');

let git: GitServer;
let store: HistoryStore;
let workDir: string;

beforeAll(async () => {
  git = await startGitServer();
  workDir = await mkdtemp(join(tmpdir(), 'driftless-faults-conflict-'));
  store = await openHistoryStore(`sqlite:${join(workDir, 'history.db')}`);
});

afterAll(async () => {
  await store?.close();
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

function settings(namespace: string, color: string, extra = ''): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: ${namespace}\ndata:\n  color: ${color}\n  size: small\n${extra}`;
}

/** How another party writes `data.color: red` (and a field of its own, `data.note`). */
const editors = {
  'kubectl apply --server-side --field-manager=other': {
    manager: 'other',
    args: ['apply', '--server-side', '--field-manager=other', '--force-conflicts'],
  },
  'kubectl apply (client-side)': { manager: 'kubectl-client-side-apply', args: ['apply'] },
} as const;

type Editor = keyof typeof editors;

async function edit(editor: Editor, namespace: string): Promise<void> {
  const file = join(workDir, `${namespace}-edit.yaml`);
  // Only the fields the editor cares about, as a person would write them.
  await writeFile(
    file,
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: ${namespace}\ndata:\n  color: red\n  note: mine\n`,
  );
  await kubectl(cp.kubeconfig, ...editors[editor].args, '-f', file);
}

/** Managers of `data.<key>` in the live object's managedFields. */
async function managersOf(namespace: string, key: string): Promise<string[]> {
  const live = JSON.parse(
    await kubectl(
      cp.kubeconfig,
      'get',
      'configmap',
      'settings',
      '-n',
      namespace,
      '-o',
      'json',
      '--show-managed-fields',
    ),
  );
  const entries = (live.metadata.managedFields ?? []) as { manager: string; fieldsV1?: any }[];
  return entries
    .filter((e) => e.fieldsV1?.['f:data']?.[`f:${key}`] !== undefined)
    .map((e) => e.manager)
    .sort();
}

let counter = 0;
async function syncedApp(selfHeal: boolean): Promise<{ input: SyncInput; namespace: string; repo: GitRepo }> {
  counter += 1;
  const namespace = `faults-conflict-${counter}`;
  const repo = await git.createRepo(namespace);
  await repo.commit({
    'namespace.yaml': `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${namespace}\n`,
    'settings.yaml': settings(namespace, 'blue'),
  });
  const input: SyncInput = {
    app: namespace,
    source: { repo: repo.url },
    target: { type: 'kubeconfig', kubeconfig: cp.kubeconfig },
    namespace,
    prune: true,
    selfHeal,
    trigger: 'test',
  };
  expect((await sync(input)).record.outcome).toBe('Synced');
  return { input, namespace, repo };
}

function sync(input: SyncInput) {
  return runSync(input, {
    store,
    loadSource: (s) => loadSource(s, { cacheDir: join(workDir, 'git') }),
    connect: (target) => connectCluster(target),
  });
}

describe.each(Object.keys(editors) as Editor[])('a field taken by %s', (editor) => {
  const { manager } = editors[editor];

  it('is taken back with self-heal, reporting the manager it was taken from; its other fields stay', async () => {
    const { input, namespace } = await syncedApp(true);
    await edit(editor, namespace);
    expect(await managersOf(namespace, 'color')).toEqual([manager]);

    const run = await sync(input);

    expect(run.record.outcome).toBe('Synced');
    const [result] = run.record.resources.filter((r) => r.name === 'settings');
    expect(result).toMatchObject({
      action: 'configured',
      message: `drift healed: re-applied; took data.color from "${manager}"`,
    });
    expect(result?.diff).toMatch(/-\s+color: red\n\+\s+color: blue/);
    const live = await kubectlGet(cp.kubeconfig, 'configmap', 'settings', namespace);
    expect(live?.data).toEqual({ color: 'blue', size: 'small', note: 'mine' });
    expect(await managersOf(namespace, 'color')).toEqual(['driftless']);
    expect(await managersOf(namespace, 'note')).toEqual([manager]);
    const [stored] = await store.listRuns({ app: input.app, limit: 1 });
    expect(stored?.resources.find((r) => r.name === 'settings')?.message).toContain(
      `took data.color from "${manager}"`,
    );
  });

  it('is reported drifted without self-heal, and the cluster keeps the other value', async () => {
    const { input, namespace } = await syncedApp(false);
    await edit(editor, namespace);
    const before = await kubectlGet(cp.kubeconfig, 'configmap', 'settings', namespace);

    const run = await sync(input);

    expect(run.record.outcome).toBe('OutOfSync');
    expect(run.record.counts).toEqual({ unchanged: 1, drifted: 1 });
    const [result] = run.record.resources.filter((r) => r.name === 'settings');
    expect(result).toMatchObject({
      action: 'drifted',
      message: `ConfigMap ${namespace}/settings drifted from Git; self-heal is off, not re-applied`,
    });
    expect(result?.diff).toMatch(/-\s+color: red\n\+\s+color: blue/);
    const after = await kubectlGet(cp.kubeconfig, 'configmap', 'settings', namespace);
    expect(after?.data).toEqual({ color: 'red', size: 'small', note: 'mine' });
    expect(after?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
    expect(await managersOf(namespace, 'color')).toEqual([manager]);
    expect((await store.listRuns({ app: input.app, limit: 1 }))[0]).toMatchObject({
      outcome: 'OutOfSync',
      counts: { unchanged: 1, drifted: 1 },
    });
  });

  it('is taken with force by a new revision even without self-heal, and the report says from whom', async () => {
    const { input, namespace, repo } = await syncedApp(false);
    await edit(editor, namespace);
    const revision = await repo.commit({ 'settings.yaml': settings(namespace, 'green') });

    const run = await sync(input);

    expect(run.record).toMatchObject({ revision, outcome: 'Synced' });
    expect(run.record.resources.find((r) => r.name === 'settings')).toMatchObject({
      action: 'configured',
      message: `took data.color from "${manager}"`,
    });
    const live = await kubectlGet(cp.kubeconfig, 'configmap', 'settings', namespace);
    expect(live?.data).toEqual({ color: 'green', size: 'small', note: 'mine' });
    expect(await managersOf(namespace, 'color')).toEqual(['driftless']);
  });
});
