/**
 * The secret every cache entry is named and sealed with. It never lives in the cache folder: a
 * render that escaped its checkout may write anywhere there, and must not be able to forge an
 * entry another app (or the same app's next run) would trust. The Lambda keeps a random key in
 * process memory (its `/tmp` lives exactly as long as the process, so a cold start re-parses);
 * the CLI keeps one in the user's state folder.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { link, lstat, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** The key itself, or how to get it (read once per load). */
export type CacheKeySource = Buffer | (() => Promise<Buffer>);

/** Whose caches an entry belongs to: one folder per app and cluster. */
export interface CachePartition {
  app: string;
  /** The cluster's identity (`key.cluster` of the run), or `local` for commands without a cluster. */
  cluster: string;
}

const KEY_BYTES = 32;
let processKey: Buffer | undefined;

/** This process's random key: the default, right for the Lambda. */
export function processCacheKey(): Buffer {
  processKey ??= randomBytes(KEY_BYTES);
  return processKey;
}

export async function resolveCacheKey(source: CacheKeySource | undefined): Promise<Buffer> {
  const key = source === undefined ? processCacheKey() : Buffer.isBuffer(source) ? source : await source();
  if (key.length < KEY_BYTES) throw new Error(`the cache key must be at least ${KEY_BYTES} bytes`);
  return key;
}

/** HMAC-SHA256 over length-prefixed parts, so no two part lists give the same input. */
export function cacheMac(key: Buffer, purpose: string, ...parts: (string | Buffer)[]): Buffer {
  const mac = createHmac('sha256', key);
  for (const part of [purpose, ...parts]) {
    const bytes = typeof part === 'string' ? Buffer.from(part) : part;
    mac.update(`${bytes.length}:`).update(bytes);
  }
  return mac.digest();
}

export function sameMac(expected: Buffer, given: Buffer): boolean {
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** The partition's id (its folder name is the id's first half): reveals neither the app nor the cluster. */
export function partitionId(key: Buffer, partition: CachePartition): string {
  return cacheMac(key, 'partition', partition.app, partition.cluster).toString('hex');
}

/** `$XDG_STATE_HOME/driftless/cache.key`, else `~/.local/state/driftless/cache.key`. */
export function stateCacheKeyPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'driftless', 'cache.key');
}

/** The CLI's key: the state folder's key file, made on first use. */
export function stateCacheKey(): Promise<Buffer> {
  return readOrCreateKeyFile(stateCacheKeyPath());
}

/**
 * Reads the key file at `path`, or creates it (mode 0600, folder 0700) so that processes racing on
 * a fresh machine all end up with the same key: written aside, then linked into place (link fails
 * when another process got there first), so no reader ever sees half a key.
 */
export async function readOrCreateKeyFile(path: string): Promise<Buffer> {
  const existing = await readKeyFile(path);
  if (existing) return existing;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const partial = `${path}.${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(partial, randomBytes(KEY_BYTES), { mode: 0o600, flag: 'wx' });
    await link(partial, path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  } finally {
    await rm(partial, { force: true });
  }
  const made = await readKeyFile(path);
  if (!made) throw new Error(`cache key file ${path} is not ${KEY_BYTES} bytes: delete it to make a new one`);
  return made;
}

async function readKeyFile(path: string): Promise<Buffer | undefined> {
  const info = await lstat(path).catch(() => undefined);
  if (!info) return undefined;
  if (!info.isFile() || (info.mode & 0o077) !== 0) {
    throw new Error(
      `cache key file ${path} must be a regular file only its owner can read (chmod 600 ${path}, or delete it)`,
    );
  }
  const key = await readFile(path);
  return key.length === KEY_BYTES ? key : undefined;
}
