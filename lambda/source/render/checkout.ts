/**
 * A renderer reads files, so it gets a checkout: the commit's whole tree written into a fresh
 * folder (Kustomize overlays reach `../base`, a chart's values files may live elsewhere in the
 * repository). Written from the object store, never from a work tree, within bounds, in an order
 * that never writes through a symlink: the whole tree is read and checked first (well-formed names,
 * no submodules, limits), then folders are made parents first, then files with exclusive create,
 * then symlinks; last, every symlink is resolved as the filesystem does and must stay inside.
 */
import * as fs from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readBlob, type TreeEntry } from 'isomorphic-git';
import pLimit from 'p-limit';
import { SourceError } from '../errors.ts';
import { MODE_SUBMODULE, MODE_SYMLINK, MODE_TREE, readTreeEntries, type TreeAt } from '../tree.ts';
import { assertLinksContained } from './contain.ts';

/** Bounds of one checkout. */
export interface CheckoutLimits {
  /** @default 20000 */
  maxFiles: number;
  /** @default 256 MiB */
  maxBytes: number;
}

export const DEFAULT_CHECKOUT_LIMITS: Readonly<CheckoutLimits> = Object.freeze({
  maxFiles: 20_000,
  maxBytes: 256 * 1024 * 1024,
});

export interface CheckoutInput {
  gitdir: string;
  commit: string;
  cache: object;
  /** An empty folder to write into. */
  dir: string;
  limits?: CheckoutLimits;
}

const WRITE_CONCURRENCY = 16;

/** What a checkout writes, in order, once the whole tree passed the checks. */
interface CheckoutPlan {
  /** Folders by depth: `folders[0]` holds the top-level ones. */
  folders: { path: string }[][];
  files: { path: string; oid: string }[];
  links: { path: string; oid: string }[];
}

/**
 * Writes every file of `commit` under `dir`. Throws {@link SourceError} at a malformed tree, a
 * submodule, past a bound, or at a symlink that resolves outside `dir`; by then every write
 * started has ended.
 */
export async function checkout(input: CheckoutInput): Promise<void> {
  const limits = input.limits ?? DEFAULT_CHECKOUT_LIMITS;
  const at: TreeAt = { gitdir: input.gitdir, cache: input.cache, commit: input.commit };
  const plan = await planCheckout(at, limits);

  await mkdir(input.dir, { recursive: true });
  // A level at a time, parents first. Non-recursive: a folder that is there already fails.
  for (const level of plan.folders) {
    await writeAll(level, at, async (folder) => {
      await mkdir(join(input.dir, folder.path));
    });
  }

  let bytes = 0;
  const read = async (oid: string): Promise<Uint8Array> => {
    const { blob } = await readBlob({ fs, gitdir: at.gitdir, oid, cache: at.cache });
    bytes += blob.byteLength;
    if (bytes > limits.maxBytes) {
      throw new SourceError(`the repository holds more than ${limits.maxBytes} bytes, too much to render`);
    }
    return blob;
  };
  await writeAll(plan.files, at, async (file) => {
    // `wx`: never through a link or over a file that is there already.
    await writeFile(join(input.dir, file.path), await read(file.oid), { flag: 'wx' });
  });
  // In tree order, so the error names the same link every time.
  const written = plan.links.map((link) => ({ ...link, target: '' }));
  await writeAll(written, at, async (link) => {
    link.target = Buffer.from(await read(link.oid)).toString('utf8');
    await symlink(link.target, join(input.dir, link.path));
  });
  await assertLinksContained(input.dir, written, at.commit);
}

/** One walk of the tree: every entry checked and counted before anything is written. */
async function planCheckout(at: TreeAt, limits: CheckoutLimits): Promise<CheckoutPlan> {
  const plan: CheckoutPlan = { folders: [], files: [], links: [] };
  let count = 0;
  const walk = async (oid: string, prefix: string, depth: number): Promise<void> => {
    const { tree } = await readTreeEntries(at, oid, prefix);
    for (const entry of tree) {
      const path = prefix ? `${prefix}/${entry.path}` : entry.path;
      if (entry.mode === MODE_TREE) {
        plan.folders[depth] ??= [];
        plan.folders[depth].push({ path });
        await walk(entry.oid, path, depth + 1);
        continue;
      }
      if (entry.mode === MODE_SUBMODULE) throw submodule(at, path, entry);
      count += 1;
      if (count > limits.maxFiles) {
        throw new SourceError(`the repository holds more than ${limits.maxFiles} files, too many to render`);
      }
      (entry.mode === MODE_SYMLINK ? plan.links : plan.files).push({ path, oid: entry.oid });
    }
  };
  await walk(at.commit, '', 0);
  return plan;
}

function submodule(at: TreeAt, path: string, entry: TreeEntry): SourceError {
  return new SourceError(
    `commit ${at.commit.slice(0, 12)}: ${path} is a submodule (gitlink to ${entry.oid.slice(0, 12)}); ` +
      'submodules are not fetched: commit their files in the repository instead',
  );
}

/**
 * Runs `write` for every entry, a few at a time; after the first failure the rest are skipped.
 * Settles every write before throwing, so nothing runs on (or rejects unheard) behind the error.
 */
async function writeAll<T extends { path: string }>(
  entries: T[],
  at: TreeAt,
  write: (entry: T) => Promise<void>,
): Promise<void> {
  const limit = pLimit(WRITE_CONCURRENCY);
  let failed = false;
  const results = await Promise.allSettled(
    entries.map((entry) =>
      limit(async () => {
        if (failed) return;
        try {
          await write(entry);
        } catch (error) {
          failed = true;
          throw asSourceError(error, at, entry.path);
        }
      }),
    ),
  );
  const failure = results.find((result) => result.status === 'rejected');
  if (failure) throw failure.reason;
}

function asSourceError(error: unknown, at: TreeAt, path: string): SourceError {
  if (error instanceof SourceError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  return new SourceError(
    `commit ${at.commit.slice(0, 12)}: cannot write ${path} into the checkout (${code ?? (error as Error).message}); refusing to render the revision`,
    { cause: error },
  );
}
