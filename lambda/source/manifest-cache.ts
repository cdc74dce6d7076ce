/**
 * Parsed manifests by commit: a commit never changes, so the objects parsed from it at a path (with
 * the same limits) can be reused. A run on an unchanged revision then skips reading and parsing
 * every file, the largest part of a no-op sync. Entries live in the app's cache folder, under the
 * cache's size bound; a missing entry is simply parsed again. A set that holds a `Secret` is never
 * written here: its values stay only in Git's compressed object store.
 *
 * The name of an entry is a digest of public inputs, so anyone able to write in the cache folder
 * (a render that escaped its checkout) can put a file there. Each entry therefore starts with an
 * HMAC (the cache's secret, the app's folder, the key, the bytes); one that does not prove driftless
 * wrote it for this app is discarded with a warning, and the commit is parsed again.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { DesiredObject } from '../reconcile/types.ts';
import { cacheMac, sameMac } from './cache-key.ts';
import type { ManifestLimits } from './manifests.ts';

/**
 * Bump when the shape of entries changes, so old entries are not read (3: sealed with an HMAC;
 * 4: CRDs of a chart's `crds/` folder marked `helmCrd`).
 */
export const MANIFEST_CACHE_FORMAT = 4;

export interface ParsedManifests {
  objects: DesiredObject[];
  files: number;
}

export interface ManifestCacheKey {
  commit: string;
  path: string;
  limits: ManifestLimits;
  /** What rendered output depends on beyond the commit (settings, tool, cluster); absent for plain files. */
  render?: unknown;
}

/** Where an app's entries live and what seals them. */
export interface ManifestCacheScope {
  /** The whole cache folder: warnings name entries relative to it. */
  root: string;
  /** The app's folder in it. */
  dir: string;
  /** The cache's secret (never stored in the cache folder). */
  key: Buffer;
  /** The app's partition id, sealed into every entry so one app's entry is worthless to another. */
  partition: string;
  logger?: { warn(message: string, ...fields: Record<string, unknown>[]): void };
}

const MAC_HEX = 64;

/** The file name of an entry: a digest of public inputs, so it proves nothing by itself. */
export function manifestEntryName(key: ManifestCacheKey): string {
  return `manifests-${createHash('sha256').update(keyText(key)).digest('hex').slice(0, 32)}.json`;
}

function keyText(key: ManifestCacheKey): string {
  return JSON.stringify([
    MANIFEST_CACHE_FORMAT,
    key.commit,
    key.path,
    key.limits,
    ...(key.render ? [key.render] : []),
  ]);
}

export async function cachedManifests(
  scope: ManifestCacheScope,
  key: ManifestCacheKey,
  parse: () => Promise<ParsedManifests>,
): Promise<ParsedManifests & { cached: boolean }> {
  const entry = join(scope.dir, manifestEntryName(key));
  const seal = (body: Buffer) => cacheMac(scope.key, 'manifests', scope.partition, keyText(key), body);
  const stored = await readFile(entry).catch(() => undefined);
  if (stored) {
    const hit = unseal(stored, seal);
    if (hit) {
      const now = new Date();
      await utimes(entry, now, now).catch(() => undefined);
      return { ...hit, cached: true };
    }
    scope.logger?.warn(
      'manifest cache entry failed its integrity check (not written by driftless for this app): discarded, parsing the commit again',
      { entry: relative(scope.root, entry) },
    );
    await rm(entry, { force: true });
  }
  const parsed = await parse();
  if (parsed.objects.some((d) => d.object.kind === 'Secret')) return { ...parsed, cached: false };
  const body = Buffer.from(JSON.stringify(parsed));
  // Write then rename: a concurrent reader never sees half an entry.
  const partial = `${entry}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await mkdir(scope.dir, { recursive: true });
    await writeFile(partial, Buffer.concat([Buffer.from(`${seal(body).toString('hex')}\n`), body]));
    await rename(partial, entry);
  } catch {
    await rm(partial, { force: true });
  }
  return { ...parsed, cached: false };
}

/** The entry's objects when its HMAC matches its bytes, else undefined. */
function unseal(stored: Buffer, seal: (body: Buffer) => Buffer): ParsedManifests | undefined {
  if (stored.length <= MAC_HEX || stored[MAC_HEX] !== 0x0a) return undefined;
  const mac = Buffer.from(stored.subarray(0, MAC_HEX).toString('latin1'), 'hex');
  const body = stored.subarray(MAC_HEX + 1);
  if (!sameMac(seal(body), mac)) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as ParsedManifests;
  } catch {
    return undefined;
  }
}
