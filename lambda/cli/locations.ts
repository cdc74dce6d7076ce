/**
 * Where the CLI keeps its files: the history in the user's state folder, caches (clones, renders,
 * manifests) in the cache folder, as the XDG base directories say; never in the working folder,
 * which may be a repository's work tree. An existing `.driftless/history.db` of the working folder
 * (where older versions kept it) is still read, with a note.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** `$XDG_STATE_HOME/driftless`, else `~/.local/state/driftless`. */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'driftless');
}

/** `DRIFTLESS_CACHE_DIR`, else `$XDG_CACHE_HOME/driftless`, else `~/.cache/driftless`. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DRIFTLESS_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'driftless');
}

/** The Git clones and rendered-output caches of every app. */
export function gitCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheDir(env), 'git');
}

const LEGACY_HISTORY = join('.driftless', 'history.db');
let noted = false;

/**
 * The `--history` value to use: the flag, else the working folder's old `.driftless/history.db`
 * when it exists (said once on stderr), else `sqlite:` the state folder's `history.db`.
 */
export function historySpec(flag: string | undefined, cwd = process.cwd()): string {
  if (flag) return flag;
  const legacy = resolve(cwd, LEGACY_HISTORY);
  if (existsSync(legacy)) {
    if (!noted) {
      noted = true;
      process.stderr.write(
        `driftless: note: reading the history in ${legacy} (the working folder); the default is now ${join(stateDir(), 'history.db')}: move the file there, or pass --history sqlite:${LEGACY_HISTORY}\n`,
      );
    }
    return `sqlite:${legacy}`;
  }
  return `sqlite:${join(stateDir(), 'history.db')}`;
}
