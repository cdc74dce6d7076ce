/**
 * Released manifests of public projects (`../shared/realworld/`, byte-identical to their tags),
 * synced as released through the CLI against a whole modern cluster (controllers running), as the
 * platform identity the README recommends for add-ons: the first sync creates
 * every object in one run (custom resources with their CRDs), a plan from a fresh history finds
 * every object unchanged (no perpetual diff), a removed file is pruned, and drift is reported and
 * healed. Sets made for older servers fail before any write, naming file, object and the versions
 * the server serves.
 *
 * Each group of sets gets a control plane of its own: the sets install cluster-wide webhooks
 * (`failurePolicy: Fail`) and APIServices that would disturb the other test files, and two
 * releases of one project would own the same cluster-scoped objects.
 */
import { execFile } from 'node:child_process';
import { cp as copy, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResourceResult, SyncResult } from '../lambda/reconcile/types.ts';
import { parseManifests } from '../lambda/source/manifests.ts';
import { type ControlPlane, kubectlBinary, startControlPlane } from './support/control-plane.ts';
import { runDriftless } from './support/driftless-cli.ts';
import { kubectl } from './support/kubectl.ts';
import { REALWORLD, realworldAbsent } from './support/realworld.ts';

const exec = promisify(execFile);
const SET_TIMEOUT_MS = 600_000;

interface RealSet {
  /** Folder under realworld/. */
  set: string;
  /** `--namespace`; created beforehand when the release does not ship it (Argo CD's install). */
  namespace?: string;
  createNamespace?: boolean;
  /** The release is a Kustomize tree: this overlay, rendered with `kubectl kustomize`, is what ships. */
  kustomize?: string;
  /** The file removed to test prune (multi-file sets); single-file sets lose their first Service. */
  pruneFile?: string;
}

interface FailingSet {
  set: string;
  /** Each object the server no longer serves: `file`, `object` (`Kind name`), `served` (a hint). */
  unserved: { file: string; object: string; served: string }[];
}

let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'driftless-realworld-'));
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

/** Releases of 2021-2022, on a current server, plus the Kustomize tree of a current release. */
describe.skipIf(realworldAbsent)('2021-2022 releases on a current server', () => {
  let cp: ControlPlane;
  beforeAll(async () => {
    cp = await startControlPlane();
  });
  afterAll(async () => {
    await cp?.stop();
  });

  const failing: FailingSet[] = [
    {
      set: 'metrics-server',
      unserved: [
        {
          file: 'metrics-apiservice.yaml (document 0)',
          object: 'APIService v1beta1.metrics.k8s.io',
          served: 'the server serves apiregistration.k8s.io versions v1',
        },
      ],
    },
    {
      set: 'kube-prometheus',
      unserved: [
        {
          file: 'alertmanager-podDisruptionBudget.yaml (document 0)',
          object: 'PodDisruptionBudget alertmanager-main',
          served: 'the server serves policy versions v1',
        },
        {
          file: 'prometheus-podDisruptionBudget.yaml (document 0)',
          object: 'PodDisruptionBudget prometheus-k8s',
          served: 'the server serves policy versions v1',
        },
      ],
    },
  ];
  for (const spec of failing) {
    it(`${spec.set}: fails before any write, naming file, object and the versions served`, async () => {
      await expectRefused(cp, spec);
    });
  }

  const syncing: RealSet[] = [
    { set: 'dashboard' },
    { set: 'ingress-nginx' },
    { set: 'argo-cd', namespace: 'argocd', createNamespace: true },
    { set: 'metrics-server-v0.9.0', kustomize: 'overlays/release' },
  ];
  for (const spec of syncing) {
    it(
      `${spec.set}: syncs as released, then plans unchanged, prunes, reports and heals drift`,
      async () => {
        await expectSyncsAsReleased(cp, spec);
      },
      SET_TIMEOUT_MS,
    );
  }
});

describe.skipIf(realworldAbsent)('current releases', () => {
  let cp: ControlPlane;
  beforeAll(async () => {
    cp = await startControlPlane();
  });
  afterAll(async () => {
    await cp?.stop();
  });

  const syncing: RealSet[] = [
    { set: 'argo-cd-v3.5.1', namespace: 'argocd', createNamespace: true },
    { set: 'cert-manager-v1.19.4' },
    { set: 'ingress-nginx-controller-v1.15.1' },
    { set: 'kube-prometheus-v0.18.0', pruneFile: 'grafana-service.yaml' },
    // Last: its `Fail` webhook refuses every Namespace write outside gatekeeper-system while no
    // pod serves it, and no controller runs here.
    { set: 'gatekeeper-v3.23.0' },
  ];
  for (const spec of syncing) {
    it(
      `${spec.set}: syncs as released, then plans unchanged, prunes, reports and heals drift`,
      async () => {
        await expectSyncsAsReleased(cp, spec);
      },
      SET_TIMEOUT_MS,
    );
  }
});

