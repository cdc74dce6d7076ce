/**
 * Tree objects git itself would never write (a name twice, `.GIT`, a gitlink), made with
 * `git hash-object -t tree --literally` straight in a test server's bare repository, the way an
 * attacker who can push crafts them. The new commit goes on top of the branch and is pushed as is.
 */
import { execFile } from 'node:child_process';
import type { GitRepo } from '../support/git-server.ts';

export interface CraftedEntry {
  /** Git's mode as written in the tree: `100644`, `120000`, `40000`, `160000`. */
  mode: string;
  name: string;
  oid: string;
}

/** Runs git in the bare repository with `input` on standard input; resolves with trimmed stdout. */
function gitIn(bareDir: string, args: string[], input?: Buffer | string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('git', ['-C', bareDir, ...args], (error, stdout) =>
      error ? reject(error) : resolve(stdout.trim()),
    );
    // A command that reads no input may exit before it is written: its EPIPE is not a failure.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

export function writeBlob(repo: Pick<GitRepo, 'bareDir'>, content: string): Promise<string> {
  return gitIn(repo.bareDir, ['hash-object', '-w', '--stdin'], content);
}

/** Writes the tree exactly as given: no sorting, no duplicate or name checks. */
export function writeTree(repo: Pick<GitRepo, 'bareDir'>, entries: CraftedEntry[]): Promise<string> {
  const body = Buffer.concat(
    entries.map((entry) =>
      Buffer.concat([Buffer.from(`${entry.mode} ${entry.name}\0`), Buffer.from(entry.oid, 'hex')]),
    ),
  );
  return gitIn(repo.bareDir, ['hash-object', '-w', '-t', 'tree', '--literally', '--stdin'], body);
}

/** The root entries of the branch's head commit. */
export async function headEntries(repo: Pick<GitRepo, 'bareDir'>, branch = 'main'): Promise<CraftedEntry[]> {
  const listing = await gitIn(repo.bareDir, ['ls-tree', branch]);
  return listing
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [meta, name] = line.split('\t') as [string, string];
      const [mode, , oid] = meta.split(' ') as [string, string, string];
      return { mode: mode === '040000' ? '40000' : mode, name, oid };
    });
}

/** A commit on top of the branch whose root tree is the head's plus `extra`; returns its SHA. */
export async function craftCommit(
  repo: Pick<GitRepo, 'bareDir'>,
  extra: CraftedEntry[],
  branch = 'main',
): Promise<string> {
  const tree = await writeTree(repo, [...(await headEntries(repo, branch)), ...extra]);
  const parent = await gitIn(repo.bareDir, ['rev-parse', branch]);
  const commit = await gitIn(repo.bareDir, [
    '-c',
    'user.name=attacker',
    '-c',
    'user.email=attacker@example.com',
    'commit-tree',
    tree,
    '-p',
    parent,
    '-m',
    'crafted tree',
  ]);
  await gitIn(repo.bareDir, ['update-ref', `refs/heads/${branch}`, commit]);
  return commit;
}
