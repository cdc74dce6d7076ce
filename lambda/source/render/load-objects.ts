/**
 * The objects of one commit at an app's path: plain manifest files, or what Kustomize or Helm
 * render from them, cached by commit, path and everything the output depends on (render
 * settings, the tool's version, the cluster's capabilities for Helm). A set holding a Secret is
 * never cached, and neither is a render that may fetch remote bases (it is not pinned by the commit).
 */
import { createHmac } from 'node:crypto';
import { SourceError } from '../errors.ts';
import { cachedManifests, type ManifestCacheScope, type ParsedManifests } from '../manifest-cache.ts';
import { type ManifestLimits, parseManifests } from '../manifests.ts';
import { listFolder, readManifestFiles } from '../tree.ts';
import { type RenderOptions, renderObjects } from './render.ts';
import { RenderError } from './render-error.ts';
import {
  CHART_FILE,
  type ClusterCapabilities,
  chooseRenderer,
  KUSTOMIZATION_FILES,
  type Renderer,
  type RenderSettings,
} from './settings.ts';
import { locateTool } from './tools.ts';

export interface LoadObjectsInput {
  /** The app's folder of the cache, and the secret its entries are sealed with. */
  manifestCache: ManifestCacheScope;
  gitdir: string;
  commit: string;
  /** Normalised path inside the repository. */
  path: string;
  /** For messages (credentials stripped). */
  repo: string;
  cache: object;
  limits: ManifestLimits;
  render?: RenderSettings;
  /** Release name when `helm.releaseName` is not set. */
  appName?: string;
  renderOptions?: RenderOptions;
  /** The live cluster's version and API versions, asked only for Helm charts. */
  capabilities?: () => Promise<ClusterCapabilities>;
}

/** Throws only {@link SourceError}, tagged with the commit. */
export interface LoadedObjects extends ParsedManifests {
  cached: boolean;
  /** What made the objects: plain files, Kustomize or Helm. */
  renderer: Renderer;
  /**
   * Keyed digest of everything a render's output depends on besides the commit (tool, chart
   * settings, values, release, namespace, capabilities). The same commit and inputs may still
   * render other bodies (`genCA`, `randAlphaNum`): the engine then keeps what it applied.
   * Absent for plain manifests and for renders the commit does not pin (remote bases).
   */
  renderInputs?: string;
}

export async function loadObjects(input: LoadObjectsInput): Promise<LoadedObjects> {
  try {
    return await load(input);
  } catch (error) {
    if (error instanceof SourceError) error.revision ??= input.commit;
    throw error;
  }
}

async function load(input: LoadObjectsInput): Promise<LoadedObjects> {
  const { manifestCache, gitdir, commit, path, repo, cache, limits } = input;
  const settings = input.render ?? {};
  const mode = settings.mode ?? 'auto';
  const names = mode === 'plain' ? undefined : await listFolder({ gitdir, commit, path, repo, cache });
  const renderer = chooseRenderer(mode, path, names);
  if (renderer === 'plain') {
    const parsed = await cachedManifests(manifestCache, { commit, path, limits }, async () => {
      const files = await readManifestFiles({ gitdir, commit, path, limits, repo, cache });
      try {
        return { objects: parseManifests(files, limits), files: files.length };
      } catch (error) {
        throw withRenderHint(error);
      }
    });
    return { ...parsed, renderer };
  }
  const tool = await locateTool(renderer === 'kustomize' ? 'kubectl' : 'helm').catch((error: Error) => {
    throw new RenderError(error.message, undefined, { cause: error });
  });
  const capabilities = renderer === 'helm' ? await clusterCapabilities(input, path) : undefined;
  const render = () =>
    renderObjects({
      renderer,
      tool,
      gitdir,
      commit,
      cache,
      path,
      names: names ?? [],
      settings,
      appName: input.appName ?? DEFAULT_RELEASE,
      capabilities,
      limits,
      options: input.renderOptions,
    });
  // Remote bases are not pinned by the commit: such a render has no stable inputs.
  if (renderer === 'kustomize' && settings.kustomize?.allowRemoteBases)
    return { ...(await render()), cached: false, renderer };
  const key = {
    renderer,
    tool: tool.version,
    ...(renderer === 'helm'
      ? {
          namespace: settings.namespace ?? 'default',
          releaseName: settings.helm?.releaseName ?? input.appName ?? DEFAULT_RELEASE,
          valuesFiles: settings.helm?.valuesFiles ?? [],
          values: settings.helm?.values ?? {},
          capabilities: capabilities ?? null,
        }
      : {}),
  };
  return {
    ...(await cachedManifests(manifestCache, { commit, path, limits, render: key }, render)),
    renderInputs: renderInputsDigest(manifestCache.key, path, key),
    renderer,
  };
}

/** Helm's release name when neither `helm.releaseName` nor an app name is given (the CLI's `render`). */
const DEFAULT_RELEASE = 'release';

/** The cluster's capabilities for a chart; a cluster that cannot answer fails the load, saying why. */
async function clusterCapabilities(
  input: LoadObjectsInput,
  path: string,
): Promise<ClusterCapabilities | undefined> {
  try {
    return await input.capabilities?.();
  } catch (error) {
    throw new RenderError(
      `helm template ${path}: cannot read the cluster's version and API versions for .Capabilities: ${(error as Error).message}`,
      undefined,
      { cause: error },
    );
  }
}

/** A Kustomize or Helm file read as a plain manifest: say what it is and how to render it. */
function withRenderHint(error: unknown): unknown {
  if (!(error instanceof SourceError)) return error;
  const file = /^(\S+) document \d+/.exec(error.message)?.[1] ?? '';
  const name = file.split('/').pop() ?? '';
  if ((KUSTOMIZATION_FILES as readonly string[]).includes(name))
    error.message += ' (a Kustomize file: point path at the overlay, or set render: kustomize)';
  else if (name === CHART_FILE)
    error.message += ' (a Helm chart file: point path at the chart folder, or set render: helm)';
  return error;
}

/** HMAC with the cache's secret: values may hold secrets, and the digest is stored with the app's state. */
function renderInputsDigest(secret: Buffer, path: string, key: object): string {
  return `hmac-sha256:${createHmac('sha256', secret)
    .update(JSON.stringify([path, key]))
    .digest('hex')}`;
}
