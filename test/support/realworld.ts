/**
 * Where the released manifests of public projects live: `../shared/realworld` beside the
 * repository (they are not in it), or `DRIFTLESS_REALWORLD_DIR`. On a clone without them the tests
 * that need them are skipped, and the run says why once (not once per test file).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REALWORLD =
  process.env.DRIFTLESS_REALWORLD_DIR ||
  resolve(import.meta.dirname, '..', '..', '..', 'shared', 'realworld');

/** True where the release sets are missing: `describe.skipIf(realworldAbsent)`. */
export const realworldAbsent = !existsSync(REALWORLD);

export const REALWORLD_SKIP_REASON =
  `skipping the tests on released manifests: ${REALWORLD} does not exist ` +
  '(the release sets live beside the repository in ../shared/realworld; set DRIFTLESS_REALWORLD_DIR to another copy)';

if (realworldAbsent) noteOnce();

/** Test files run in worker processes of one runner: the first worker to claim the note prints it. */
function noteOnce(): void {
  try {
    writeFileSync(join(tmpdir(), `driftless-realworld-note-${process.ppid}`), '', { flag: 'wx' });
    process.stderr.write(`\n${REALWORLD_SKIP_REASON}\n`);
  } catch {
    // Already printed by another test file of this run.
  }
}
