/**
 * Hostile renders, with the real `helm` of the Lambda layer package: a chart that eats memory or
 * CPU is stopped at its limit, and a chart that puts what it can read into its error message
 * gets none of it into the run record, the history, the log or the run event (and so the
 * notification, which is the event's summary). Only `driftless render` shows its user the full text.
 *
 * Matrix (case -> outcome):
 * - string doubled 30 times (a 1 GiB string) -> Failed, `memory limit of 512 MiB ... renderLimits.maxMemoryMiB`;
 *   the helm process's peak RSS (VmHWM, sampled here and read by the watchdog) under 512 + 64 MiB
 * - Kustomize overlays holding the level below twice, 10 levels of a 2 MB ConfigMap -> Failed, same message, peak < 576 MiB
 * - 10^10 empty template loop iterations, maxCpuSeconds 2 -> Failed, `CPU-time limit of 2 s ... renderLimits.maxCpuSeconds`
 * - `fail (printf "%x" (.Files.Get ...))` of a committed canary file, and the `b64enc` variant
 *   -> Failed, the encoded canary absent from everything the run left (sqlite and DynamoDB);
 *   `driftless render` prints it to its user
 * Planted everywhere: a fake AWS secret key in `process.env`, and another app's Secret value
 * beside the checkout; neither appears in anything the run left.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectCluster } from '../../lambda/cluster/target.ts';
import { logSyncRun } from '../../lambda/log.ts';
import { runEventDetail } from '../../lambda/notify/run-event.ts';
import type { RenderOptions } from '../../lambda/source/render/render.ts';
import { loadSource } from '../../lambda/source/source.ts';
import { runSync } from '../../lambda/sync.ts';
import { type GitServer, startGitServer } from '../support/git-server.ts';
import { kubectlGet } from '../support/kubectl.ts';
import {
  capturingLogger,
  driftlessCli,
  type HostileRun,
  type HostileStore,
  openHostileStore,
  type StoreKind,
} from './hostile-harness.ts';

const cp = inject('controlPlane');
const MIB = 1024 * 1024;
/** What a process may pass its memory limit by before the watchdog's kill (one 50 ms sample). */
const MARGIN_MIB = 64;

const AWS_CANARY = 'FAKECANARYAWSKEYrender0hostile0secret0value';
const OTHER_APP_SECRET = 'other-app-secret-value-render-3d9f7b';
/** The file a hostile chart commits and tries to smuggle out through its error. */
const FILE_CANARY = 'FAKECANARY-render-exfil-payload-7c1e9a4b';
const hex = Buffer.from(FILE_CANARY).toString('hex');
const b64 = Buffer.from(FILE_CANARY).toString('base64');
const NEEDLES = [AWS_CANARY, OTHER_APP_SECRET, FILE_CANARY, hex, hex.slice(20, 52), b64, b64.slice(8, 40)];

function expectNoCanaryIn(haystack: string, where: string): void {
  for (const needle of NEEDLES)
    expect(haystack.includes(needle), `${where} contains "${needle}"`).toBe(false);
}

let git: GitServer;
let workDir: string;
const savedKey = process.env.AWS_SECRET_ACCESS_KEY;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-hostile-render-'));
  git = await startGitServer();
  process.env.AWS_SECRET_ACCESS_KEY = AWS_CANARY;
  // Another app's Secret, where a render escaping its checkout would look: beside it in tmp.
  await writeFile(join(tmpdir(), 'driftless-other-app-secret.txt'), OTHER_APP_SECRET);
});

