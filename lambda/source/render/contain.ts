/**
 * Where a symlink really leads, resolved the way the filesystem resolves it (every link on the
 * way, `..` after a link, absolute targets, links through linked folders), not by normalising its
 * text: `up -> ../..` and `root -> up/../..` each look inside the repository, and together reach
 * `/`. A checkout keeps a link only when it resolves inside the checkout; Argo CD's repo-server
 * checks its checkouts the same way after writing them.
 */
import { lstat, readlink, realpath } from 'node:fs/promises';
import { sep } from 'node:path';
import { SourceError } from '../errors.ts';
import { isDotGit } from '../tree.ts';

/** Linux's own bound on links followed in one lookup (ELOOP past it). */
const MAX_LINK_HOPS = 40;

export type Resolution = { loop: false; path: string } | { loop: true };

/**
 * Resolves `rest` (a relative path) from `base` (an absolute folder with no symlink in it),
 * following links as `open()` would, with lstat and readlink only: nothing is opened or read.
 * Past a missing part the rest is applied as text, so a dangling link resolves to where it
 * would lead once its target existed.
 */
export async function resolvePath(base: string, rest: string): Promise<Resolution> {
  const done = base.split('/').filter(Boolean);
  // Parts still to walk, the next one last.
  const todo = rest.split('/').reverse();
  let hops = 0;
  let missing = false;
  while (todo.length > 0) {
    const part = todo.pop() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    done.push(part);
    if (missing) continue;
    const path = `/${done.join('/')}`;
    const stats = await lstat(path).catch(() => undefined);
    if (!stats) {
      missing = true;
      continue;
    }
    if (!stats.isSymbolicLink()) continue;
    hops += 1;
    if (hops > MAX_LINK_HOPS) return { loop: true };
    const target = await readlink(path);
    done.pop();
    if (target.startsWith('/')) done.length = 0;
    todo.push(...target.split('/').reverse());
  }
  return { loop: false, path: `/${done.join('/')}` };
}

export interface WrittenLink {
  /** Path in the checkout, `/`-separated. */
  path: string;
  /** The link's text as committed. */
  target: string;
}

/**
 * Refuses the checkout at `dir` when any of `links` resolves outside it, into a `.git` folder,
 * or loops. `dir` holds only folders this checkout made, so a link's own folder needs no lookup.
 */
export async function assertLinksContained(dir: string, links: WrittenLink[], commit: string): Promise<void> {
  const root = await realpath(dir);
  const at = `commit ${commit.slice(0, 12)}`;
  for (const link of links) {
    const slash = link.path.lastIndexOf('/');
    const folder = slash < 0 ? root : `${root}/${link.path.slice(0, slash)}`;
    const resolution = await resolvePath(folder, link.path.slice(slash + 1));
    const what = `${at}: symlink ${link.path} -> "${link.target}"`;
    if (resolution.loop) {
      throw new SourceError(
        `${what} is a loop (more than ${MAX_LINK_HOPS} links to follow); refusing to render the revision`,
      );
    }
    const inside = resolution.path === root || resolution.path.startsWith(`${root}${sep}`);
    if (!inside) {
      throw new SourceError(
        `${what} resolves to ${resolution.path}, outside the checkout; refusing to render the revision: ` +
          'link only to files of the repository',
      );
    }
    const relative = resolution.path.slice(root.length + 1);
    if (relative.split('/').some(isDotGit)) {
      throw new SourceError(
        `${what} resolves into a .git folder (${relative}); refusing to render the revision`,
      );
    }
  }
}
