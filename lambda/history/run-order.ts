/**
 * How both stores order runs: newest `startedAt` first, then (same millisecond) by app and
 * `runId`, both descending. Keys and sort columns hold `startedAt` normalised to
 * `Date#toISOString`, whose text order is time order whatever format the caller used.
 */
export function sortableTime(startedAt: string): string {
  const ms = Date.parse(startedAt);
  if (Number.isNaN(ms))
    throw new Error(`SyncRecord.startedAt is not a timestamp: ${JSON.stringify(startedAt)}`);
  return new Date(ms).toISOString();
}