/** A Git repository holding the release's files as released (or its rendered overlay). */
async function releaseRepo(spec: { set: string; kustomize?: string }): Promise<{ dir: string; git: Git }> {
  const dir = join(workDir, spec.set, 'repo');
  await mkdir(dir, { recursive: true });
  const files = join(REALWORLD, spec.set, 'files');
  if (spec.kustomize) {
    const { stdout } = await exec(kubectlBinary(), ['kustomize', join(files, spec.kustomize)], {
      maxBuffer: 64 * 1024 * 1024,
    });
    await writeFile(join(dir, 'components.yaml'), stdout);
  } else {
    await copy(files, dir, { recursive: true });
  }
  const git = gitIn(dir);
  await git('init', '--quiet', '--initial-branch=main');
  await commitAll(git, `${spec.set} as released`);
  return { dir, git };
}

type Git = (...args: string[]) => Promise<string>;

function gitIn(dir: string): Git {
  return async (...args) => (await exec('git', ['-C', dir, ...args])).stdout;
}

async function commitAll(git: Git, message: string): Promise<void> {
  await git('add', '-A');
  await git('-c', 'user.name=t', '-c', 'user.email=t@driftless.dev', 'commit', '--quiet', '-m', message);
}

/** The objects of the repository's manifests, parsed as the CLI parses them. */
async function manifestsIn(dir: string) {
  const files: { path: string; content: string }[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (!entry.isFile() || path.includes(`${join(dir, '.git')}`)) continue;
    files.push({ path: relative(dir, path), content: await readFile(path, 'utf8') });
  }
  return parseManifests(files);
}

async function cli(cp: ControlPlane, spec: RealSet | FailingSet, verb: string, ...extra: string[]) {
  const app = spec.set.replace(/\./g, '-');
  const dir = join(workDir, spec.set);
  const history = extra.includes('--fresh-history') ? join(dir, 'fresh.db') : join(dir, 'history.db');
  const args = [
    verb,
    '--app',
    app,
    '--repo',
    join(dir, 'repo'),
    // As the platform app that installs such add-ons (examples/rbac/platform.yaml), not system:masters.
    '--kubeconfig',
    cp.identities.platform.kubeconfig,
    '--history',
    `sqlite:${history}`,
    '--output',
    'json',
    ...('namespace' in spec && spec.namespace ? ['--namespace', spec.namespace] : []),
    ...extra.filter((a) => a !== '--fresh-history'),
  ];
  const run = await runDriftless(args, { DRIFTLESS_CACHE_DIR: join(dir, 'cache') });
  let result: SyncResult;
  try {
    result = JSON.parse(run.stdout) as SyncResult;
  } catch {
    throw new Error(`driftless ${verb} printed no JSON (exit ${run.code}): ${run.stderr.slice(-2000)}`);
  }
  return { code: run.code, result };
}

const id = (r: ResourceResult) => `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`;
const notes = (resources: ResourceResult[], action: string) =>
  resources.filter((r) => r.action !== action).map((r) => `${id(r)}: ${r.action} ${r.message ?? ''}`);

async function expectRefused(cp: ControlPlane, spec: FailingSet): Promise<void> {
  await releaseRepo(spec);
  const run = await cli(cp, spec, 'sync', '--prune');
  expect(run.code).toBe(2);
  expect(run.result.outcome).toBe('Failed');
  for (const u of spec.unserved) {
    expect(run.result.error).toContain(`${u.file}: ${u.object}: unknown kind`);
    expect(run.result.error).toContain(u.served);
  }
  expect(run.result.resources).toEqual([]);
  const app = spec.set.replace(/\./g, '-');
  const written = await kubectl(
    cp.kubeconfig,
    'get',
    'namespaces,clusterroles,serviceaccounts,configmaps',
    '--all-namespaces',
    '-l',
    `driftless.dev/app=${app}`,
    '-o',
    'name',
  );
  expect(written.trim()).toBe('');
}

