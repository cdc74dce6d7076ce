/**
 * Kustomize through `kubectl kustomize` (Kustomize v5, built into kubectl). Before it runs, the
 * kustomizations it would load are read here: a remote base (a URL in `resources`) is refused
 * unless the app opts in, and a local one that leaves the repository is always refused.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { parse } from 'yaml';
import { SourceError } from '../errors.ts';
import { KUSTOMIZATION_FILES } from './settings.ts';

/** The fields of a kustomization that load other kustomizations or resource files. */
const LOADING_FIELDS = [
  'resources',
  'bases',
  'components',
  'generators',
  'transformers',
  'validators',
] as const;

/**
 * Walks the kustomizations reachable from `path` (inside `checkoutDir`) and refuses remote
 * references (unless `allowRemoteBases`) and references outside the repository, naming the file.
 */
export async function checkKustomizations(
  checkoutDir: string,
  path: string,
  allowRemoteBases: boolean,
): Promise<void> {
  const pending = [path];
  const seen = new Set<string>();
  while (pending.length > 0) {
    const dir = pending.pop() as string;
    if (seen.has(dir)) continue;
    seen.add(dir);
    const names = await readdir(join(checkoutDir, dir)).catch(() => [] as string[]);
    const name = KUSTOMIZATION_FILES.find((candidate) => names.includes(candidate));
    if (!name) continue;
    const file = dir === '.' ? name : `${dir}/${name}`;
    let kustomization: unknown;
    try {
      kustomization = parse(await readFile(join(checkoutDir, file), 'utf8'));
    } catch {
      continue; // kubectl kustomize reports a broken file better, with its own words.
    }
    if (typeof kustomization !== 'object' || kustomization === null) continue;
    for (const field of LOADING_FIELDS) {
      const entries = (kustomization as Record<string, unknown>)[field];
      if (!Array.isArray(entries)) continue;
      for (const entry of entries) {
        if (typeof entry !== 'string') continue;
        const local = posix.normalize(posix.join(dir, entry));
        const escapes = posix.isAbsolute(entry) || local === '..' || local.startsWith('../');
        const exists = escapes ? undefined : await stat(join(checkoutDir, local)).catch(() => undefined);
        if (!exists && isRemote(entry)) {
          if (allowRemoteBases) continue;
          throw new SourceError(
            `${file}: ${field} entry "${entry}" is a remote base; driftless renders without network access by default. Vendor it into the repository, or set kustomize.allowRemoteBases: true for this app`,
          );
        }
        if (escapes) {
          throw new SourceError(`${file}: ${field} entry "${entry}" points outside the repository`);
        }
        if (exists?.isDirectory()) pending.push(local);
      }
    }
  }
}

/** What kustomize would fetch: a URL, `git@host:...`, or `host.tld/org/repo`. */
function isRemote(entry: string): boolean {
  return (
    /^[a-z][a-z0-9+.-]*:\/\//i.test(entry) ||
    /^[\w.-]+@[\w.-]+:/.test(entry) ||
    /^[\w-]+(\.[\w-]+)+\//.test(entry)
  );
}

/** `kubectl kustomize` arguments for a folder of the checkout (the working folder). */
export function kustomizeArgs(path: string): string[] {
  return ['kustomize', path === '.' ? '.' : `./${path}`];
}
