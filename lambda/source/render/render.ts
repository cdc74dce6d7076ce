/**
 * One render: write the commit into a throwaway folder, run `kubectl kustomize` or
 * `helm template` there, and parse what it printed with the same checks as plain files. Every
 * failure is one {@link RenderError} naming the overlay or chart, the limit it passed and the
 * setting that raises it, or the tool's first error lines, redacted (see `error-text.ts`); the
 * folder is removed whatever happens.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SourceError } from '../errors.ts';
import type { ParsedManifests } from '../manifest-cache.ts';
import type { ManifestFile, ManifestLimits } from '../manifests.ts';
import { parseRenderedManifests } from '../manifests.ts';
import { type CheckoutLimits, checkout } from './checkout.ts';
import { errorLines } from './error-text.ts';
import { helmTemplateArgs, markChartCrds, splitBySource } from './helm.ts';
import { checkKustomizations, kustomizeArgs } from './kustomize.ts';
import { RenderError } from './render-error.ts';
import { runTool, ToolError } from './run-tool.ts';
import { CHART_FILE, type ClusterCapabilities, kustomizationFile, type RenderSettings } from './settings.ts';
import type { Tool } from './tools.ts';

export { RenderError, renderErrorDetail } from './render-error.ts';

/**
 * Render options of the shell (the deploy config's `renderLimits`, agent-wide or per app; never
 * from the repository).
 */
export interface RenderOptions {
  /** A render running longer is killed and fails the run. @default 60000 */
  timeoutMs?: number;
  /** Resident memory of one renderer (its process group), in MiB; past it the render is killed. @default 512 */
  maxMemoryMiB?: number;
  /** CPU time (user + system) of one renderer, in seconds; past it the render is killed. @default 30 */
  maxCpuSeconds?: number;
  /** Bounds of the checkout a renderer reads. @default {@link DEFAULT_CHECKOUT_LIMITS} */
  checkoutLimits?: CheckoutLimits;
  /** Where checkouts are written. @default the OS temp folder */
  tmpDir?: string;
}

export const DEFAULT_RENDER_TIMEOUT_MS = 60_000;
export const DEFAULT_RENDER_MAX_MEMORY_MIB = 512;
export const DEFAULT_RENDER_MAX_CPU_SECONDS = 30;

/** The deploy-config keys that raise each bound, named in the messages. */
const SETTING = {
  timeout: 'renderLimits.timeoutSeconds',
  memory: 'renderLimits.maxMemoryMiB',
  cpu: 'renderLimits.maxCpuSeconds',
};

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
  const limits: Limits = {
    timeoutMs: input.options?.timeoutMs ?? DEFAULT_RENDER_TIMEOUT_MS,
    maxMemoryMiB: input.options?.maxMemoryMiB ?? DEFAULT_RENDER_MAX_MEMORY_MIB,
    maxCpuSeconds: input.options?.maxCpuSeconds ?? DEFAULT_RENDER_MAX_CPU_SECONDS,
    maxOutputBytes: input.limits.maxTotalBytes,
  };
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
        timeoutMs: limits.timeoutMs,
        maxMemoryBytes: limits.maxMemoryMiB * MIB,
        maxCpuSeconds: limits.maxCpuSeconds,
        maxOutputBytes: limits.maxOutputBytes,
        network: allowRemoteBases,
      });
    } catch (error) {
      throw toolError(error, what, limits, renderer === 'helm' ? helmHints(path) : []);
    }
    const label = renderer === 'kustomize' ? `kustomize build ${path}` : `helm template ${path}`;
    const files: ManifestFile[] =
      renderer === 'kustomize' ? [{ path: label, content: output }] : splitBySource(output, label);
    // The output is one stream: bound it as a whole (maxTotalBytes), not per file.
    const objects = maskedParseErrors(() =>
      parseRenderedManifests(files, {
        ...input.limits,
        maxFileBytes: input.limits.maxTotalBytes,
        maxFiles: Number.MAX_SAFE_INTEGER,
      }),
    );
    return { objects: renderer === 'helm' ? markChartCrds(objects, label) : objects, files: files.length };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const MIB = 1024 * 1024;

interface Limits {
  timeoutMs: number;
  maxMemoryMiB: number;
  maxCpuSeconds: number;
  maxOutputBytes: number;
}

/**
 * A YAML error quotes the rendered line it choked on, which a template chose: the message keeps
 * its first lines, masked, like a renderer's own error.
 */
function maskedParseErrors<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof SourceError)) throw error;
    throw new RenderError(errorLines(error.message).join(' | '), error.message);
  }
}

/** What to do about a Helm error Helm's own advice does not fit: a chart's subcharts are not in Git. */
function helmHints(path: string): ToolHint[] {
  const charts = path === '.' ? 'charts/' : `${path}/charts/`;
  return [
    {
      when: /helm dependency build|missing in charts\/ directory/,
      say: `the chart's dependencies are not in the repository (driftless runs no helm dependency build): vendor them (run helm dependency build and commit ${charts}), or install the chart from its repository by name with helm.chart, helm.version and helm.repo`,
    },
  ];
}

interface ToolHint {
  /** Matched against the tool's error output. */
  when: RegExp;
  say: string;
}

function toolError(error: unknown, what: string, limits: Limits, hints: ToolHint[] = []): RenderError {
  if (!(error instanceof ToolError)) return new RenderError(`${what}: ${(error as Error).message}`);
  const failure = error.failure;
  const detail = error.stderr;
  switch (failure.reason) {
    case 'timeout':
      return new RenderError(
        `${what}: ran past its timeout of ${limits.timeoutMs / 1000} s and was stopped; raise ${SETTING.timeout} if it needs longer`,
        detail,
      );
    case 'memory':
      return new RenderError(
        `${what}: used more than its memory limit of ${limits.maxMemoryMiB} MiB (peak ${Math.round(failure.peakBytes / MIB)} MiB) and was stopped; raise ${SETTING.memory} if it needs more`,
        detail,
      );
    case 'cpu':
      return new RenderError(
        `${what}: used more than its CPU-time limit of ${limits.maxCpuSeconds} s and was stopped; raise ${SETTING.cpu} if it needs more`,
        detail,
      );
    case 'output':
      return new RenderError(
        `${what}: printed more than the limit of ${limits.maxOutputBytes} bytes (maxTotalBytes) and was stopped`,
        detail,
      );
    case 'spawn':
      return new RenderError(`${what}: cannot start the renderer: ${failure.message}`);
    case 'exit': {
      const status = failure.signal ? `killed by ${failure.signal}` : `exit code ${failure.code}`;
      const lines = failure.errorLines.length ? `: ${failure.errorLines.join(' | ')}` : '';
      const hint = hints.find((h) => h.when.test(detail))?.say;
      return new RenderError(`${what} failed (${status})${lines}${hint ? `; ${hint}` : ''}`, detail);
    }
  }
}
