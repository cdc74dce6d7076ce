/**
 * Parsed manifests by commit: a commit never changes, so the objects parsed from it at a path (with
 * the same limits) can be reused. A run on an unchanged revision then skips reading and parsing
 * every file, the largest part of a no-op sync. Entries live in the clone cache's folder, under
 * its size bound; a missing or unreadable entry is simply parsed again. A set that holds a
 * `Secret` is never written here: its values stay only in Git's compressed object store.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DesiredObject } from '../reconcile/types.ts';
import type { ManifestLimits } from './manifests.ts';

/** Bump when the shape of parsed objects changes, so old entries are not read (2: hidden folders skipped). */
const FORMAT = 2;

export interface ParsedManifests {
  objects: DesiredObject[];
  files: number;
}

export async function cachedManifests(
  cacheDir: string,
  /** `render`: what rendered output depends on beyond the commit (settings, tool, cluster); absent for plain files. */
  key: { commit: string; path: string; limits: ManifestLimits; render?: unknown },
  parse: () => Promise<ParsedManifests>,
): Promise<ParsedManifests & { cached: boolean }> {
  const digest = createHash('sha256')
    .update(JSON.stringify([FORMAT, key.commit, key.path, key.limits, ...(key.render ? [key.render] : [])]))
    .digest('hex')
    .slice(0, 32);
  const entry = join(cacheDir, `manifests-${digest}.json`);
  try {
    const hit = JSON.parse(await readFile(entry, 'utf8')) as ParsedManifests;
    const now = new Date();
    await utimes(entry, now, now).catch(() => undefined);
    return { ...hit, cached: true };
  } catch {
    // Not cached yet (or unreadable): parse below.
  }
  const parsed = await parse();
  if (parsed.objects.some((d) => d.object.kind === 'Secret')) return { ...parsed, cached: false };
  // Write then rename: a concurrent reader never sees half an entry.
  const partial = `${entry}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await mkdir(cacheDir, { recursive: true });
    await writeFile(partial, JSON.stringify(parsed));
    await rename(partial, entry);
  } catch {
    await rm(partial, { force: true });
  }
  return { ...parsed, cached: false };
}
