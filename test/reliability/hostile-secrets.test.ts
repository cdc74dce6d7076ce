/**
 * A Secret's values never leave the cluster: not in a log line, a stored history record (read
 * raw: database bytes, DynamoDB items unzipped), a diff, or the CLI's output; across create,
 * change, drift (made with client-side `kubectl apply`, whose last-applied annotation carries the
 * value), self-heal, plan, and an apply the API server rejects. The cluster does hold the values,
 * so their absence everywhere else means something.
 *
 * Matrix (case -> outcome):
 * - Secret created, changed, drifted, healed, planned -> every value (plain and base64) absent from
 *   logs, results, diffs (`*** (before)` -> `*** (after)`), stored records (diff replaced by
 *   `(diff of a Secret not stored)`) on sqlite and DynamoDB, and CLI stdout/stderr in text and JSON
 * - Secret the API rejects (bad base64 in data) -> Failed naming the Secret, no value in the message
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SECRET_DIFF_OMITTED } from '../../lambda/history/redaction.ts';
import { logSyncRun } from '../../lambda/log.ts';
import type { SyncInput } from '../../lambda/sync.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import {
  type CliRun,
  driftlessCli,
  type HostileRun,
  type HostileStore,
  hostileSync,
  openHostileStore,
  runsOf,
  type StoreKind,
} from './hostile-harness.ts';

const exec = promisify(execFile);
const cp = inject('controlPlane');

/** Distinct values per step, so a leak also says which step leaked. */
const VALUES = {
  created: 'hostile-secret-created-7f3a9c',
  changed: 'hostile-secret-changed-2b8e1d',
  drifted: 'hostile-secret-drifted-9c4f7a',
  planned: 'hostile-secret-planned-5d1e3b',
  token: 'hostile-secret-token-4e6a2c',
  rejected: 'hostile-secret-rejected-8a2f6d',
};
const b64 = (text: string) => Buffer.from(text).toString('base64');
/** Every form a value could leak in: plain, base64 (`data`), and the distinctive tail alone. */
const NEEDLES = Object.values(VALUES).flatMap((value) => [value, b64(value), value.slice(-12)]);

function expectNoSecretIn(haystack: string, where: string): void {
  for (const needle of NEEDLES) {
    expect(haystack.includes(needle), `${where} contains "${needle}"`).toBe(false);
  }
}

