/**
 * What a user sees of a change: a unified YAML diff of live -> desired with the noise the API
 * server adds removed, and Secret values masked. Like Flux's ssa `normalize.go` + the masking of
 * `SanitizeUnstructuredData`: a changed Secret value shows as `*** (before)` -> `*** (after)`,
 * an unchanged one as `***`, so a reader sees which keys changed and never a value.
 */
import { isDeepStrictEqual } from 'node:util';
import { createTwoFilesPatch } from 'diff';
import { stringify } from 'yaml';
import { describeRef } from './refs.ts';
import type { KubeObject, ObjectRef } from './types.ts';

const NOISY_METADATA = [
  'managedFields',
  'resourceVersion',
  'generation',
  'uid',
  'creationTimestamp',
  'selfLink',
];
/** kubectl's client-side apply copy of the whole object: noise, and it would carry Secret values. */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * A copy without server-owned noise: managedFields, resourceVersion, generation, uid, timestamps,
 * status. Shallow: only the top level, `metadata` and its annotations are new objects; the rest
 * is shared with `object`, so neither may be changed through the other.
 */
export function normalize(object: KubeObject): KubeObject {
  // Canonical top-level order, so a LIST item and a PATCH answer render alike.
  const { apiVersion, kind, metadata, status: _status, ...rest } = object;
  const meta: Record<string, unknown> = { ...metadata };
  for (const key of NOISY_METADATA) delete meta[key];
  const annotations = metadata.annotations;
  if (annotations && LAST_APPLIED in annotations) {
    const { [LAST_APPLIED]: _lastApplied, ...kept } = annotations;
    if (Object.keys(kept).length === 0) delete meta.annotations;
    else meta.annotations = kept;
  } else if (annotations && Object.keys(annotations).length === 0) {
    delete meta.annotations;
  }
  return { apiVersion, kind, metadata: meta as KubeObject['metadata'], ...rest };
}

/** True when two objects are the same once noise is removed. */
export function sameObject(a: KubeObject, b: KubeObject): boolean {
  return isDeepStrictEqual(normalize(a), normalize(b));
}

function isSecret(object: KubeObject | undefined): boolean {
  return object?.kind === 'Secret' && (object.apiVersion === 'v1' || object.apiVersion === '');
}

/** Masks `data` and `stringData` values of a Secret pair, keeping which keys changed visible. */
export function maskSecretPair(
  before: KubeObject | undefined,
  after: KubeObject | undefined,
): [KubeObject | undefined, KubeObject | undefined] {
  if (!isSecret(before) && !isSecret(after)) return [before, after];
  const b = before && structuredClone(before);
  const a = after && structuredClone(after);
  for (const field of ['data', 'stringData']) {
    const bv = b?.[field] as Record<string, unknown> | undefined;
    const av = a?.[field] as Record<string, unknown> | undefined;
    for (const key of new Set([...Object.keys(bv ?? {}), ...Object.keys(av ?? {})])) {
      const changed = bv?.[key] !== av?.[key];
      if (bv && key in bv) bv[key] = changed ? '*** (before)' : '***';
      if (av && key in av) av[key] = changed ? '*** (after)' : '***';
    }
  }
  return [b, a];
}

/**
 * Unified diff of `live` -> `desired` (either may be absent: creation or deletion), or
 * `undefined` when they are the same once noise is removed.
 */
export function renderDiff(
  ref: ObjectRef,
  live: KubeObject | undefined,
  desired: KubeObject | undefined,
): string | undefined {
  const [before, after] = maskSecretPair(live && normalize(live), desired && normalize(desired));
  if (isDeepStrictEqual(before, after)) return undefined;
  const name = describeRef(ref);
  return createTwoFilesPatch(
    `live/${name}`,
    `desired/${name}`,
    before ? stringify(before) : '',
    after ? stringify(after) : '',
    undefined,
    undefined,
    { context: 3 },
  );
}
