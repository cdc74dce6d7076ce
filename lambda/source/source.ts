/**
 * The source stage: an app's source settings in, `{ revision, objects }` out, or one
 * {@link SourceError} that says what to fix. Nothing partial is ever returned: any fetch or
 * manifest problem fails the whole load, so nothing gets applied or pruned from half a revision.
 */
import { rm } from 'node:fs/promises';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { HttpClient } from 'isomorphic-git';
import type { DesiredObject } from '../reconcile/types.ts';
import {
  cacheEntry,
  DEFAULT_MAX_CACHE_BYTES,
  enforceCacheBound,
  openAppCache,
  touchEntry,
  withEntryLock,
} from './cache.ts';
import { type CacheKeySource, type CachePartition, resolveCacheKey } from './cache-key.ts';
import { resolveCredentials, scrubSecrets, splitUrlCredentials } from './credentials.ts';
import { redactUrl, SourceError } from './errors.ts';
import { credentialsSetting, isHttpError, toSourceError } from './fetch-errors.ts';
import { openSealedStore, sealStore } from './git-seal.ts';
import { createTransport } from './http-transport.ts';
import { resolveLocalRevision } from './local.ts';
import type { ManifestCacheScope } from './manifest-cache.ts';
import { type ManifestLimits, manifestLimits } from './manifests.ts';
import { fetchRevision } from './remote.ts';
import { loadObjects } from './render/load-objects.ts';
import type { RenderOptions } from './render/render.ts';
import type { ClusterCapabilities, Renderer, RenderSettings } from './render/settings.ts';
import { insecureRepoReason, plainHttpCredentialsReason } from './repo-url.ts';
import { normalizeRepoPath } from './tree.ts';

export { type CacheKeySource, type CachePartition, stateCacheKey } from './cache-key.ts';
export { redactUrl, SourceError } from './errors.ts';
export { DEFAULT_MANIFEST_LIMITS, type ManifestLimits, parseManifests } from './manifests.ts';
export type { ClusterCapabilities, RenderMode, RenderSettings } from './render/settings.ts';

/** Where an app's manifests live (the `repo`/`ref`/`path`/`credentialsSecret` of the app config). */
export interface SourceSettings {
  /** `https://` (or `http://`) URL, or the path of a local git repository. */
  repo: string;
  /** Branch, tag or full 40-hex commit SHA. @default the remote's default branch (local: HEAD) */
  ref?: string;
  /** Folder (or single manifest file) inside the repository. @default the root */
  path?: string;
  /** Secrets Manager secret (name or ARN): a token string, or JSON `{username,password}` / `{token}`. */
  credentialsSecret?: string;
  /** Plain manifests, Kustomize or Helm, and their settings. @default auto-detected, no settings */
  render?: RenderSettings;
  /** The app's name: Helm's release name unless `render.helm.releaseName` says otherwise. */
  app?: string;
}

/** A structured logger; Powertools' `Logger` and the CLI's stderr logger both fit. */
export interface SourceLogger {
  // A rest parameter (not `fields?`) so Powertools' overloaded signature is assignable.
  info(message: string, ...fields: Record<string, unknown>[]): void;
  warn(message: string, ...fields: Record<string, unknown>[]): void;
}

