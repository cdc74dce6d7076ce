/**
 * A run stops writing when its signal is aborted (the lease was lost or reached its deadline, see
 * history/lease.ts). A write is then not started, and one the lease's guard on the client refused
 * mid-way (its deadline timer had not fired yet) was not written either: both are `STOPPED`, for
 * the caller to report the object `skipped`.
 */
export const STOPPED = Symbol('stopped');

/** Runs `write` unless the run must stop writing; `STOPPED` when it did not or could not. */
export async function unlessStopped<T>(
  signal: AbortSignal | undefined,
  write: () => Promise<T>,
): Promise<T | typeof STOPPED> {
  if (signal?.aborted) return STOPPED;
  try {
    return await write();
  } catch (error) {
    if (signal?.aborted) return STOPPED;
    throw error;
  }
}

/** Why the run stopped writing, for an object's message. */
export function stopReason(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason.message : 'the run stopped writing';
}
