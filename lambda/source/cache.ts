/**
 * The on-disk cache: a folder per app and cluster (named by an HMAC, see `cache-key.ts`) holding
 * that app's bare object stores (one per repository and credentials) and parsed-manifest entries,
 * reused between warm Lambda runs and CLI runs, bounded in size. Past the bound the least recently
 * used app folders are wiped first, then the current app's other entries, then the entry in use,
 * which is simply re-cloned.
 */
import { lstat, mkdir, readdir, rm, stat, utimes } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { type CachePartition, cacheMac, partitionId } from './cache-key.ts';
import type { ManifestCacheScope } from './manifest-cache.ts';

/** Default bound of the whole cache folder: half of Lambda's default 512 MB `/tmp`. */
export const DEFAULT_MAX_CACHE_BYTES = 256 * 1024 * 1024;

/**
 * The entry folder for a repository in an app's folder. The credentials take part in the key, so
 * a commit cached with some credentials is never served to a load whose credentials were not
 * checked. The name is an HMAC with the cache's secret (kept outside the cache folder), so it
 * cannot be used to guess a weak password offline.
 */
export function cacheEntry(
  partitionDir: string,
  url: string,
  authorization: string | undefined,
  key: Buffer,
): string {
  return join(
    partitionDir,
    cacheMac(key, 'git entry', url, authorization ?? '')
      .toString('hex')
      .slice(0, 24),
  );
}

/**
 * The app's folder of the cache, made when missing. Anything else in its place (a planted symlink
 * or file) is removed first, so an app's entries are never written into another's folder.
 */
export async function openAppCache(input: {
  cacheDir: string;
  partition: CachePartition;
  key: Buffer;
  logger?: ManifestCacheScope['logger'];
}): Promise<ManifestCacheScope> {
  const partition = partitionId(input.key, input.partition);
  const dir = join(input.cacheDir, partition.slice(0, 32));
  const self = await lstat(dir).catch(() => undefined);
  if (self && !self.isDirectory()) await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return { root: input.cacheDir, dir, key: input.key, partition, logger: input.logger };
}

const locks = new Map<string, Promise<unknown>>();

/** Runs `fn` while no other load in this process uses the same entry. */
export async function withEntryLock<T>(entry: string, fn: () => Promise<T>): Promise<T> {
  const previous = locks.get(entry) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(fn);
  locks.set(entry, run);
  try {
    return await run;
  } finally {
    if (locks.get(entry) === run) locks.delete(entry);
  }
}

/** Whether a load of this process uses `path` or an entry inside it. */
function inUse(path: string): boolean {
  for (const entry of locks.keys()) if (entry === path || entry.startsWith(path + sep)) return true;
  return false;
}

/** Total bytes of regular files under `dir`, or of `dir` itself when it is a file (0 when absent). */
export async function directorySize(dir: string): Promise<number> {
  const self = await lstat(dir).catch(() => undefined);
  if (self?.isFile()) return self.size;
  let entries: string[];
  try {
    entries = await readdir(dir, { recursive: true });
  } catch {
    return 0;
  }
  let total = 0;
  for (const entry of entries) {
    const info = await lstat(join(dir, entry)).catch(() => undefined);
    if (info?.isFile()) total += info.size;
  }
  return total;
}

/**
 * Keeps `cacheDir` under `maxBytes`, least recently used first: other apps' folders, then the
 * other entries of the folders that hold `current` (a clone, or an app's folder), then `current`
 * itself. Entries another load of this process uses are kept. Returns what was wiped.
 */
export async function enforceCacheBound(
  cacheDir: string,
  current: string | undefined,
  maxBytes: number,
): Promise<string[]> {
  let size = await directorySize(cacheDir);
  if (size <= maxBytes) return [];
  const chain: string[] = [];
  for (const part of current ? relative(cacheDir, current).split(sep) : []) {
    chain.push(join(chain.at(-1) ?? cacheDir, part));
  }
  const wiped: string[] = [];
  const wipe = async (path: string) => {
    const bytes = await directorySize(path);
    await rm(path, { recursive: true, force: true });
    wiped.push(path);
    size -= bytes;
  };
  for (const [level, parent] of [cacheDir, ...chain.slice(0, -1)].entries()) {
    for (const path of await leastRecentlyUsed(parent, chain[level])) {
      if (size <= maxBytes) return wiped;
      await wipe(path);
    }
  }
  if (current && size > maxBytes) await wipe(current);
  return wiped;
}

/** The entries of `dir` other than `keep` and those in use, least recently used first. */
async function leastRecentlyUsed(dir: string, keep: string | undefined): Promise<string[]> {
  const found = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const path = join(dir, name);
    if (path === keep || inUse(path)) continue;
    const info = await stat(path).catch(() => undefined);
    if (info) found.push({ path, mtimeMs: info.mtimeMs });
  }
  return found.sort((a, b) => a.mtimeMs - b.mtimeMs).map((entry) => entry.path);
}

/** Marks entries as just used, for least-recently-used eviction. */
export async function touchEntry(...entries: string[]): Promise<void> {
  const now = new Date();
  for (const entry of entries) await utimes(entry, now, now).catch(() => undefined);
}