export interface LoadSourceOptions {
  /** Cache folder, reused between runs, a folder per app and cluster in it. Lambda: `/tmp/driftless/git`; CLI: `.driftless/git`. */
  cacheDir: string;
  /** Whose caches this load uses (a run passes its app and cluster). @default `{ app: settings.app ?? '', cluster: 'local' }` */
  partition?: CachePartition;
  /**
   * The secret cache entries are named and sealed with; never keep it in `cacheDir`. The CLI passes
   * {@link stateCacheKey} (a key file in the user's state folder). @default a random key held in
   * this process's memory (the Lambda's: its `/tmp` lives as long as the process)
   */
  cacheKey?: CacheKeySource;
  /** Reads `credentialsSecret`. Required only when an app names one. */
  secrets?: SecretsManagerClient;
  /** Gets one line per load (repo without credentials, revision, bytes); never a credential. */
  logger?: SourceLogger;
  /** Manifest bounds. @default {@link DEFAULT_MANIFEST_LIMITS} */
  limits?: Partial<ManifestLimits>;
  /** A request fails when no data arrives for this long. @default 30000 */
  timeoutMs?: number;
  /** Bound of the whole cache folder, and of one download. @default 256 MiB */
  maxCacheBytes?: number;
  /** isomorphic-git HTTP client. @default Node's fetch */
  http?: HttpClient;
  /** CA certificates (PEM) trusted for https:// repositories besides Node's defaults. @default none (`NODE_EXTRA_CA_CERTS` still counts) */
  ca?: readonly string[];
  /** Kustomize and Helm: timeout and checkout bounds. */
  render?: RenderOptions;
  /** The live cluster's version and API versions, for Helm's `.Capabilities` (asked only for charts). */
  capabilities?: () => Promise<ClusterCapabilities>;
}

export interface LoadedSource {
  /** The 40-hex commit SHA the objects come from. */
  revision: string;
  objects: DesiredObject[];
  /** Keyed digest of the render's inputs besides the commit (see `LoadedObjects`); absent for plain files. */
  renderInputs?: string;
  /** Whether a pack was downloaded (false: the cached commit was current, or a local repo). */
  fetched: boolean;
  /** HTTP requests made. */
  requests: number;
  /** Response bytes received. */
  bytes: number;
  /** Manifest files read. */
  files: number;
  /** Whether the parsed objects of this commit came from the cache (no file was read or parsed). */
  cached?: boolean;
  /** Plain manifest files, or what Kustomize or Helm rendered. */
  renderer?: Renderer;
}

export const DEFAULT_TIMEOUT_MS = 30_000;

/** Fetches (or reads locally) the revision and parses its manifests. Throws only {@link SourceError}. */
export async function loadSource(
  settings: SourceSettings,
  options: LoadSourceOptions,
): Promise<LoadedSource> {
  const started = Date.now();
  const limits = manifestLimits(options.limits);
  const path = normalizeRepoPath(settings.path);
  const repo = redactUrl(settings.repo);
  const remote = isRemote(settings.repo);
  const scope = await appCache(settings, options);
  const result = remote
    ? await loadRemote(settings, path, limits, options, scope)
    : await loadLocal(settings, path, limits, options, scope);
  options.logger?.info('source loaded', {
    repo,
    ref: settings.ref,
    path,
    revision: result.revision,
    fetched: result.fetched,
    requests: result.requests,
    bytes: result.bytes,
    files: result.files,
    cached: result.cached,
    renderer: result.renderer,
    objects: result.objects.length,
    durationMs: Date.now() - started,
  });
  return result;
}