afterAll(async () => {
  if (savedKey === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
  else process.env.AWS_SECRET_ACCESS_KEY = savedKey;
  await rm(join(tmpdir(), 'driftless-other-app-secret.txt'), { force: true });
  await git?.stop();
  await rm(workDir, { recursive: true, force: true });
});

/** A chart with a harmless ConfigMap (which must never be applied) and `template`. */
function chart(app: string, template: string): Record<string, string> {
  return {
    'chart/Chart.yaml': `apiVersion: v2\nname: ${app}\nversion: 0.1.0\n`,
    'chart/files/canary.txt': FILE_CANARY,
    'chart/templates/good.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${app}-good}\ndata: {a: b}\n`,
    'chart/templates/hostile.yaml': `${template}\n`,
  };
}

/** One sync as the Lambda runs it, with these render options (the deploy config's `renderLimits`). */
async function syncRepo(
  app: string,
  repo: string,
  store: HostileStore,
  render?: RenderOptions,
  source: { path: string; mode: 'helm' | 'kustomize' } = { path: 'chart', mode: 'helm' },
): Promise<HostileRun> {
  const logs = capturingLogger();
  const run = await runSync(
    {
      app,
      source: { repo, path: source.path, app, render: { mode: source.mode, namespace: app } },
      target: { type: 'kubeconfig', kubeconfig: cp.kubeconfig },
      namespace: app,
      prune: true,
      trigger: 'test',
    },
    {
      store: store.store,
      logger: logs,
      loadSource: (settings, context) =>
        loadSource(settings, { cacheDir: join(workDir, 'git'), logger: logs, render, ...context }),
      connect: (target) => connectCluster(target),
    },
  );
  logSyncRun(logs, run);
  return { run, logs };
}

/** Polls the VmHWM (peak RSS) of every `helm` process whose arguments hold `marker`. */
function samplePeak(marker: string): { stop: () => number } {
  let peak = 0;
  const timer = setInterval(() => {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (!readFileSync(`/proc/${entry}/cmdline`, 'latin1').includes(marker)) continue;
        const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${entry}/status`, 'latin1'));
        if (hwm) peak = Math.max(peak, Number(hwm[1]) * 1024);
      } catch {
        // Gone.
      }
    }
  }, 10);
  return {
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}

describe('a renderer that eats memory or CPU', () => {
  let history: HostileStore;
  beforeAll(async () => {
    history = await openHostileStore('sqlite', await mkdtemp(join(workDir, 'limits-')));
  });
  afterAll(() => history?.close());

  it('stops a Helm template that doubles a string to 1 GiB at the 512 MiB default, before any write', async () => {
    const app = 'render-memory-bomb';
    const repo = await git.createRepo(app);
    await repo.commit(
      chart(app, '{{ $s := "x" }}{{ range until 30 }}{{ $s = print $s $s }}{{ end }}{{ $s }}'),
    );
    const sampler = samplePeak(`template\0${app}\0`);
    const { run, logs } = await syncRepo(app, repo.url, history);
    const sampledPeak = sampler.stop();

    expect(run.record.outcome).toBe('Failed');
    expect(run.record.error).toMatch(
      /helm template chart \(chart\/Chart\.yaml\): used more than its memory limit of 512 MiB \(peak \d+ MiB\) and was stopped; raise renderLimits\.maxMemoryMiB/,
    );
    const reportedPeak = Number(/peak (\d+) MiB/.exec(run.record.error ?? '')?.[1]);
    // The sampler saw the process grow near the limit, and neither it nor the watchdog saw it far past.
    expect(sampledPeak).toBeGreaterThan(400 * MIB);
    expect(sampledPeak).toBeLessThan((512 + MARGIN_MIB) * MIB);
    expect(reportedPeak).toBeGreaterThanOrEqual(512);
    expect(reportedPeak).toBeLessThan(512 + MARGIN_MIB);
    console.info(
      `memory bomb: peak sampled ${Math.round(sampledPeak / MIB)} MiB, reported ${reportedPeak} MiB`,
    );
    expect(await kubectlGet(cp.kubeconfig, 'configmap', `${app}-good`, app)).toBeUndefined();
    expect(logs.text()).toContain('renderLimits.maxMemoryMiB');
    // This process lives on, well below what the bomb would have taken.
    expect(process.memoryUsage().rss).toBeLessThan(1024 * MIB);
  });

  it('stops a Kustomize overlay tree that doubles a 2 MB ConfigMap ten times at its memory limit', async () => {
    const app = 'render-kustomize-bomb';
    const repo = await git.createRepo(app);
    const files: Record<string, string> = {
      'l0/kustomization.yaml': 'resources: [cm.yaml]\n',
      'l0/cm.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata:\n  x: "${'y'.repeat(2_000_000)}"\n`,
    };
    // Each level holds the one below twice (prefixes a- and b-): 2^10 copies of 2 MB.
    for (let level = 1; level <= 10; level++) {
      files[`l${level}/kustomization.yaml`] = 'resources: [a, b]\n';
      for (const side of ['a', 'b'])
        files[`l${level}/${side}/kustomization.yaml`] =
          `namePrefix: ${side}-\nresources: [../../l${level - 1}]\n`;
    }
    await repo.commit(files);
    const { run } = await syncRepo(app, repo.url, history, undefined, { path: 'l10', mode: 'kustomize' });

    expect(run.record.outcome).toBe('Failed');
    expect(run.record.error).toMatch(
      /kustomize build l10 \(l10\/kustomization\.yaml\): used more than its memory limit of 512 MiB \(peak (\d+) MiB\) and was stopped; raise renderLimits\.maxMemoryMiB/,
    );
    expect(Number(/peak (\d+) MiB/.exec(run.record.error ?? '')?.[1])).toBeLessThan(512 + MARGIN_MIB);
  });

  it('stops a Helm template that loops 10^10 times at its CPU-time limit (maxCpuSeconds: 2)', async () => {
    const app = 'render-cpu-bomb';
    const repo = await git.createRepo(app);
    await repo.commit(chart(app, '{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}'));
    const { run } = await syncRepo(app, repo.url, history, { maxCpuSeconds: 2, timeoutMs: 120_000 });

    expect(run.record.outcome).toBe('Failed');
    expect(run.record.error).toMatch(
      /helm template chart \(chart\/Chart\.yaml\): used more than its CPU-time limit of 2 s and was stopped; raise renderLimits\.maxCpuSeconds/,
    );
    expect(await kubectlGet(cp.kubeconfig, 'configmap', `${app}-good`, app)).toBeUndefined();
  });
});