async function expectSyncsAsReleased(cp: ControlPlane, spec: RealSet): Promise<void> {
  const started = Date.now();
  const { dir, git } = await releaseRepo(spec);
  if (spec.createNamespace && spec.namespace)
    await kubectl(cp.kubeconfig, 'create', 'namespace', spec.namespace);
  const objects = await manifestsIn(dir);

  // First sync: every object created in one run, custom resources with their CRDs.
  const first = await cli(cp, spec, 'sync', '--prune');
  expect(notes(first.result.resources, 'created'), first.result.error).toEqual([]);
  expect(first.result.resources).toHaveLength(objects.length);
  expect(first.code).toBe(0);
  const synced = Date.now();

  // No perpetual diff: a plan without any stored state dry-runs every object against the cluster.
  // Jobs with ttlSecondsAfterFinished ran, and the TTL controller removed them: without a history
  // nothing says they ran, so such a plan would create them; with the history they are unchanged.
  const ttlJobObjects = objects.filter(
    (o) =>
      o.object.kind === 'Job' &&
      (o.object.spec as { ttlSecondsAfterFinished?: number })?.ttlSecondsAfterFinished !== undefined,
  );
  const ttlJobs = new Set(
    ttlJobObjects.map(
      (o) => `Job ${o.object.metadata.namespace ?? spec.namespace}/${o.object.metadata.name}`,
    ),
  );
  // Wait until they ran and are gone: a plan racing the TTL controller sees them half-deleted.
  // (Without controllers, in the compatibility run, they never run and stay.)
  for (const o of cp.controllersMissing ? [] : ttlJobObjects) {
    const ns = o.object.metadata.namespace ?? spec.namespace ?? 'default';
    await kubectl(
      cp.kubeconfig,
      'wait',
      '--for=delete',
      `job/${o.object.metadata.name}`,
      '-n',
      ns,
      '--timeout=120s',
    );
  }
  const plan = await cli(cp, spec, 'plan', '--fresh-history');
  const finished = (n: string) => [...ttlJobs].some((job) => n === `${job}: created `);
  expect(
    notes(plan.result.resources, 'unchanged').filter((n) => !finished(n)),
    plan.result.error,
  ).toEqual([]);
  expect(plan.result.error).toBeUndefined();
  if (ttlJobs.size === 0) expect(plan.code).toBe(0);
  const stored = await cli(cp, spec, 'plan');
  expect(notes(stored.result.resources, 'unchanged'), stored.result.error).toEqual([]);
  expect(stored.code).toBe(0);
  const planned = Date.now();

  // Prune: a file (or, in a one-file release, a Service) leaves Git.
  const pruned = await removeOne(dir, spec);
  await commitAll(git, `remove ${pruned.kind} ${pruned.name}`);
  const afterPrune = await cli(cp, spec, 'sync', '--prune');
  expect(afterPrune.result.resources.filter((r) => r.action === 'pruned').map(id)).toEqual([id(pruned)]);
  expect(notes(afterPrune.result.resources, 'unchanged').filter((n) => !n.includes(' pruned '))).toEqual([]);
  expect(afterPrune.code).toBe(0);
  const kind = pruned.kind.toLowerCase();
  const args = pruned.namespace ? ['-n', pruned.namespace] : [];
  expect(await kubectl(cp.kubeconfig, 'get', kind, pruned.name, '--ignore-not-found', ...args)).toBe('');

  // Drift: someone changes a Deployment's image; plan reports it, sync --self-heal puts it back.
  const deployment = first.result.resources.find((r) => r.kind === 'Deployment');
  if (!deployment?.namespace) throw new Error(`${spec.set} has no Deployment`);
  const image = (name: string) =>
    kubectl(
      cp.kubeconfig,
      'get',
      'deployment',
      name,
      '-n',
      deployment.namespace as string,
      '-o',
      'jsonpath={.spec.template.spec.containers[0].image}',
    );
  const released = await image(deployment.name);
  const patch = JSON.stringify([
    { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'drifted:1' },
  ]);
  await kubectl(
    cp.kubeconfig,
    'patch',
    'deployment',
    deployment.name,
    '-n',
    deployment.namespace,
    '--type=json',
    '-p',
    patch,
  );
  const drift = await cli(cp, spec, 'plan');
  expect(
    drift.result.resources.filter((r) => r.action !== 'unchanged').map((r) => `${id(r)} ${r.action}`),
  ).toEqual([`${id(deployment)} drifted`]);
  expect(drift.code).toBe(1);
  const healed = await cli(cp, spec, 'sync', '--self-heal');
  expect(healed.result.resources.find((r) => id(r) === id(deployment))?.action).toBe('configured');
  expect(healed.code).toBe(0);
  expect(await image(deployment.name)).toBe(released);

  process.stderr.write(
    `realworld ${spec.set}: ${objects.length} objects; first sync ${synced - started} ms (repo included), ` +
      `fresh plan ${planned - synced} ms, prune + drift + heal ${Date.now() - planned} ms\n`,
  );
}

/** Removes the set's prune file, or the first Service document of a one-file release; returns its object. */
async function removeOne(dir: string, spec: RealSet): Promise<ResourceResult> {
  const objects = await manifestsIn(dir);
  if (spec.pruneFile) {
    const gone = objects.find((o) => o.origin.file === spec.pruneFile);
    if (!gone) throw new Error(`${spec.pruneFile} holds no object`);
    await rm(join(dir, spec.pruneFile));
    return asResult(gone.object, spec);
  }
  const service = objects.find((o) => o.object.kind === 'Service');
  if (!service) throw new Error(`${spec.set} has no Service`);
  const file = join(dir, service.origin.file);
  const documents = (await readFile(file, 'utf8')).split(/^---[ \t]*$/m);
  const index = documents.findIndex(
    (d) =>
      /^kind: Service\s*$/m.test(d) &&
      new RegExp(`^  name: ${service.object.metadata.name}\\s*$`, 'm').test(d),
  );
  if (index < 0)
    throw new Error(`cannot find Service ${service.object.metadata.name} in ${service.origin.file}`);
  documents.splice(index, 1);
  await writeFile(file, documents.join('---'));
  return asResult(service.object, spec);
}

function asResult(
  object: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } },
  spec: RealSet,
): ResourceResult {
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    name: object.metadata.name,
    namespace: object.metadata.namespace ?? spec.namespace ?? 'default',
    action: 'pruned',
  };
}