/** The app's folder of the cache, and the secret its entries are sealed with. */
async function appCache(settings: SourceSettings, options: LoadSourceOptions): Promise<ManifestCacheScope> {
  let key: Buffer;
  try {
    key = await resolveCacheKey(options.cacheKey);
  } catch (error) {
    throw new SourceError(`cannot read the cache key: ${(error as Error).message}`, { cause: error });
  }
  const partition = options.partition ?? { app: settings.app ?? '', cluster: 'local' };
  try {
    return await openAppCache({ cacheDir: options.cacheDir, partition, key, logger: options.logger });
  } catch (error) {
    throw new SourceError(`cannot use cache folder ${options.cacheDir}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function isRemote(repo: string): boolean {
  if (/^https?:\/\//i.test(repo)) return true;
  if (/^(ssh|git):\/\//i.test(repo) || /^[\w.-]+@[\w.-]+:/.test(repo)) {
    throw new SourceError(`${redactUrl(repo)}: only https:// URLs and local paths are supported (no SSH)`);
  }
  return false;
}

async function loadLocal(
  settings: SourceSettings,
  path: string,
  limits: ManifestLimits,
  options: LoadSourceOptions,
  scope: ManifestCacheScope,
): Promise<LoadedSource> {
  const cache = {};
  try {
    const { gitdir, commit } = await resolveLocalRevision(settings.repo, settings.ref, cache);
    // A local repo has no clone in the cache, but its parsed manifests live there: keep the bound.
    await enforceCacheBound(options.cacheDir, scope.dir, options.maxCacheBytes ?? DEFAULT_MAX_CACHE_BYTES);
    await touchEntry(scope.dir);
    const parsed = await loadObjects({
      ...objectsInput(settings, options, limits, scope),
      gitdir,
      commit,
      path,
      cache,
    });
    return { revision: commit, ...parsed, fetched: false, requests: 0, bytes: 0 };
  } catch (error) {
    if (error instanceof SourceError) throw error;
    throw new SourceError(`cannot read ${settings.repo}: ${(error as Error).message}`, { cause: error });
  }
}

async function loadRemote(
  settings: SourceSettings,
  path: string,
  limits: ManifestLimits,
  options: LoadSourceOptions,
  scope: ManifestCacheScope,
): Promise<LoadedSource> {
  const { url, username, password } = splitUrlCredentials(settings.repo);
  // Before any secret is read or request made: no credential goes out in clear text, and nothing
  // at all over plain http to another host.
  const parsed = new URL(url);
  const sent = credentialsSetting(settings.credentialsSecret, username, password);
  const insecure = insecureRepoReason(parsed) ?? (sent && plainHttpCredentialsReason(parsed, sent));
  if (insecure) throw new SourceError(`${url}: ${insecure}`);
  const credentials = await resolveCredentials({
    repo: url,
    url: { username, password },
    secretId: settings.credentialsSecret,
    secrets: options.secrets,
  });
  const maxCacheBytes = options.maxCacheBytes ?? DEFAULT_MAX_CACHE_BYTES;
  const gitdir = cacheEntry(scope.dir, url, credentials.headers.Authorization, scope.key);
  const transport = createTransport({
    repo: url,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxBytes: maxCacheBytes,
    inner: options.http,
    ca: options.ca,
  });

  const attempt = async (): Promise<LoadedSource> => {
    const cache = {};
    const revision = await fetchRevision({
      url,
      ref: settings.ref,
      gitdir,
      headers: credentials.headers,
      http: transport.http,
      cache,
    });
    const parsed = await loadObjects({
      ...objectsInput(settings, options, limits, scope),
      repo: url,
      gitdir,
      commit: revision.commit,
      path,
      cache,
    });
    const { requests, bytes } = transport.stats;
    return { revision: revision.commit, ...parsed, fetched: revision.fetched, requests, bytes };
  };

  return withEntryLock(gitdir, async () => {
    try {
      const wiped = await enforceCacheBound(options.cacheDir, gitdir, maxCacheBytes);
      if (wiped.length > 0)
        options.logger?.info('git cache over its bound: wiped entries', {
          count: wiped.length,
          maxCacheBytes,
        });
      const intact = await openSealedStore(scope, gitdir);
      let loaded: LoadedSource | undefined;
      try {
        loaded = await attempt();
        return loaded;
      } catch (error) {
        if (error instanceof SourceError || isHttpError(error)) throw error;
        // Anything else is the cache's fault (a run killed mid-write, a corrupt pack): start clean once.
        options.logger?.warn('git cache unreadable: re-cloning', {
          repo: url,
          error: scrubSecrets((error as Error).message, credentials.secrets),
        });
        await rm(gitdir, { recursive: true, force: true });
        loaded = await attempt();
        return loaded;
      } finally {
        // Sealed as this load left it (a failed load too: it may have begun a store).
        if (!intact || !loaded || loaded.fetched) await sealStore(scope, gitdir).catch(() => undefined);
        await touchEntry(gitdir, scope.dir);
      }
    } catch (error) {
      throw toSourceError(error, url, settings.credentialsSecret, credentials, username !== undefined);
    }
  });
}

function objectsInput(
  settings: SourceSettings,
  options: LoadSourceOptions,
  limits: ManifestLimits,
  manifestCache: ManifestCacheScope,
) {
  const { render: renderOptions, capabilities } = options;
  return {
    manifestCache,
    repo: settings.repo,
    limits,
    render: settings.render,
    appName: settings.app,
    renderOptions,
    capabilities,
  };
}
