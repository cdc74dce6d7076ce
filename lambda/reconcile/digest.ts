/**
 * A fingerprint of what driftless applies for one object, stored in the inventory next to the
 * resourceVersion the apply left. When the next run would apply the same body and the live
 * resourceVersion has not moved, applying again cannot change anything, so the run skips the
 * dry-run whatever the revision: a one-file change in a large repo costs requests per kind plus
 * the changed objects, not one dry-run per object.
 */
import { createHash, createHmac } from 'node:crypto';
import type { GitComparison } from './decisions.ts';
import type { InventoryEntry, KubeObject, ObjectRef } from './types.ts';

/** Hex characters kept of the SHA-256: 128 bits, plenty against accidental collisions. */
const DIGEST_HEX_CHARS = 32;

/**
 * `sha256:<32 hex>` of the canonical JSON of `body` (object keys sorted at every level, array
 * order kept), so re-ordering keys in a manifest does not look like a change.
 */
export function digestOf(body: KubeObject): string {
  const known = digests.get(body);
  if (known) return known;
  const hex = createHash('sha256').update(canonicalJson(body)).digest('hex');
  const digest = `sha256:${hex.slice(0, DIGEST_HEX_CHARS)}`;
  digests.set(body, digest);
  return digest;
}

/**
 * Digests by body: a run asks for an object's digest several times (each decision step, then its
 * inventory entry). Planned bodies are never changed in place (ignore.ts and the Secret
 * normalisation make copies), so a body's digest cannot go stale.
 */
const digests = new WeakMap<KubeObject, string>();

/**
 * `hmac-sha256:<32 hex>` of the canonical JSON of `body`, keyed with `key`. For a Secret, keyed
 * with its live object's uid: the state then holds no hash of its data that could be brute-forced
 * offline, since the key is readable only by whoever can read the Secret itself.
 */
export function keyedDigestOf(body: KubeObject, key: string): string {
  const hex = createHmac('sha256', key).update(canonicalJson(body)).digest('hex');
  return `hmac-sha256:${hex.slice(0, DIGEST_HEX_CHARS)}`;
}

/** JSON with the keys of every plain object sorted; what `JSON.stringify` drops it drops too. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, (v as Record<string, unknown>)[k]]),
        )
      : v,
  );
}

/**
 * The digest recorded for an object's body. A Secret's is keyed with its live object's uid
 * (`keyedDigestOf`): an unsalted hash of its data could be brute-forced from the state. Without a live
 * Secret there is none.
 */
export function digestFor(
  object: { ref: ObjectRef; body: KubeObject },
  live: KubeObject | undefined,
): string | undefined {
  if (object.ref.kind !== 'Secret') return digestOf(object.body);
  const uid = live?.metadata.uid as string | undefined;
  return uid ? keyedDigestOf(object.body, uid) : undefined;
}

/** How Git's body now compares with the one recorded for the object (decisions.ts). */
export function gitComparison(
  previous: InventoryEntry | undefined,
  digest: string | undefined,
  /** The same commit rendered with the same inputs as when the entry was recorded. */
  sameRender = false,
): GitComparison {
  if (!previous) return 'new';
  if (previous.digest === undefined) return 'legacy';
  if (digest === undefined) return 'unknown';
  if (previous.digest === digest) return 'same';
  // A verified entry (an unverified one has an empty digest) of the same render's inputs.
  return sameRender && previous.digest !== '' ? 'rerendered' : 'changed';
}
