/**
 * The on-disk clone cache: one bare object store per repository (and credentials), reused between
 * warm Lambda runs and CLI runs, bounded in size. Past the bound the least recently used entries
 * are wiped; the entry in use is wiped last, and then simply re-cloned.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { link, lstat, mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Default bound of the whole cache folder: half of Lambda's default 512 MB `/tmp`. */
export const DEFAULT_MAX_CACHE_BYTES = 256 * 1024 * 1024;

/**
 * The entry folder for a repository. The credentials take part in the key, so a commit cached
 * with one app's credentials is never served to an app whose credentials were not checked. The
 * key is an HMAC with a random key kept in the cache folder, so a folder name cannot be used to
 * guess a weak password offline.
 */
export async function cacheEntry(
  cacheDir: string,
  url: string,
  authorization: string | undefined,
): Promise<string> {
  const key = createHmac('sha256', await cacheKey(cacheDir))
    .update(`${url}\n${authorization ?? ''}`)
    .digest('hex')
    .slice(0, 24);
  return join(cacheDir, key);
}

const keys = new Map<string, Promise<Buffer>>();

/** The cache folder's HMAC key: made once, atomically, shared by every load and process. */
function cacheKey(cacheDir: string): Promise<Buffer> {
  let key = keys.get(cacheDir);
  if (!key) {
    key = readOrCreateKey(cacheDir);
    keys.set(cacheDir, key);
    key.catch(() => keys.delete(cacheDir));
  }
  return key;
}

async function readOrCreateKey(cacheDir: string): Promise<Buffer> {
  const path = join(cacheDir, '.key');
  const existing = await readFile(path).catch(() => undefined);
  if (existing?.length === 32) return existing;
  await mkdir(cacheDir, { recursive: true });
  // Written aside, then linked into place: link fails if another process got there first, and a
  // reader never sees a half-written key.
  const partial = `${path}.${randomBytes(6).toString('hex')}`;
  await writeFile(partial, randomBytes(32), { mode: 0o600 });
  await link(partial, path).catch(() => undefined);
  await rm(partial, { force: true });
  return readFile(path);
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
 * Keeps `cacheDir` under `maxBytes`: wipes least recently used entries (clones and parsed-manifest
 * files) other than `current` (and not in use by another load), then `current` itself. Returns
 * what was wiped.
 */
export async function enforceCacheBound(
  cacheDir: string,
  current: string | undefined,
  maxBytes: number,
): Promise<string[]> {
  let size = await directorySize(cacheDir);
  if (size <= maxBytes) return [];
  const names = await readdir(cacheDir).catch(() => [] as string[]);
  const others = [];
  for (const name of names) {
    const path = join(cacheDir, name);
    if (path === current || locks.has(path) || name.startsWith('.key')) continue;
    const info = await stat(path).catch(() => undefined);
    if (info) others.push({ path, mtimeMs: info.mtimeMs });
  }
  others.sort((a, b) => a.mtimeMs - b.mtimeMs);
  const wiped: string[] = [];
  for (const entry of current ? [...others, { path: current }] : others) {
    if (size <= maxBytes) break;
    const bytes = await directorySize(entry.path);
    await rm(entry.path, { recursive: true, force: true });
    wiped.push(entry.path);
    size -= bytes;
  }
  return wiped;
}

/** Marks an entry as just used, for least-recently-used eviction. */
export async function touchEntry(entry: string): Promise<void> {
  const now = new Date();
  await utimes(entry, now, now).catch(() => undefined);
}
