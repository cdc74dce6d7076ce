/**
 * Reads the manifest files of one commit straight from the object store (never a work tree), so
 * the files are exactly the revision's. Symlinks are never followed: any symlink under the
 * manifest folder is refused, with a distinct message when it points outside the repository.
 */
import * as fs from 'node:fs';
import { posix } from 'node:path';
import { readBlob, readTree, type TreeEntry } from 'isomorphic-git';
import pLimit from 'p-limit';
import { SourceError } from './errors.ts';
import { isManifestPath, type ManifestFile, type ManifestLimits } from './manifests.ts';

/** Blob reads in flight at once. */
const READ_CONCURRENCY = 16;
export const MODE_TREE = '040000';
export const MODE_SYMLINK = '120000';
export const MODE_SUBMODULE = '160000';

export interface ReadFilesInput {
  gitdir: string;
  /** Commit SHA. */
  commit: string;
  /** Folder (or single file) inside the repository; `.` or empty for the root. */
  path: string;
  limits: ManifestLimits;
  /** For messages. */
  repo: string;
  cache: object;
}

/** Normalises the `path` setting; refuses anything that leaves the repository. */
export function normalizeRepoPath(path: string | undefined): string {
  const raw = (path ?? '').replaceAll('\\', '/');
  const normal = posix.normalize(raw === '' ? '.' : raw).replace(/\/+$/, '');
  if (posix.isAbsolute(raw) || normal === '..' || normal.startsWith('../')) {
    throw new SourceError(`path "${path}" escapes the repository: give a folder inside it`);
  }
  return normal === '' ? '.' : normal;
}

/** Walks down to `path` one tree at a time so a symlinked folder on the way is seen, not followed. */
async function walkTo(input: Omit<ReadFilesInput, 'limits'>): Promise<{ oid: string; mode: string }> {
  const { gitdir, commit, cache } = input;
  const root = normalizeRepoPath(input.path);
  const at = `${input.repo} at ${commit.slice(0, 12)}`;
  const trees = { gitdir, cache, commit };
  let oid = (await readTreeEntries(trees, commit, '')).oid;
  let mode = MODE_TREE;
  let walked = '';
  for (const segment of root === '.' ? [] : root.split('/')) {
    if (mode !== MODE_TREE)
      throw new SourceError(`path "${root}" not found in ${at}: ${walked} is not a folder`);
    const { tree } = await readTreeEntries(trees, oid, walked);
    const entry = tree.find((e) => e.path === segment);
    walked = walked ? `${walked}/${segment}` : segment;
    if (!entry) throw new SourceError(`path "${root}" not found in ${at}`);
    if (entry.mode === MODE_SYMLINK)
      throw new SourceError(`path "${root}": ${walked} is a symlink; symlinks are not followed`);
    oid = entry.oid;
    mode = entry.mode;
  }
  return { oid, mode };
}

/** The entry names of the folder at `path` (to choose a renderer), or `undefined` when it is a file. */
export async function listFolder(input: Omit<ReadFilesInput, 'limits'>): Promise<string[] | undefined> {
  const { oid, mode } = await walkTo(input);
  if (mode !== MODE_TREE) return undefined;
  const { tree } = await readTreeEntries(input, oid, normalizeRepoPath(input.path).replace(/^\.$/, ''));
  return tree.map((entry) => entry.path);
}

/** Lists and reads every manifest file under `path` in the commit, enforcing count and size limits. */
export async function readManifestFiles(input: ReadFilesInput): Promise<ManifestFile[]> {
  const { gitdir, commit, limits, cache } = input;
  const root = normalizeRepoPath(input.path);
  const at = `${input.repo} at ${commit.slice(0, 12)}`;

  const { oid, mode } = await walkTo(input);

  const files: Array<{ path: string; oid: string }> = [];
  if (mode === MODE_TREE) {
    await collect(oid, root === '.' ? '' : root, files, input);
  } else if (isManifestPath(root)) {
    files.push({ path: root, oid });
  } else {
    throw new SourceError(`path "${root}" in ${at} is neither a folder nor a manifest file`);
  }

  // Blobs are read a few at a time (a local repo keeps each as its own file); reading stops once
  // the bytes read pass the total limit. The checks then run in file order, so the error names
  // the same file as a one-at-a-time read would.
  const blobs: (Uint8Array | undefined)[] = new Array(files.length);
  let readBytes = 0;
  const limit = pLimit(READ_CONCURRENCY);
  await Promise.all(
    files.map((file, i) =>
      limit(async () => {
        if (readBytes > limits.maxTotalBytes) return;
        const { blob } = await readBlob({ fs, gitdir, oid: file.oid, cache });
        blobs[i] = blob;
        readBytes += blob.byteLength;
      }),
    ),
  );

  let total = 0;
  return files.map((file, i) => {
    // A file left unread comes after files that already passed the total limit, which throws first.
    const blob = blobs[i] as Uint8Array;
    if (blob.byteLength > limits.maxFileBytes) {
      throw new SourceError(
        `${file.path}: ${blob.byteLength} bytes, more than the limit of ${limits.maxFileBytes} bytes per file (maxFileBytes)`,
      );
    }
    total += blob.byteLength;
    if (total > limits.maxTotalBytes) {
      throw new SourceError(
        `${file.path}: manifests add up to more than the limit of ${limits.maxTotalBytes} bytes (maxTotalBytes)`,
      );
    }
    return { path: file.path, content: blob };
  });
}

