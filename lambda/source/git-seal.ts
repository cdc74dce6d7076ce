/**
 * The seal of a cached object store: an HMAC over every file of the bare repository (its path and
 * the SHA-256 of its bytes), written after each load and checked before the store is reused.
 * isomorphic-git checks the SHA-1 of a loose object it reads, but of a packed object it checks
 * only that the pack's checksum matches its index: whoever writes both files can make a pack say
 * anything a commit SHA means. With the seal, only stores this process's secret sealed are read.
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstat, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { cacheMac } from './cache-key.ts';

const SEAL_FILE = 'driftless.seal';

/** `absent`: no store yet; `unsealed`: a store without a seal; `forged`: a seal that does not match. */
export type SealState = 'absent' | 'intact' | 'unsealed' | 'forged';

/** Computes the seal of a store's digest (the caller keys it with the secret, the app and the entry). */
export type Sealer = (digest: Buffer) => Buffer;

export async function checkSeal(gitdir: string, seal: Sealer): Promise<SealState> {
  const self = await lstat(gitdir).catch(() => undefined);
  if (!self) return 'absent';
  if (!self.isDirectory()) return 'forged';
  const stored = await readFile(join(gitdir, SEAL_FILE), 'utf8').catch(() => undefined);
  if (stored === undefined) return 'unsealed';
  const expected = seal(await storeDigest(gitdir)).toString('hex');
  return stored === expected ? 'intact' : 'forged';
}

/** Seals the store as it is now; a store that is gone (wiped after a failure) is left alone. */
export async function writeSeal(gitdir: string, seal: Sealer): Promise<void> {
  if (!(await lstat(gitdir).catch(() => undefined))?.isDirectory()) return;
  const value = seal(await storeDigest(gitdir)).toString('hex');
  // Written beside the store, then renamed in: the digest never sees a half-written seal.
  const partial = `${gitdir}.${randomBytes(4).toString('hex')}.seal`;
  try {
    await writeFile(partial, value);
    await rename(partial, join(gitdir, SEAL_FILE));
  } finally {
    await rm(partial, { force: true });
  }
}

/** Every path under the store with its type, and each file's SHA-256, in a fixed order. */
async function storeDigest(gitdir: string): Promise<Buffer> {
  const entries = await readdir(gitdir, { recursive: true, withFileTypes: true });
  const rows = entries
    .map((entry) => ({ entry, path: relative(gitdir, join(entry.parentPath, entry.name)) }))
    .filter(({ path }) => path !== SEAL_FILE)
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const digest = createHash('sha256');
  for (const { entry, path } of rows) {
    if (entry.isFile()) {
      const bytes = await readFile(join(gitdir, path));
      digest.update(`f ${JSON.stringify(path)} ${createHash('sha256').update(bytes).digest('hex')}\n`);
    } else {
      digest.update(`${entry.isDirectory() ? 'd' : 'o'} ${JSON.stringify(path)}\n`);
    }
  }
  return digest.digest();
}

/** What seals an app's stores: the cache's secret and the app's partition. */
export interface StoreScope {
  root: string;
  key: Buffer;
  partition: string;
  logger?: { warn(message: string, ...fields: Record<string, unknown>[]): void };
}

function sealer(scope: StoreScope, gitdir: string): Sealer {
  return (digest) => cacheMac(scope.key, 'git store', scope.partition, basename(gitdir), digest);
}

/**
 * Checks the store at `gitdir` before it is reused: one this process's secret did not seal for
 * this app (planted, altered, or left by a killed run) is wiped, with a warning naming it. Returns
 * whether an intact store is there.
 */
export async function openSealedStore(scope: StoreScope, gitdir: string): Promise<boolean> {
  const state = await checkSeal(gitdir, sealer(scope, gitdir));
  if (state === 'absent' || state === 'intact') return state === 'intact';
  scope.logger?.warn(
    'git cache entry failed its integrity check (not sealed by driftless for this app): wiped, cloning again',
    { entry: relative(scope.root, gitdir), reason: state === 'forged' ? 'seal does not match' : 'no seal' },
  );
  await rm(gitdir, { recursive: true, force: true });
  return false;
}

/** Seals the store at `gitdir` as this load left it. */
export function sealStore(scope: StoreScope, gitdir: string): Promise<void> {
  return writeSeal(gitdir, sealer(scope, gitdir));
}
