/**
 * Server-side apply of one object: `PATCH` with `application/apply-patch+yaml`, field manager
 * `driftless`, forced ownership. The body is the object's raw JSON (JSON is YAML), so fields the
 * client library does not model (a CRD's `x-kubernetes-*`) reach the server intact.
 */

import {
  type ApiStatus,
  immutableFields,
  isConnectionBroken,
  isSuccess,
  KubeApiError,
} from '../cluster/api-errors.ts';
import { objectPath, type ResourceInfo } from '../cluster/discovery.ts';
import type { KubeClient, KubeResponse } from '../cluster/kube-client.ts';
import { describeRef } from './refs.ts';
import { checkRecreate, FORCE_ANNOTATION, forceEnabled, replaceObject } from './replace.ts';
import { FIELD_MANAGER, type KubeObject, type ObjectRef } from './types.ts';

export type ApplyOutcome =
  | {
      ok: true;
      object: KubeObject;
      /** The API server's `Warning` headers (deprecations, unknown or duplicate fields). */
      warnings: string[];
      /** Said in the object's message: e.g. that it was deleted and re-created. */
      note?: string;
    }
  | { ok: false; status: number; message: string };

/**
 * Applies `body` (or, with `dryRun`, asks what applying it would give). Never throws for an HTTP
 * status: a rejection comes back as `{ ok: false, message }` naming the object and the reason,
 * and so does a request whose connection kept breaking while the server answers others. A change
 * to an immutable field of an object annotated `driftless.dev/force: enabled` deletes and
 * re-creates it (replace.ts); a dry run says it would.
 */
export async function applyObject(
  kube: KubeClient,
  info: ResourceInfo,
  body: KubeObject,
  /** `signal`: aborted when the run must stop writing (a replace then deletes nothing). */
  options: { dryRun: boolean; fieldValidation?: 'Strict'; signal?: AbortSignal },
): Promise<ApplyOutcome> {
  let res: KubeResponse<KubeObject | ApiStatus>;
  try {
    res = await sendApply(kube, info, body, options);
  } catch (error) {
    if (!isConnectionBroken(error)) throw error;
    return { ok: false, status: 0, message: `${describeRef(refOf(body))}: ${(error as Error).message}` };
  }
  if (isSuccess(res)) return { ok: true, object: res.body as KubeObject, warnings: res.warnings ?? [] };
  const immutable = immutableFields(res);
  if (immutable && forceEnabled(body)) {
    const fields = immutable.length > 0 ? immutable.join(', ') : 'an immutable field';
    if (options.dryRun) {
      // Only a replace whose create would pass counts as passed (replace.ts checks again).
      const recreate = await checkRecreate(kube, info, body, fields, options.fieldValidation);
      if (!recreate.ok) return recreate;
      return {
        ok: true,
        object: body,
        warnings: res.warnings ?? [],
        note: `${fields} cannot change in place: would be deleted and re-created (${FORCE_ANNOTATION}: enabled)`,
      };
    }
    return replaceObject(kube, info, body, fields, {
      fieldValidation: options.fieldValidation,
      signal: options.signal,
    });
  }
  return { ok: false, status: res.status, message: apiErrorMessage(refOf(body), res.status, res.body) };
}

/** The server-side apply request itself: forced, as field manager `driftless`. */
export function sendApply(
  kube: KubeClient,
  info: ResourceInfo,
  body: KubeObject,
  options: { dryRun: boolean; fieldValidation?: 'Strict' },
): Promise<KubeResponse<KubeObject | ApiStatus>> {
  return kube.request<KubeObject | ApiStatus>({
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
}

export function refOf(object: KubeObject): ObjectRef {
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    name: object.metadata.name,
    namespace: object.metadata.namespace,
  };
}

/**
 * `Deployment ns/web: <what to fix>`. A change to an immutable field gets a message that says
 * which field and how to let driftless re-create the object; other errors carry the API's reason.
 * A Secret's rejection never carries the API's text: it may quote a value.
 */
export function apiErrorMessage(ref: ObjectRef, status: number, body: unknown): string {
  const name = describeRef(ref);
  const error = new KubeApiError(status, body);
  const parsed = (body && typeof body === 'object' ? body : {}) as ApiStatus;
  const text = parsed.message ?? (typeof body === 'string' && body ? body.slice(0, 500) : `HTTP ${status}`);
  const isSecret = ref.kind === 'Secret';
  const immutable = immutableFields(error);
  if (immutable) {
    const what = immutable.length > 0 ? immutable.join(', ') : 'a field';
    const api = isSecret ? '' : ` (API: ${text})`;
    return `${name}: ${what} is immutable and cannot be changed in place; annotate the object ${FORCE_ANNOTATION}: enabled to let driftless delete and re-create it${api}`;
  }
  const reason = parsed.reason ? `${parsed.reason} (HTTP ${status})` : `HTTP ${status}`;
  const missing = missingNamespace(parsed);
  if (missing)
    return `${name}: ${reason}: namespaces "${missing}" not found; create it first: add a Namespace manifest to the app, or set createNamespace: true for the app`;
  if (isSecret) {
    // The API quotes rejected values ("expected string, got &value...{Value:987654321}"): keep
    // only the field paths, never a Secret's value.
    const fields = (parsed.details?.causes ?? []).map((c) => c.field).filter(Boolean);
    const where = fields.length > 0 ? ` at ${fields.join(', ')}` : '';
    return `${name}: ${reason}: the API server rejected the Secret${where} (its message is withheld: it may quote a Secret value)`;
  }
  return `${name}: ${reason}: ${text}`;
}

/** The namespace a NotFound answer says is missing (the object's own namespace). */
function missingNamespace(status: ApiStatus): string | undefined {
  const details = status.details as { kind?: string; name?: string } | undefined;
  return status.reason === 'NotFound' && details?.kind === 'namespaces' ? details.name : undefined;
}
