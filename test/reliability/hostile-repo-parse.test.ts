/**
 * Hostile repositories against the parsers: Kustomize remote references hidden behind a committed
 * folder of the same name, and plain manifests that would take gigabytes to parse. The real
 * `kubectl kustomize` of the Lambda layer package, the local API server, the Git server and the
 * embedded history.
 *
 * Matrix (case -> outcome):
 * - `resources: [http://127.0.0.1:PORT/x.yaml]` with a folder `http:` holding `127.0.0.1:PORT/x.yaml`
 *   -> Failed naming the kustomization file, the field and the entry; the loopback listener is
 *   never reached; the same with kustomize.allowRemoteBases (this machine is never a remote)
 * - the same for `ssh://git@127.0.0.1:PORT/org/repo`, `git@127.0.0.1:org/repo`, a
 *   configMapGenerator file, a transformer's `path`, `https://github.com/...//base` (refused
 *   without the opt-in, even though the folder exists) and `file://` (refused with the opt-in)
 * - plain file: a flow sequence of 2 million items (4 MB) -> Failed on maxDocumentBytes; of 1.4
 *   million (2.8 MB) -> Failed on maxNodes; 1.5 million nested lists -> maxNodes; billion laughs
 *   -> maxAliasCount. The parse's peak RSS, measured in a child process, stays under 300 MB
 *   (it was 2.1 GB before the bound).
 * Planted everywhere: a fake AWS secret key in `process.env` and the listener's answer; neither
 * appears in anything the run left.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SourceSettings } from '../../lambda/source/source.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectl, kubectlGet } from '../support/kubectl.ts';
import {
  type HostileRun,
  type HostileStore,
  hostileSync,
  openHostileStore,
  runsOf,
} from './hostile-harness.ts';

const exec = promisify(execFile);
const cp = inject('controlPlane');
const AWS_CANARY = 'FAKECANARYAWSKEYrepo0parse0hostile0k3y';
/** What the loopback listener would answer: it must never reach the run's record or logs. */
const LISTENER_CANARY = 'FAKECANARY-loopback-listener-answer-5e8d';
const MANIFESTS = resolve(import.meta.dirname, '..', '..', 'lambda', 'source', 'manifests.ts');

let git: GitServer;
let history: HostileStore;
let workDir: string;
const savedKey = process.env.AWS_SECRET_ACCESS_KEY;

/** A TCP listener on loopback that counts connections and answers like a web server. */
interface Listener {
  port: number;
  connections: number;
  server: Server;
}

