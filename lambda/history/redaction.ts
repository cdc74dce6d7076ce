/**
 * A defensive last line before a record is stored. The engine already removes Secret values from
 * diffs; the store drops the diff of every Secret outright, so a bug upstream cannot put a Secret
 * value into the history, where it would outlive the run for the record's whole retention.
 */
import type { ResourceResult } from '../reconcile/types.ts';
import type { SyncRecord } from './store.ts';

/** The message a Secret's diff is replaced with: it says that something changed, not what. */
export const SECRET_DIFF_OMITTED = '(diff of a Secret not stored)';

/** Returns the record with the `diff` of every `kind: Secret` resource replaced by a placeholder. */
export function redactRecord(record: SyncRecord): SyncRecord {
  if (!record.resources.some(isSecretWithDiff)) return record;
  return {
    ...record,
    resources: record.resources.map((resource) =>
      isSecretWithDiff(resource) ? { ...resource, diff: SECRET_DIFF_OMITTED } : resource,
    ),
  };
}

function isSecretWithDiff(resource: ResourceResult): boolean {
  return resource.kind === 'Secret' && resource.diff !== undefined;
}
