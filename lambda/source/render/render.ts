/**
 * One render: write the commit into a throwaway folder, run `kubectl kustomize` or
 * `helm template` there, and parse what it printed with the same checks as plain files. Every
 * failure is one {@link SourceError} naming the overlay or chart (and the tool's first error
 * lines, redacted); the folder is removed whatever happens.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SourceError } from '../errors.ts';
import type { ParsedManifests } from '../manifest-cache.ts';
import type { ManifestFile, ManifestLimits } from '../manifests.ts';
import { parseRenderedManifests } from '../manifests.ts';
import { type CheckoutLimits, checkout } from './checkout.ts';
import { helmTemplateArgs, splitBySource } from './helm.ts';
import { checkKustomizations, kustomizeArgs } from './kustomize.ts';
import { runTool, ToolError } from './run-tool.ts';
import { CHART_FILE, type ClusterCapabilities, kustomizationFile, type RenderSettings } from './settings.ts';
import type { Tool } from './tools.ts';

/** Agent-wide render options (not per app). */
export interface RenderOptions {
  /** A render running longer is killed and fails the run. @default 60000 */
  timeoutMs?: number;
  /** Bounds of the checkout a renderer reads. @default {@link DEFAULT_CHECKOUT_LIMITS} */
  checkoutLimits?: CheckoutLimits;
  /** Where checkouts are written. @default the OS temp folder */
  tmpDir?: string;
}

export const DEFAULT_RENDER_TIMEOUT_MS = 60_000;

export interface RenderInput {
  renderer: 'kustomize' | 'helm';
  tool: Tool;
  gitdir: string;
  commit: string;
  cache: object;
  /** The app's folder in the repository (normalised). */
  path: string;
  /** Entry names of that folder. */
  names: string[];
  settings: RenderSettings;
  /** Release name when `helm.releaseName` is not set: the app name. */
  appName: string;
  capabilities?: ClusterCapabilities;
  limits: ManifestLimits;
  options?: RenderOptions;
}

export async function renderObjects(input: RenderInput): Promise<ParsedManifests> {
  const { renderer, path, settings } = input;
  const work = await mkdtemp(join(input.options?.tmpDir ?? tmpdir(), 'driftless-render-'));
  const dir = join(work, 'repo');
  const home = join(work, 'home');
  const timeoutMs = input.options?.timeoutMs ?? DEFAULT_RENDER_TIMEOUT_MS;
  const what =
    renderer === 'kustomize'
      ? `kustomize build ${path} (${path === '.' ? '' : `${path}/`}${kustomizationFile(input.names)})`
      : `helm template ${path} (${path === '.' ? '' : `${path}/`}${CHART_FILE})`;
  try {
    await mkdir(home);
    await checkout({
      gitdir: input.gitdir,
      commit: input.commit,
      cache: input.cache,
      dir,
      limits: input.options?.checkoutLimits,
    });
    const allowRemoteBases = renderer === 'kustomize' && (settings.kustomize?.allowRemoteBases ?? false);
    if (renderer === 'kustomize') await checkKustomizations(dir, path, allowRemoteBases);
    const args =
      renderer === 'kustomize'
        ? kustomizeArgs(path)
        : await helmTemplateArgs({
            path,
            releaseName: settings.helm?.releaseName ?? input.appName,
            namespace: settings.namespace ?? 'default',
            helm: settings.helm ?? {},
            capabilities: input.capabilities,
            home,
          });
    let output: string;
    try {
      output = await runTool({
        binary: input.tool.path,
        args,
        cwd: dir,
        home,
        timeoutMs,
        maxOutputBytes: input.limits.maxTotalBytes,
        network: allowRemoteBases,
      });
    } catch (error) {
      throw toolError(error, what, timeoutMs, input.limits.maxTotalBytes);
    }
    const label = renderer === 'kustomize' ? `kustomize build ${path}` : `helm template ${path}`;
    const files: ManifestFile[] =
      renderer === 'kustomize' ? [{ path: label, content: output }] : splitBySource(output, label);
    // The output is one stream: bound it as a whole (maxTotalBytes), not per file.
    const objects = parseRenderedManifests(files, {
      ...input.limits,
      maxFileBytes: input.limits.maxTotalBytes,
      maxFiles: Number.MAX_SAFE_INTEGER,
    });
    return { objects, files: files.length };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function toolError(error: unknown, what: string, timeoutMs: number, maxBytes: number): SourceError {
  if (!(error instanceof ToolError))
    return new SourceError(`${what}: ${(error as Error).message}`, { cause: error });
  const failure = error.failure;
  switch (failure.reason) {
    case 'timeout':
      return new SourceError(`${what}: ran past its timeout of ${timeoutMs / 1000} s and was stopped`);
    case 'output':
      return new SourceError(
        `${what}: printed more than the limit of ${maxBytes} bytes (maxTotalBytes) and was stopped`,
      );
    case 'spawn':
      return new SourceError(`${what}: cannot start the renderer: ${failure.message}`);
    case 'exit': {
      const status = failure.signal ? `killed by ${failure.signal}` : `exit code ${failure.code}`;
      const lines = failure.errorLines.length ? `: ${failure.errorLines.join(' | ')}` : '';
      return new SourceError(`${what} failed (${status})${lines}`);
    }
  }
}