function secretYaml(namespace: string, password: string, token = b64(VALUES.token)): string {
  return [
    'apiVersion: v1',
    'kind: Secret',
    'metadata:',
    '  name: creds',
    `  namespace: ${namespace}`,
    'type: Opaque',
    'stringData:',
    `  password: ${password}`,
    'data:',
    `  token: ${JSON.stringify(token)}`,
    '',
  ].join('\n');
}
const namespaceYaml = (name: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`;

let git: GitServer;
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-hostile-secrets-'));
  git = await startGitServer();
});

afterAll(async () => {
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

/** Drifts the Secret with client-side `kubectl apply`: the last-applied annotation holds the value. */
async function driftWithKubectlApply(namespace: string, password: string): Promise<void> {
  const file = join(workDir, `${namespace}-drift.yaml`);
  await writeFile(file, secretYaml(namespace, password));
  await kubectl(cp.kubeconfig, 'apply', '-f', file);
  const live = await kubectlGet(cp.kubeconfig, 'secret', 'creds', namespace);
  expect(live?.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration']).toContain(
    password,
  );
}

/** The password the cluster holds; also checks the token is there in the form the needles use. */
async function livePassword(namespace: string): Promise<string> {
  const live = await kubectlGet(cp.kubeconfig, 'secret', 'creds', namespace);
  expect(live?.data.token).toBe(b64(VALUES.token));
  return Buffer.from(live?.data.password ?? '', 'base64').toString();
}

describe.each(['sqlite', 'dynamodb'] as const)(
  'Secret values with the %s history store',
  (kind: StoreKind) => {
    let history: HostileStore;
    const runs: HostileRun[] = [];

    beforeAll(async () => {
      history = await openHostileStore(kind, await mkdtemp(join(workDir, `${kind}-`)));
    });
    afterAll(async () => {
      await history?.close();
    });

    async function sync(input: Pick<SyncInput, 'app' | 'source'> & Partial<SyncInput>): Promise<HostileRun> {
      const done = await hostileSync(input, {
        store: history.store,
        cacheDir: join(workDir, `cache-${kind}`),
        kubeconfig: cp.kubeconfig,
      });
      // What the Lambda logs after every run: one line per object, then the summary.
      logSyncRun(done.logs, done.run);
      runs.push(done);
      return done;
    }

    it('never appear in logs, results, diffs or stored records across create, change, drift, heal, plan and a rejection', async () => {
      const app = `hs-${kind}`;
      const repo = await git.createRepo(app);
      const source = { repo: repo.url };
      await repo.commit({
        'namespace.yaml': namespaceYaml(app),
        'secret.yaml': secretYaml(app, VALUES.created),
      });

      const created = await sync({ app, source });
      expect(created.run.record).toMatchObject({ outcome: 'Synced', counts: { created: 2 } });
      expect(await livePassword(app)).toBe(VALUES.created);

      await repo.commit({ 'secret.yaml': secretYaml(app, VALUES.changed) });
      const changed = await sync({ app, source });
      expect(changed.run.record).toMatchObject({
        outcome: 'Synced',
        counts: { configured: 1, unchanged: 1 },
      });
      const changedDiff = changed.run.result.resources.find((r) => r.kind === 'Secret')?.diff;
      expect(changedDiff).toMatch(/-\s+password: "?\*\*\* \(before\)"?\n\+\s+password: "?\*\*\* \(after\)"?/);
      expect(await livePassword(app)).toBe(VALUES.changed);

      await driftWithKubectlApply(app, VALUES.drifted);
      const drifted = await sync({ app, source });
      expect(drifted.run.record.outcome).toBe('OutOfSync');
      const driftedSecret = drifted.run.result.resources.find((r) => r.kind === 'Secret');
      expect(driftedSecret).toMatchObject({
        action: 'drifted',
        diff: expect.stringMatching(/\*\*\* \(after\)/),
      });
      expect(await livePassword(app)).toBe(VALUES.drifted);

      const healed = await sync({ app, source, selfHeal: true });
      expect(healed.run.record).toMatchObject({ outcome: 'Synced', counts: { configured: 1, unchanged: 1 } });
      expect(await livePassword(app)).toBe(VALUES.changed);

      await repo.commit({ 'secret.yaml': secretYaml(app, VALUES.planned) });
      const planned = await sync({ app, source, dryRun: true });
      expect(planned.run.record).toMatchObject({
        outcome: 'OutOfSync',
        dryRun: true,
        counts: { configured: 1 },
      });
      expect(planned.run.result.resources.find((r) => r.kind === 'Secret')?.diff).toMatch(/\*\*\* \(after\)/);
      expect(await livePassword(app)).toBe(VALUES.changed);

      await repo.commit({ 'secret.yaml': secretYaml(app, VALUES.changed, `!!${VALUES.rejected}`) });
      const rejected = await sync({ app, source });
      expect(rejected.run.record.outcome).toBe('Failed');
      // Refused before any write: the API's own rejection would quote the value.
      expect(rejected.run.record.error).toMatch(
        /secret\.yaml \(document 0\): Secret creds: data\.token is not valid base64 .*the value is not shown/,
      );
      expect(rejected.run.record.resources).toEqual([]);
      expect(await livePassword(app)).toBe(VALUES.changed);

      // Every stored record of a Secret change keeps that it changed, never how.
      const stored = await runsOf(history.store, app);
      expect(stored.map((r) => r.outcome)).toEqual([
        'Synced',
        'Synced',
        'OutOfSync',
        'Synced',
        'OutOfSync',
        'Failed',
      ]);
      const storedSecretDiffs = stored.flatMap((r) =>
        r.resources.filter((x) => x.kind === 'Secret' && x.diff),
      );
      expect(storedSecretDiffs.length).toBeGreaterThan(0);
      for (const resource of storedSecretDiffs) expect(resource.diff).toBe(SECRET_DIFF_OMITTED);

      const logs = runs.map((r) => r.logs.text()).join('\n');
      expect(logs).toContain('creds');
      expectNoSecretIn(logs, 'the log');
      expectNoSecretIn(JSON.stringify(runs.map((r) => r.run.result)), 'a sync result');
      expectNoSecretIn(JSON.stringify(runs.map((r) => r.run.record)), 'a sync record');
      const raw = await history.dump();
      expect(raw).toContain('creds');
      expectNoSecretIn(raw, `the raw ${kind} history`);
    });
  },
);

describe('Secret values through the CLI', () => {
  it('never appear on stdout or stderr of sync, plan and history, in text or JSON, nor in the history file', async () => {
    const app = 'hs-cli';
    const repo = join(workDir, 'cli-repo');
    const historyDir = await mkdtemp(join(workDir, 'cli-history-'));
    const historyFile = join(historyDir, 'history.db');
    const git = (...args: string[]) => exec('git', ['-C', repo, ...args]);
    await exec('git', ['init', '--quiet', '--initial-branch=main', repo]);
    const commit = async (files: Record<string, string>) => {
      for (const [file, content] of Object.entries(files)) await writeFile(join(repo, file), content);
      await git('add', '-A');
      await git('-c', 'user.name=t', '-c', 'user.email=t@driftless.dev', 'commit', '--quiet', '-m', 'x');
    };
    const common = [
      '--repo',
      repo,
      '--app',
      app,
      '--kubeconfig',
      cp.kubeconfig,
      '--history',
      `sqlite:${historyFile}`,
    ];
    const env = { DRIFTLESS_DEBUG: '1', DRIFTLESS_CACHE_DIR: join(workDir, 'cli-cache') };
    const outputs: CliRun[] = [];
    const cli = async (args: string[]) => {
      const run = await driftlessCli(args, env);
      outputs.push(run);
      return run;
    };

    await commit({ 'namespace.yaml': namespaceYaml(app), 'secret.yaml': secretYaml(app, VALUES.created) });
    expect((await cli(['sync', ...common, '--output', 'json'])).code).toBe(0);
    await commit({ 'secret.yaml': secretYaml(app, VALUES.changed) });
    const plan = await cli(['plan', ...common]);
    expect(plan.code).toBe(1);
    expect(plan.stdout).toMatch(/password: "?\*\*\* \(after\)/);
    expect((await cli(['plan', ...common, '--output', 'json'])).code).toBe(1);
    expect((await cli(['sync', ...common])).code).toBe(0);
    await driftWithKubectlApply(app, VALUES.drifted);
    const drift = await cli(['sync', ...common]);
    expect(drift.code).toBe(1);
    expect(drift.stdout).toMatch(/--- Secret hs-cli\/creds \(drifted\)/);
    expect((await cli(['sync', ...common, '--output', 'json'])).code).toBe(1);
    expect((await cli(['sync', ...common, '--self-heal'])).code).toBe(0);
    expect(await livePassword(app)).toBe(VALUES.changed);
    await cli(['history', '--app', app, '--history', `sqlite:${historyFile}`]);
    const historyJson = await cli([
      'history',
      '--app',
      app,
      '--history',
      `sqlite:${historyFile}`,
      '--output',
      'json',
    ]);
    expect(historyJson.stdout.trim().split('\n')).toHaveLength(7);

    const printed = outputs.map((o) => `${o.stdout}\n${o.stderr}`).join('\n');
    expect(printed).toContain('creds');
    expectNoSecretIn(printed, 'CLI output');
    const raw = await openHostileStore('sqlite', historyDir);
    try {
      expectNoSecretIn(await raw.dump(), 'the CLI history file');
    } finally {
      await raw.close();
    }
  });
});
