/**
 * Brings one revision of a remote repository into the local object store: ask the server where
 * the ref points (one `GET info/refs`), and download a shallow single-branch pack only when that
 * commit is not already cached. The revision always comes from the server's current answer, so
 * a force-push is followed and a deleted branch is an error, never a stale cached commit.
 */
import * as fs from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import {
  expandOid,
  fetch,
  type HttpClient,
  init,
  listServerRefs,
  readCommit,
  type ServerRef,
  setConfig,
} from 'isomorphic-git';
import { SourceError } from './errors.ts';

export const FULL_SHA = /^[0-9a-f]{40}$/;
/** An abbreviated commit SHA, as `git log --oneline` and driftless print them. */
export const SHORT_SHA = /^[0-9a-f]{7,39}$/;

export interface FetchRevisionInput {
  /** Repository URL without credentials. */
  url: string;
  /** Branch, tag, full ref or full commit SHA; the remote's default branch when absent. */
  ref?: string;
  gitdir: string;
  headers: Record<string, string>;
  http: HttpClient;
  cache: object;
}

export interface FetchedRevision {
  /** Commit SHA. */
  commit: string;
  /** Full ref name the revision came from (absent for a pinned SHA). */
  fullRef?: string;
  /** Whether a pack was downloaded. */
  fetched: boolean;
}

export async function fetchRevision(input: FetchRevisionInput): Promise<FetchedRevision> {
  const { url, gitdir, cache } = input;
  const ref = input.ref;
  // A pinned commit is immutable: once cached, no request is needed at all.
  if (ref && FULL_SHA.test(ref) && (await peelCommit(gitdir, ref, cache))) {
    return { commit: ref, fetched: false };
  }
  await access(join(gitdir, 'HEAD')).catch(() => initCache(gitdir));

  const refs = await listServerRefs({
    http: input.http,
    url,
    headers: input.headers,
    protocolVersion: 1,
    symrefs: true,
    peelTags: true,
  });
  const wanted =
    ref && FULL_SHA.test(ref)
      ? { fullRef: ref, oid: ref }
      : ((await resolveShortSha(refs, gitdir, ref, cache)) ?? resolveAdvertised(refs, url, ref));
  // isomorphic-git's fetch reads the remote HEAD even for an explicit ref ("Could not find HEAD").
  if (!refs.some((r) => r.ref === 'HEAD')) throw missingHead(url, ref);

  const cached = await peelCommit(gitdir, wanted.oid, cache);
  if (cached) return { commit: cached, fullRef: wanted.fullRef, fetched: false };

  // Shallow (depth 1): the server sends the commit's whole tree even when we hold its parent,
  // because the depth cut hides the common history; for a manifest repo that is a few KiB.
  const result = await fetch({
    fs,
    http: input.http,
    gitdir,
    url,
    ref: wanted.fullRef,
    singleBranch: true,
    depth: 1,
    tags: false,
    headers: input.headers,
    cache,
  });
  const commit = result.fetchHead ? await peelCommit(gitdir, result.fetchHead, cache) : undefined;
  if (!commit && wanted.fullRef === wanted.oid) {
    // upload-pack answers an unknown commit with an empty pack.
    throw new SourceError(`commit ${wanted.oid} not found in ${url}`);
  }
  // Not a SourceError: with a damaged cache (a pack lost, its index kept) the commit can be missing
  // after a fetch that went well; the caller wipes the cache and tries once more.
  if (!commit) throw new Error(`commit ${wanted.oid} for ${ref ?? 'HEAD'} is missing after the fetch`);
  return { commit, fullRef: wanted.fullRef, fetched: true };
}

/** A bare store with the refspec isomorphic-git's fetch needs; the URL (and so any credential) is never stored. */
async function initCache(gitdir: string): Promise<void> {
  await init({ fs, gitdir, bare: true, defaultBranch: 'main' });
  await setConfig({ fs, gitdir, path: 'remote.origin.fetch', value: '+refs/heads/*:refs/remotes/origin/*' });
}

/** Resolves `ref` against the advertisement like git does: full ref, then tag, then branch. */
function resolveAdvertised(
  refs: ServerRef[],
  url: string,
  ref: string | undefined,
): { fullRef: string; oid: string } {
  const byName = new Map(refs.map((r) => [r.ref, r]));
  if (!ref) {
    const head = byName.get('HEAD');
    if (!head) throw missingHead(url, ref);
    const fullRef =
      head.target ?? refs.find((r) => r.ref.startsWith('refs/heads/') && r.oid === head.oid)?.ref;
    return { fullRef: fullRef ?? 'HEAD', oid: head.oid };
  }
  const candidates = ref.startsWith('refs/') ? [ref] : [`refs/tags/${ref}`, `refs/heads/${ref}`];
  for (const name of candidates) {
    const found = byName.get(name);
    if (found) return { fullRef: name, oid: found.peeled ?? found.oid };
  }
  const hint = SHORT_SHA.test(ref)
    ? '; a short SHA must be a branch or tag tip or a commit synced before, otherwise give the full 40-character SHA'
    : '';
  throw new SourceError(`ref "${ref}" not found in ${url}: no such branch or tag (deleted?)${hint}`);
}

/**
 * A short SHA (as the CLI prints them) that is no branch or tag name: the commit of the one
 * advertised ref it abbreviates, else a commit already in the cache (one synced before).
 */
async function resolveShortSha(
  refs: ServerRef[],
  gitdir: string,
  ref: string | undefined,
  cache: object,
): Promise<{ fullRef: string; oid: string } | undefined> {
  if (!ref || !SHORT_SHA.test(ref)) return undefined;
  if (refs.some((r) => r.ref === `refs/heads/${ref}` || r.ref === `refs/tags/${ref}`)) return undefined;
  const tips = refs.filter((r) => r.ref !== 'HEAD' && (r.peeled ?? r.oid).startsWith(ref));
  const commits = new Set(tips.map((r) => r.peeled ?? r.oid));
  const tip = tips[0];
  if (commits.size === 1 && tip) return { fullRef: tip.ref, oid: tip.peeled ?? tip.oid };
  try {
    const oid = await expandOid({ fs, gitdir, oid: ref, cache });
    return { fullRef: oid, oid };
  } catch {
    return undefined;
  }
}

function missingHead(url: string, ref: string | undefined): SourceError {
  const fix =
    'point HEAD at an existing branch (set the default branch in your Git host, or run `git symbolic-ref HEAD refs/heads/<branch>` in the bare repository)';
  return new SourceError(
    ref
      ? `${url}: the remote's HEAD points to a branch that does not exist, and the git client driftless uses cannot fetch from such a remote; ${fix}`
      : `${url}: the remote has no default branch (its HEAD points to a branch that does not exist); set ref, or ${fix}`,
  );
}

/** Returns the commit SHA `oid` peels to (annotated tags are followed), or undefined if not cached. */
async function peelCommit(gitdir: string, oid: string, cache: object): Promise<string | undefined> {
  try {
    return (await readCommit({ fs, gitdir, oid, cache })).oid;
  } catch {
    return undefined;
  }
}
