/** Exit codes and the way a command ends with one once its output is written. */
import type { SyncResult } from '../reconcile/types.ts';

/** Exit codes, as `kubectl diff`. */
export const EXIT = { inSync: 0, outOfSync: 1, failed: 2 } as const;

/** Unwinds to `main` with an exit code once output is written. */
export class ExitSignal extends Error {
  readonly code: number;
  constructor(code: number) {
    super(`exit ${code}`);
    this.code = code;
  }
}

export async function exit(code: number): Promise<never> {
  throw new ExitSignal(code);
}

/** The exit code of a run's outcome: Synced 0, OutOfSync 1, anything else 2. */
export function outcomeExitCode(outcome: SyncResult['outcome'] | string): number {
  if (outcome === 'Synced') return EXIT.inSync;
  if (outcome === 'OutOfSync') return EXIT.outOfSync;
  return EXIT.failed;
}