async function listen(port = 0): Promise<Listener> {
  const listener: Listener = { port, connections: 0, server: createServer() };
  listener.server.on('connection', (socket) => {
    listener.connections += 1;
    const body = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fetched}\ndata: {v: ${LISTENER_CANARY}}\n`;
    socket.end(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
  });
  await new Promise<void>((done, fail) => {
    listener.server.once('error', fail);
    listener.server.listen(port, '127.0.0.1', () => done());
  });
  const address = listener.server.address();
  listener.port = typeof address === 'object' && address ? address.port : port;
  return listener;
}

let web: Listener;
/** `git@127.0.0.1:org/repo` can name no port: ssh goes to 22. Listened on when this user may. */
let ssh22: Listener | undefined;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-hostile-parse-'));
  git = await startGitServer();
  history = await openHostileStore('sqlite', workDir);
  process.env.AWS_SECRET_ACCESS_KEY = AWS_CANARY;
  web = await listen();
  ssh22 = await listen(22).catch(() => undefined);
});

afterAll(async () => {
  if (savedKey === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
  else process.env.AWS_SECRET_ACCESS_KEY = savedKey;
  for (const listener of [web, ssh22]) listener?.server.close();
  await history?.close();
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

let counter = 0;
function sync(app: string, source: SourceSettings): Promise<HostileRun> {
  return hostileSync(
    { app, source, namespace: app },
    { store: history.store, cacheDir: join(workDir, 'cache'), kubeconfig: cp.kubeconfig },
  );
}

/** Nothing the run left holds a canary. */
async function expectNoCanary(hostile: HostileRun): Promise<void> {
  const left = [JSON.stringify(hostile.run), hostile.logs.text(), await history.dump()].join('\n');
  for (const canary of [AWS_CANARY, LISTENER_CANARY]) expect(left.includes(canary), canary).toBe(false);
}

const configMap = (name: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}}\ndata: {a: b}\n`;

describe('a Kustomize remote reference behind a committed folder of the same name', () => {
  const cases: [string, () => Record<string, string>, () => string, boolean, RegExp][] = [
    [
      'an http:// resource',
      () => ({ [`app/http:/127.0.0.1:${web.port}/x.yaml`]: configMap('decoy') }),
      () => `resources: [good.yaml, "http://127.0.0.1:${web.port}/x.yaml"]`,
      false,
      /resources entry "http:\/\/127\.0\.0\.1:\d+\/x\.yaml" points at this machine \(127\.0\.0\.1\)/,
    ],
    [
      'an ssh:// base',
      () => ({ [`app/ssh:/git@127.0.0.1:${web.port}/org/repo/kustomization.yaml`]: 'resources: []\n' }),
      () => `resources: [good.yaml, "ssh://git@127.0.0.1:${web.port}/org/repo"]`,
      false,
      // The user part of a URL is redacted in run records, as a credential would be.
      /resources entry "ssh:\/\/\*\*\*@127\.0\.0\.1:\d+\/org\/repo" points at this machine/,
    ],
    [
      'a git@host: base',
      () => ({ 'app/git@127.0.0.1:org/repo/kustomization.yaml': 'resources: []\n' }),
      () => 'resources: [good.yaml, "git@127.0.0.1:org/repo"]',
      false,
      /resources entry "git@127\.0\.0\.1:org\/repo" points at this machine/,
    ],
    [
      'a configMapGenerator file',
      () => ({ [`app/http:/127.0.0.1:${web.port}/data`]: 'decoy' }),
      () =>
        `resources: [good.yaml]\nconfigMapGenerator:\n- name: gen\n  files: ["http://127.0.0.1:${web.port}/data"]`,
      false,
      /configMapGenerator entry "http:\/\/127\.0\.0\.1:\d+\/data" points at this machine/,
    ],
    [
      "a transformer file's path",
      () => ({
        'app/patch.yaml': `apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: http://127.0.0.1:${web.port}/p\n`,
        [`app/http:/127.0.0.1:${web.port}/p`]: configMap('good'),
      }),
      () => 'resources: [good.yaml]\ntransformers: [patch.yaml]',
      true,
      /^fetch source: app\/patch\.yaml \(a transformers entry of app\/kustomization\.yaml\): "http:\/\/127\.0\.0\.1:\d+\/p" points at this machine/,
    ],
    [
      'a GitHub base',
      () => ({ 'app/https:/github.com/org/repo/base/kustomization.yaml': 'resources: []\n' }),
      () => 'resources: [good.yaml, "https://github.com/org/repo//base?ref=v1"]',
      false,
      /resources entry "https:\/\/github\.com\/org\/repo\/\/base\?ref=v1" is a remote base \(Kustomize fetches it whatever the repository holds at that path\).*kustomize\.allowRemoteBases: true/,
    ],
    [
      'a file:// repository, even with allowRemoteBases',
      () => ({ 'app/file:/tmp/org/repo/kustomization.yaml': 'resources: []\n' }),
      () => 'resources: [good.yaml, "file:///tmp/org/repo"]',
      true,
      /resources entry "file:\/\/\/tmp\/org\/repo" is a file:\/\/ repository, which reads the files of the machine/,
    ],
  ];

  it.each(cases)(
    '%s fails the run naming the file and entry, and reaches nothing',
    async (_case, decoy, entries, allow, error) => {
      counter += 1;
      const app = `hp-kz-${counter}`;
      await kubectl(cp.kubeconfig, 'create', 'namespace', app);
      const repo = await git.createRepo(app);
      const revision = await repo.commit({
        'app/kustomization.yaml': `${entries()}\n`,
        'app/good.yaml': configMap('good'),
        ...decoy(),
      });
      const before = { web: web.connections, ssh: ssh22?.connections ?? 0 };
      const settings = { repo: repo.url, path: 'app', render: { kustomize: { allowRemoteBases: allow } } };
      const hostile = await sync(app, settings);

      const { record } = hostile.run;
      expect(record).toMatchObject({ outcome: 'Failed', revision, resources: [] });
      expect(record.error).toMatch(error);
      expect(record.error).toContain(
        _case.includes('transformer') ? 'app/patch.yaml' : 'app/kustomization.yaml',
      );
      expect(web.connections - before.web, 'loopback listener reached').toBe(0);
      expect((ssh22?.connections ?? 0) - before.ssh, 'port 22 reached').toBe(0);
      expect(await kubectlGet(cp.kubeconfig, 'configmap', 'good', app)).toBeUndefined();
      expect((await runsOf(history.store, app)).map((run) => run.outcome)).toEqual(['Failed']);
      await expectNoCanary(hostile);

      if (!allow && !_case.includes('GitHub')) {
        // The opt-in lets remote bases through, never this machine.
        const opted = await sync(app, { ...settings, render: { kustomize: { allowRemoteBases: true } } });
        expect(opted.run.record.outcome).toBe('Failed');
        expect(opted.run.record.error).toMatch(/points at this machine/);
        expect(web.connections - before.web, 'loopback listener reached with the opt-in').toBe(0);
        await expectNoCanary(opted);
      }
    },
  );
});

/** Peak RSS (MB) of a child process that parses `file` as a plain manifest, and what it said. */
async function parseInChild(file: string): Promise<{ peakMb: number; message: string }> {
  const script = `
    import { readFileSync } from 'node:fs';
    import { parseManifests } from ${JSON.stringify(MANIFESTS)};
    let message = 'parsed';
    try { parseManifests([{ path: 'bomb.yaml', content: readFileSync(${JSON.stringify(file)}) }]); }
    catch (error) { message = error.message; }
    console.log(JSON.stringify({ peakMb: Math.round(process.resourceUsage().maxRSS / 1024), message }));`;
  const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script], {
    maxBuffer: 1024 * 1024,
    timeout: 120_000,
  });
  return JSON.parse(stdout);
}