async function collect(
  treeOid: string,
  prefix: string,
  files: Array<{ path: string; oid: string }>,
  input: ReadFilesInput,
): Promise<void> {
  const { gitdir, cache, limits } = input;
  const { tree } = await readTreeEntries({ gitdir, cache, commit: input.commit }, treeOid, prefix);
  for (const entry of tree) {
    // Hidden entries (.github/ workflows, .gitlab-ci.yml, ...) are never manifests of the app.
    if (entry.path.startsWith('.')) continue;
    const path = prefix ? `${prefix}/${entry.path}` : entry.path;
    if (entry.mode === MODE_TREE) {
      await collect(entry.oid, path, files, input);
    } else if (entry.mode === MODE_SYMLINK) {
      await checkSymlink(entry, path, input);
    } else if (entry.mode !== MODE_SUBMODULE && isManifestPath(path)) {
      files.push({ path, oid: entry.oid });
      if (files.length > limits.maxFiles) {
        throw new SourceError(
          `found more than the limit of ${limits.maxFiles} manifest files (maxFiles) under ${input.path || '.'}`,
        );
      }
    }
  }
}

/** Where a tree lives, for messages: the commit (12 hex) and the folder's path. */
export interface TreeAt {
  gitdir: string;
  cache: object;
  commit: string;
}

/**
 * Reads one tree object (`oid` may be a commit's: its root tree) and refuses it unless git itself could have written it: no name twice
 * (git fsck's `duplicateEntries`), no `.git` in any case (`hasDotgit`), no `.`, `..`, empty
 * name, `/`, `\\` or NUL. A crafted tree can hold any of these; isomorphic-git refuses some
 * while parsing, and those become the same {@link SourceError}.
 */
export async function readTreeEntries(
  at: TreeAt,
  oid: string,
  prefix: string,
): Promise<{ oid: string; tree: TreeEntry[] }> {
  let read: { oid: string; tree: TreeEntry[] };
  try {
    read = await readTree({ fs, gitdir: at.gitdir, oid, cache: at.cache });
  } catch (error) {
    const code = (error as { code?: string }).code;
    const data = (error as { data?: { filepath?: string; message?: string } }).data;
    if (code === 'UnsafeFilepathError') throw badName(at, prefix, data?.filepath ?? '');
    if (code === 'InternalError' && /GitTree/.test(data?.message ?? '')) {
      throw new SourceError(
        `commit ${at.commit.slice(0, 12)}: the tree of ${prefix || '.'} is malformed (${data?.message}); refusing the revision`,
      );
    }
    throw error;
  }
  const seen = new Set<string>();
  for (const entry of read.tree) {
    assertSafeName(at, entry, prefix);
    if (seen.has(entry.path)) {
      throw new SourceError(
        `commit ${at.commit.slice(0, 12)}: "${join(prefix, entry.path)}" appears twice in one folder of the tree ` +
          '(a crafted tree object; git fsck calls it duplicateEntries); refusing the revision',
      );
    }
    seen.add(entry.path);
  }
  return read;
}

/** Git itself refuses such names, but a crafted tree object can hold anything. */
export function assertSafeName(at: Pick<TreeAt, 'commit'>, entry: TreeEntry, prefix: string): void {
  const name = entry.path;
  if (
    name === '' ||
    name === '.' ||
    name === '..' ||
    isDotGit(name) ||
    name.includes('/') ||
    name.includes('\\') ||
    name.includes('\0')
  ) {
    throw badName(at, prefix, name);
  }
}

/** `.git` as git's fsck sees it: any case, trailing dots and spaces ignored (NTFS, HFS+ aliases). */
export function isDotGit(name: string): boolean {
  return name.toLowerCase().replace(/[. ]+$/, '') === '.git';
}

function badName(at: Pick<TreeAt, 'commit'>, prefix: string, name: string): SourceError {
  return new SourceError(
    `commit ${at.commit.slice(0, 12)}: tree entry "${join(prefix, name)}" is not a valid file name ` +
      '(".git" in any case, ".", "..", empty, or holding "/", "\\" or NUL); refusing the revision',
  );
}

function join(prefix: string, name: string): string {
  return prefix ? `${prefix}/${name}` : name;
}

/**
 * Every symlink under the manifest folder is refused: following one could read outside the
 * repository, and silently skipping a symlinked folder would drop its objects (and prune them).
 */
async function checkSymlink(entry: TreeEntry, path: string, input: ReadFilesInput): Promise<never> {
  const { blob } = await readBlob({ fs, gitdir: input.gitdir, oid: entry.oid, cache: input.cache });
  const target = Buffer.from(blob).toString('utf8');
  const resolved = posix.normalize(posix.join(posix.dirname(path), target));
  const outside = posix.isAbsolute(target) || resolved === '..' || resolved.startsWith('../');
  throw new SourceError(
    outside
      ? `${path} is a symlink to "${target}", outside the repository; refusing the revision`
      : `${path} is a symlink to "${target}"; symlinks are not followed, commit the files themselves`,
  );
}
