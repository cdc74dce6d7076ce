/**
 * A repository on the local disk (the CLI, the demo): resolve the ref in it and read the
 * committed files of that commit, never the work tree, so the revision means what it says.
 */
import * as fs from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expandOid, readCommit, resolveRef } from 'isomorphic-git';
import { SourceError } from './errors.ts';
import { FULL_SHA, SHORT_SHA } from './remote.ts';

export interface LocalRevision {
  gitdir: string;
  commit: string;
}

/** Accepts a path or a `file://` URL. */
export function localRepoPath(repo: string): string {
  return resolve(repo.startsWith('file://') ? fileURLToPath(repo) : repo);
}

export async function resolveLocalRevision(
  repo: string,
  ref: string | undefined,
  cache: object,
): Promise<LocalRevision> {
  const dir = localRepoPath(repo);
  const gitdir = await findGitdir(dir, repo);
  let oid: string;
  try {
    oid = ref && FULL_SHA.test(ref) ? ref : await resolveRef({ fs, gitdir, ref: ref ?? 'HEAD' });
  } catch {
    // A short SHA, as the CLI prints them.
    const expanded =
      ref && SHORT_SHA.test(ref)
        ? await expandOid({ fs, gitdir, oid: ref, cache }).catch(() => undefined)
        : undefined;
    if (expanded) return { gitdir, commit: (await readCommit({ fs, gitdir, oid: expanded, cache })).oid };
    throw new SourceError(
      ref
        ? `ref "${ref}" not found in ${repo}: no such branch or tag`
        : `${repo} has no commits yet (HEAD is unborn)`,
    );
  }
  try {
    return { gitdir, commit: (await readCommit({ fs, gitdir, oid, cache })).oid };
  } catch {
    throw new SourceError(`${ref ?? 'HEAD'} (${oid}) is not a commit in ${repo}`);
  }
}

/** `dir/.git` (a folder, or a `gitdir:` file as in submodules), or `dir` itself when bare. */
async function findGitdir(dir: string, repo: string): Promise<string> {
  const dotGit = join(dir, '.git');
  const info = await stat(dotGit).catch(() => undefined);
  if (info?.isDirectory()) return dotGit;
  if (info?.isFile()) {
    const match = /^gitdir:\s*(.+)$/m.exec(await readFile(dotGit, 'utf8'));
    if (match?.[1]) return resolve(dir, match[1].trim());
  }
  const bare = await stat(join(dir, 'objects')).catch(() => undefined);
  const head = await stat(join(dir, 'HEAD')).catch(() => undefined);
  if (bare?.isDirectory() && head?.isFile()) return dir;
  const exists = await stat(dir).catch(() => undefined);
  throw new SourceError(
    exists
      ? `${repo} is not a git repository (no .git folder); give an https URL or the path of a git repository`
      : `${repo} does not exist; give an https URL or the path of a git repository`,
  );
}