describe('a plain manifest that would take gigabytes to parse', () => {
  const billionLaughs = (): string => {
    const lines = ['apiVersion: v1', 'kind: ConfigMap', 'metadata: {name: lol}', 'a0: &a0 [lol, lol, lol]'];
    for (let level = 1; level <= 9; level++)
      lines.push(
        `a${level}: &a${level} [${Array(10)
          .fill(`*a${level - 1}`)
          .join(', ')}]`,
      );
    return `${lines.join('\n')}\ndata: {text: *a9}\n`;
  };
  const cases: [string, () => string, RegExp][] = [
    [
      'a 4 MB flow sequence of 2 million items',
      () => `[${Array(2_000_000).fill('0').join(',')}]\n`,
      /^fetch source: bomb\.yaml document 0 \(line 1\): 4000002 bytes, more than the limit of 3145728 bytes per document \(maxDocumentBytes\)$/,
    ],
    [
      'a 2.8 MB flow sequence of 1.4 million items',
      () => `[${Array(1_400_000).fill('0').join(',')}]\n`,
      /^fetch source: bomb\.yaml document 0 \(line 1\): more than the limit of 200000 YAML nodes per document \(maxNodes\); split it into smaller objects$/,
    ],
    [
      '1.5 million nested lists',
      () => `${'['.repeat(1_500_000)}${']'.repeat(1_500_000)}\n`,
      /^fetch source: bomb\.yaml document 0 \(line 1\): more than the limit of 200000 YAML nodes per document \(maxNodes\)/,
    ],
    [
      'a billion-laughs alias bomb',
      billionLaughs,
      /^fetch source: bomb\.yaml document 0 \(line 1\): YAML aliases expand too much \(more than 100 alias resolutions, maxAliasCount\)$/,
    ],
  ];

  it.each(cases)('%s fails the run naming the file, in bounded memory', async (_case, content, error) => {
    counter += 1;
    const app = `hp-plain-${counter}`;
    const repo = await git.createRepo(app);
    const text = content();
    await kubectl(cp.kubeconfig, 'create', 'namespace', app);
    const revision = await repo.commit({ 'bomb.yaml': text, 'good.yaml': configMap('good') });
    const hostile = await sync(app, { repo: repo.url, render: { mode: 'plain' } });

    expect(hostile.run.record).toMatchObject({ outcome: 'Failed', revision, resources: [] });
    expect(hostile.run.record.error).toMatch(error);
    expect(await kubectlGet(cp.kubeconfig, 'configmap', 'good', app)).toBeUndefined();
    await expectNoCanary(hostile);

    const file = join(workDir, `bomb-${counter}.yaml`);
    await writeFile(file, text);
    const child = await parseInChild(file);
    expect(`fetch source: ${child.message}`).toMatch(error);
    expect(child.peakMb, 'peak RSS of the parse (MB)').toBeLessThan(300);
    console.info(`[hostile] ${_case}: refused; parse peak RSS ${child.peakMb} MB`);
  });
});
