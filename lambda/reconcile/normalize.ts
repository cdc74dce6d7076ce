/**
 * What the desired object is sent as, where sending it as written would mislead the server (after
 * Flux's ssa `normalize.go`). A Secret's `stringData` is write-only: the server merges it into
 * `data` and forgets it, so server-side apply never sees a key leave `stringData`, and the key
 * stays in the cluster (kubernetes#108008). Sent as `data`, a removed key is removed.
 */
import type { KubeObject } from './types.ts';

/** A copy of `object` ready to apply; the object itself is not changed. */
export function normalizeForApply(object: KubeObject): KubeObject {
  if (object.kind === 'Secret' && object.apiVersion === 'v1') return secretWithDataOnly(object);
  return object;
}

/** `stringData` merged into `data` (base64), `stringData` winning on a shared key, as the API does. */
function secretWithDataOnly(secret: KubeObject): KubeObject {
  const stringData = secret.stringData as Record<string, string> | undefined | null;
  if (stringData === undefined) return secret;
  const { stringData: _dropped, ...rest } = secret;
  const data: Record<string, string> = { ...((secret.data as Record<string, string> | undefined) ?? {}) };
  for (const [key, value] of Object.entries(stringData ?? {})) {
    data[key] = Buffer.from(value, 'utf8').toString('base64');
  }
  return { ...rest, data } as KubeObject;
}