const EXFIL: { name: string; template: string; encoded: string }[] = [
  { name: 'hex', template: '{{ fail (printf "%x" (.Files.Get "files/canary.txt")) }}', encoded: hex },
  { name: 'base64', template: '{{ fail (.Files.Get "files/canary.txt" | b64enc) }}', encoded: b64 },
];

describe.each<StoreKind>(['sqlite', 'dynamodb'])('a chart that puts a file into its error (%s)', (kind) => {
  let history: HostileStore;
  beforeAll(async () => {
    history = await openHostileStore(kind, await mkdtemp(join(workDir, `exfil-${kind}-`)));
  });
  afterAll(() => history?.close());

  it.each(EXFIL)(
    'fails without the $name payload in the record, history, log or run event',
    async ({ name, template, encoded }) => {
      const app = `render-exfil-${name}-${kind}`;
      const repo = await git.createRepo(app);
      await repo.commit(chart(app, template));
      const { run, logs } = await syncRepo(app, repo.url, history);

      expect(run.record.outcome).toBe('Failed');
      expect(run.record.error).toMatch(
        /^render: helm template chart \(chart\/Chart\.yaml\) failed \(exit code 1\): Error: execution error at \(.*hostile\.yaml:1:3\): \*\*\*/,
      );
      const event = runEventDetail(run.record, undefined);
      expect(event.summary).toContain('***');
      expectNoCanaryIn(JSON.stringify(run.record), 'the run record');
      expectNoCanaryIn(await history.dump(), `the ${kind} history`);
      expectNoCanaryIn(logs.text(), 'the log');
      expectNoCanaryIn(JSON.stringify(event), 'the run event (and its summary, the notification)');
      expect(logs.text()).not.toContain(encoded.slice(0, 32));
      expect(await kubectlGet(cp.kubeconfig, 'configmap', `${app}-good`, app)).toBeUndefined();
    },
  );
});

describe('driftless render', () => {
  it.each(EXFIL)(
    'shows its user the full $name error text the run record masks',
    async ({ name, template, encoded }) => {
      const app = `render-cli-${name}`;
      const repo = await git.createRepo(app);
      await repo.commit(chart(app, template));
      const cli = await driftlessCli(
        ['render', '--repo', repo.url, '--path', 'chart', '--render', 'helm', '--offline'],
        {
          DRIFTLESS_CACHE_DIR: join(workDir, `cli-${name}`),
        },
      );

      expect(cli.code).not.toBe(0);
      expect(cli.stderr).toContain('--- renderer output (shown here only');
      expect(cli.stderr).toContain(encoded);
      expect(cli.stderr).toMatch(
        /driftless: error: .*failed \(exit code 1\): Error: execution error at .*: \*\*\*/,
      );
      expect(cli.stdout).toBe('');
      for (const needle of [AWS_CANARY, OTHER_APP_SECRET])
        expect(cli.stderr + cli.stdout).not.toContain(needle);
    },
  );
});
