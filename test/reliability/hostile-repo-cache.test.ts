/**
 * One app's caches are not another's. With the Lambda's layout (one `/tmp/driftless/git` for every
 * app an execution environment runs), a render of app A that escaped its checkout and can write
 * anywhere under the cache folder cannot make app B (or A itself) apply what its repository never
 * held: every cached entry carries an HMAC keyed with a secret that is not in the cache folder.
 *
 * Matrix (case -> outcome):
 * - B's cached manifest entry overwritten by A (a cluster-admin ClusterRoleBinding, with a plain
 *   SHA-256 recomputed where the HMAC goes) -> discarded with a warning naming the entry (not its
 *   content), `cached: false`, B's own objects applied, the binding never exists
 * - a forged entry in A's own folder (its genuine HMAC kept, its body replaced) -> discarded too
 * - an entry planted for B's Secret-holding set (never cached) under the name driftless uses -> unused
 * - A's and B's caches -> different folders; no key file under the cache folder; B's Secret value
 *   and the fake AWS key appear neither in A's folder nor in A's logs
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { manifestEntryName } from '../../lambda/source/manifest-cache.ts';
import { DEFAULT_MANIFEST_LIMITS, loadSource, type SourceSettings } from '../../lambda/source/source.ts';
import { runSync } from '../../lambda/sync.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectlGet } from '../support/kubectl.ts';
import { capturingLogger, dumpTree, type HostileStore, openHostileStore } from './hostile-harness.ts';

const cp = inject('controlPlane');
const B_SECRET = 'hrc-b-secret-value-5e81c0';
const AWS_CANARY = 'FAKECANARYAWSKEYhrc0b7d2e4f6a8c1';

const namespace = (name: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`;
const configMap = (ns: string, name: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${ns}\ndata:\n  owner: "${ns}"\n`;
const secret = (ns: string) =>
  `apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: ${ns}\nstringData:\n  password: ${B_SECRET}\n`;

/** What A's escaped render writes: B's namespace and a binding of B's default account to cluster-admin. */
const FORGED = JSON.stringify({
  files: 1,
  objects: [
    {
      object: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'hrc-escalate' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: 'hrc-b' }],
      },
      origin: { file: 'escalate.yaml', document: 0 },
    },
  ],
});

let git: GitServer;
let workDir: string;
let cacheDir: string;
let history: HostileStore;
const savedAwsKey = process.env.AWS_SECRET_ACCESS_KEY;

