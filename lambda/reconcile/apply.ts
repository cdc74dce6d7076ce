/**
 * Server-side apply of one object: `PATCH` with `application/apply-patch+yaml`, field manager
 * `driftless`, forced ownership. The body is the object's raw JSON (JSON is YAML), so fields the
 * client library does not model (a CRD's `x-kubernetes-*`) reach the server intact.
 */

import { objectPath, type ResourceInfo } from '../cluster/discovery.ts';
import type { KubeClient } from '../cluster/kube-client.ts';
import { describeRef } from './refs.ts';
import { FIELD_MANAGER, type KubeObject, type ObjectRef } from './types.ts';

export type ApplyOutcome =
  | { ok: true; object: KubeObject; warnings: string[] }
  | { ok: false; status: number; message: string };

interface StatusBody {
  kind?: string;
  message?: string;
  reason?: string;
  details?: { causes?: { field?: string; message?: string }[] };
}

/**
 * Applies `body` (or, with `dryRun`, asks what applying it would give). Never throws for an HTTP
 * status: a rejection comes back as `{ ok: false, message }` naming the object and the reason.
 */
export async function applyObject(
  kube: KubeClient,
  info: ResourceInfo,
  body: KubeObject,
  options: { dryRun: boolean; fieldValidation?: 'Strict' },
): Promise<ApplyOutcome> {
  const res = await kube.request<KubeObject | StatusBody>({
    method: 'PATCH',
    path: objectPath(info, body.metadata.name, body.metadata.namespace),
    query: {
      fieldManager: FIELD_MANAGER,
      force: true,
      dryRun: options.dryRun ? 'All' : undefined,
      fieldValidation: options.fieldValidation,
    },
    body: JSON.stringify(body),
    contentType: 'application/apply-patch+yaml',
  });
  if (res.status === 200 || res.status === 201)
    return { ok: true, object: res.body as KubeObject, warnings: res.warnings ?? [] };
  return { ok: false, status: res.status, message: apiErrorMessage(refOf(body), res.status, res.body) };
}

function refOf(object: KubeObject): ObjectRef {
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    name: object.metadata.name,
    namespace: object.metadata.namespace,
  };
}

/**
 * `Deployment ns/web: <what to fix>`. A change to an immutable field gets a message that says
 * which field and that the object must be re-created; other errors carry the API's reason.
 */
export function apiErrorMessage(ref: ObjectRef, status: number, body: unknown): string {
  const name = describeRef(ref);
  const parsed = (body && typeof body === 'object' ? body : {}) as StatusBody;
  const text = parsed.message ?? (typeof body === 'string' && body ? body.slice(0, 500) : `HTTP ${status}`);
  const immutable = (parsed.details?.causes ?? []).filter((c) => /immutable/i.test(c.message ?? ''));
  if (immutable.length > 0 || /field is immutable/i.test(text)) {
    const fields = immutable.map((c) => c.field).filter(Boolean);
    const what = fields.length > 0 ? fields.join(', ') : 'a field';
    return `${name}: ${what} is immutable and cannot be changed in place; delete and re-create the object to change it (API: ${text})`;
  }
  const reason = parsed.reason ? `${parsed.reason} (HTTP ${status})` : `HTTP ${status}`;
  if (ref.kind === 'Secret') {
    // The API quotes rejected values ("expected string, got &value...{Value:987654321}"): keep
    // only the field paths, never a Secret's value.
    const fields = (parsed.details?.causes ?? []).map((c) => c.field).filter(Boolean);
    const where = fields.length > 0 ? ` at ${fields.join(', ')}` : '';
    return `${name}: ${reason}: the API server rejected the Secret${where} (its message is withheld: it may quote a Secret value)`;
  }
  return `${name}: ${reason}: ${text}`;
}
