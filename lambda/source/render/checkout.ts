/**
 * A renderer reads files, so it gets a checkout: the commit's whole tree written into a fresh
 * folder (Kustomize overlays reach `../base`, a chart's values files may live elsewhere in the
 * repository). Written from the object store, never from a work tree, within bounds; a symlink
 * is written only when it stays inside the repository, so no renderer reads outside it.
 */
import * as fs from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { readBlob, readTree } from 'isomorphic-git';
import pLimit from 'p-limit';
import { SourceError } from '../errors.ts';
import { assertSafeName, MODE_SUBMODULE, MODE_SYMLINK, MODE_TREE } from '../tree.ts';

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

/** Writes every file of `commit` under `dir`. Throws {@link SourceError} past a bound or at an escaping symlink. */
export async function checkout(input: CheckoutInput): Promise<void> {
  const limits = input.limits ?? DEFAULT_CHECKOUT_LIMITS;
  const { gitdir, cache } = input;
  const root = (await readTree({ fs, gitdir, oid: input.commit, cache })).oid;
  const limit = pLimit(WRITE_CONCURRENCY);
  const writes: Promise<void>[] = [];
  let files = 0;
  let bytes = 0;

  const walk = async (oid: string, prefix: string): Promise<void> => {
    const { tree } = await readTree({ fs, gitdir, oid, cache });
    await mkdir(join(input.dir, prefix), { recursive: true });
    for (const entry of tree) {
      assertSafeName(entry, prefix);
      const path = prefix ? `${prefix}/${entry.path}` : entry.path;
      if (entry.mode === MODE_TREE) {
        await walk(entry.oid, path);
        continue;
      }
      if (entry.mode === MODE_SUBMODULE) continue;
      files += 1;
      if (files > limits.maxFiles) {
        throw new SourceError(`the repository holds more than ${limits.maxFiles} files, too many to render`);
      }
      writes.push(
        limit(async () => {
          const { blob } = await readBlob({ fs, gitdir, oid: entry.oid, cache });
          bytes += blob.byteLength;
          if (bytes > limits.maxBytes) {
            throw new SourceError(
              `the repository holds more than ${limits.maxBytes} bytes, too much to render`,
            );
          }
          if (entry.mode === MODE_SYMLINK)
            return writeLink(input.dir, path, Buffer.from(blob).toString('utf8'));
          await writeFile(join(input.dir, path), blob);
        }),
      );
    }
  };
  await walk(root, '');
  const results = await Promise.allSettled(writes);
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}

async function writeLink(dir: string, path: string, target: string): Promise<void> {
  const resolved = posix.normalize(posix.join(posix.dirname(path), target));
  if (posix.isAbsolute(target) || resolved === '..' || resolved.startsWith('../')) {
    throw new SourceError(
      `${path} is a symlink to "${target}", outside the repository; refusing to render the revision`,
    );
  }
  await symlink(target, join(dir, path));
}