beforeAll(async () => {
  process.env.AWS_SECRET_ACCESS_KEY = AWS_CANARY;
  workDir = await mkdtemp(join(tmpdir(), 'driftless-hostile-cache-'));
  cacheDir = join(workDir, 'tmp', 'driftless', 'git');
  git = await startGitServer();
  history = await openHostileStore('sqlite', workDir);
});
afterAll(async () => {
  if (savedAwsKey === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
  else process.env.AWS_SECRET_ACCESS_KEY = savedAwsKey;
  await history?.close();
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

/** One run wired as `lambda/handler.ts` wires it: the run's context goes on to `loadSource`. */
async function sync(app: string, source: SourceSettings) {
  const logs = capturingLogger();
  const run = await runSync(
    {
      app,
      source,
      target: { type: 'kubeconfig', kubeconfig: cp.identities.platform.kubeconfig },
      prune: true,
      trigger: 'test',
    },
    {
      store: history.store,
      logger: logs,
      loadSource: (settings, context) => loadSource(settings, { cacheDir, logger: logs, ...context }),
      connect: (target) => connectCluster(target),
    },
  );
  const loaded = logs.lines.find((line) => line.message === 'source loaded')?.attributes;
  return { run, logs, cached: loaded?.cached };
}

/** Every manifest cache file under the cache folder, as paths. */
async function manifestFiles(): Promise<string[]> {
  const names = await readdir(cacheDir, { recursive: true });
  return names
    .filter((name) => /(^|\/)manifests-[^/]*\.json$/.test(name))
    .map((name) => join(cacheDir, name));
}

const topLevel = async () => new Set(await readdir(cacheDir));
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** An attacker's copy of an entry: plain JSON where plain JSON was, else the entry's first line replaced. */
async function forge(path: string, firstLine: (body: string, existing: string) => string): Promise<void> {
  const existing = await readFile(path, 'utf8').catch(() => '{');
  const forged = existing.startsWith('{') ? FORGED : `${firstLine(FORGED, existing)}\n${FORGED}`;
  await writeFile(path, forged);
}

describe('caches of apps sharing one cache folder', () => {
  it('discards manifest entries another app planted, and applies only what the repository holds', async () => {
    const repoA = await git.createRepo('hrc-a');
    await repoA.commit({ 'ns.yaml': namespace('hrc-a'), 'cm.yaml': configMap('hrc-a', 'a') });
    const repoB = await git.createRepo('hrc-b');
    const commitB = await repoB.commit({
      'app/ns.yaml': namespace('hrc-b'),
      'app/cm.yaml': configMap('hrc-b', 'b'),
      'vault/secret.yaml': secret('hrc-b'),
    });

    const a1 = await sync('a', { repo: repoA.url });
    expect(a1.run.record.outcome).toBe('Synced');
    const foldersOfA = await topLevel();
    const filesOfA = new Set(await manifestFiles());
    expect(filesOfA.size).toBe(1);

    const b1 = await sync('b', { repo: repoB.url, path: 'app' });
    const b2 = await sync('b', { repo: repoB.url, path: 'app' });
    expect([b1.run.record.outcome, b1.cached, b2.cached]).toEqual(['Synced', false, true]);
    const vault1 = await sync('b-vault', { repo: repoB.url, path: 'vault' });
    expect(vault1.run.record.outcome).toBe('Synced');
    const filesOfB = (await manifestFiles()).filter((file) => !filesOfA.has(file));
    expect(filesOfB).toHaveLength(1); // the Secret-holding set of b-vault is never cached

    // A's render escaped: it overwrites B's entry, plants one for b-vault under the name
    // driftless would use (in every folder, and where the flat layout kept them), and forges its own.
    for (const file of filesOfB) await forge(file, (body) => sha256(body));
    const vaultName = manifestEntryName({
      commit: commitB,
      path: 'vault',
      limits: { ...DEFAULT_MANIFEST_LIMITS },
    });
    const plantedFolders = [...(await topLevel())].filter((name) => !foldersOfA.has(name));
    for (const folder of ['.', ...plantedFolders]) {
      await writeFile(join(cacheDir, folder, vaultName), FORGED).catch(() => undefined);
    }
    for (const file of filesOfA) await forge(file, (_body, existing) => existing.split('\n')[0] ?? '');

    const b3 = await sync('b', { repo: repoB.url, path: 'app' });
    const vault2 = await sync('b-vault', { repo: repoB.url, path: 'vault' });
    const a2 = await sync('a', { repo: repoA.url });
    expect(await kubectlGet(cp.kubeconfig, 'clusterrolebinding', 'hrc-escalate')).toBeUndefined();
    for (const [name, done] of Object.entries({ b3, vault2, a2 })) {
      expect(done.cached, name).toBe(false);
      expect(done.run.record.outcome, name).toBe('Synced');
      expect(done.logs.text(), name).not.toContain('cluster-admin');
      expect(JSON.stringify(done.run.result), name).not.toContain('hrc-escalate');
    }
    expect(b3.run.result.resources.map((r) => `${r.kind}/${r.name}`).sort()).toEqual([
      'ConfigMap/b',
      'Namespace/hrc-b',
    ]);
    const discarded = (done: { logs: ReturnType<typeof capturingLogger> }) =>
      done.logs.lines.filter((line) => line.level === 'warn' && /integrity/.test(line.message));
    expect(discarded(b3)).toHaveLength(1);
    expect(String(discarded(b3)[0]?.attributes?.entry)).toBe(relative(cacheDir, filesOfB[0] ?? ''));
    expect(discarded(a2)).toHaveLength(1);
    expect(discarded(vault2)).toHaveLength(1);

    // The planted entries are gone or rewritten: a warm run is served from a genuine entry again.
    expect((await sync('b', { repo: repoB.url, path: 'app' })).cached).toBe(true);

    // Separate folders per app, nothing at the top but those folders, no key beside the cache.
    const foldersOfB = [...(await topLevel())].filter((name) => !foldersOfA.has(name));
    expect(foldersOfA.size).toBe(1);
    expect(foldersOfB.length).toBeGreaterThanOrEqual(1);
    for (const file of filesOfB) expect(relative(cacheDir, file).split(sep)[0]).not.toBe([...foldersOfA][0]);
    const everything = await readdir(cacheDir, { recursive: true });
    expect(everything.filter((name) => /(^|\/)\.?key$|cache\.key/.test(name))).toEqual([]);

    const folderOfA = await dumpTree(join(cacheDir, [...foldersOfA][0] ?? ''));
    for (const [where, text] of Object.entries({
      "A's cache folder": folderOfA,
      "A's logs": a1.logs.text() + a2.logs.text(),
      'every manifest entry': (
        await Promise.all((await manifestFiles()).map((f) => readFile(f, 'utf8')))
      ).join(),
    })) {
      expect(text.includes(B_SECRET), where).toBe(false);
      expect(text.includes(AWS_CANARY), where).toBe(false);
    }
    expect((await kubectlGet(cp.kubeconfig, 'secret', 'creds', 'hrc-b'))?.data.password).toBe(
      Buffer.from(B_SECRET).toString('base64'),
    );
  });
});
