/**
 * Replace: the escape hatch for a change the API server refuses in place (a Deployment's selector,
 * a Job's template, a Service's clusterIP). Only for objects annotated `driftless.dev/force:
 * enabled` in Git: delete the live object (uid precondition, so only the one that refused is
 * deleted), wait until it is really gone (finalizers run first; bounded), then create it by
 * applying again. Like Flux's `force: true` and Argo CD's `Replace=true`. Nothing is deleted
 * before a dry-run create of the exact object shows the create would pass: the 422 that names the
 * immutable field may carry a real validation error too (a selector its pods no longer match),
 * and a delete whose create then fails leaves the workload gone.
 */
import { isAlreadyExists, isNotFound, isSuccess } from '../cluster/api-errors.ts';
import { collectionPath, objectPath, type ResourceInfo } from '../cluster/discovery.ts';
import type { KubeClient } from '../cluster/kube-client.ts';
import { type ApplyOutcome, apiErrorMessage, refOf, sendApply } from './apply.ts';
import { describeRef } from './refs.ts';
import { STOPPED, stopReason, unlessStopped } from './stop.ts';
import { FIELD_MANAGER, type KubeObject } from './types.ts';

/** The annotation, in Git, that lets driftless delete and re-create an object. */
export const FORCE_ANNOTATION = 'driftless.dev/force';

/** How long a deleted object may take to go away (its finalizers to run) before the replace fails. */
export const REPLACE_WAIT_MS = 60_000;

export function forceEnabled(object: KubeObject): boolean {
  return object.metadata.annotations?.[FORCE_ANNOTATION] === 'enabled';
}

/**
 * Whether `body` could be created as it is: a server-side dry-run create. On a name that exists,
 * the server answers 409 AlreadyExists only after validation and admission passed, so 409 (or a
 * success, the object being gone meanwhile) means yes; any other answer is why not, for the
 * object's message. `fields` names what could not change in place.
 */
export async function checkRecreate(
  kube: KubeClient,
  info: ResourceInfo,
  body: KubeObject,
  fields: string,
  fieldValidation?: 'Strict',
): Promise<{ ok: true } | { ok: false; status: number; message: string }> {
  const ref = refOf(body);
  const res = await kube.request({
    method: 'POST',
    path: collectionPath(info, ref.namespace),
    query: { fieldManager: FIELD_MANAGER, dryRun: 'All', fieldValidation },
    body,
  });
  if (isSuccess(res) || isAlreadyExists(res)) return { ok: true };
  const name = describeRef(ref);
  const reason = apiErrorMessage(ref, res.status, res.body);
  return {
    ok: false,
    status: res.status,
    message: `${name}: ${fields} cannot change in place, and it is not deleted to re-create it (${FORCE_ANNOTATION}: enabled): the API server would refuse it as Git has it: ${reason.startsWith(`${name}: `) ? reason.slice(name.length + 2) : reason}`,
  };
}

/**
 * Deletes the live object and creates `body` in its place. `fields` names what could not change
 * in place, for the message. `signal`: aborted when the run must stop writing (its lease); then
 * nothing is deleted (this throws the reason), and an object already deleted is not re-created.
 */
export async function replaceObject(
  kube: KubeClient,
  info: ResourceInfo,
  body: KubeObject,
  fields: string,
  options: { waitMs?: number; intervalMs?: number; fieldValidation?: 'Strict'; signal?: AbortSignal } = {},
): Promise<ApplyOutcome> {
  const ref = refOf(body);
  const name = describeRef(ref);
  const path = objectPath(info, ref.name, ref.namespace);
  const recreate = await checkRecreate(kube, info, body, fields, options.fieldValidation);
  if (!recreate.ok) return recreate;
  const live = await kube.request<KubeObject>({ method: 'GET', path });
  let removed = false;
  if (isSuccess(live)) {
    const uid = live.body.metadata.uid;
    // No DELETE once the run must stop writing: the caller reports the object skipped.
    options.signal?.throwIfAborted();
    const deleted = await kube.request({
      method: 'DELETE',
      path,
      // Background: dependents (a Deployment's ReplicaSets) are collected after, not before.
      body: {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        propagationPolicy: 'Background',
        preconditions: { uid },
      },
    });
    if (!isSuccess(deleted) && !isNotFound(deleted)) {
      return {
        ok: false,
        status: deleted.status,
        message: apiErrorMessage(ref, deleted.status, deleted.body),
      };
    }
    removed = true;
    const gone = await waitGone(kube, path, uid as string, options);
    if (gone !== true) {
      const waitS = (options.waitMs ?? REPLACE_WAIT_MS) / 1000;
      return {
        ok: false,
        status: 0,
        message: `${name}: ${fields} cannot change in place; deleted to re-create it (${FORCE_ANNOTATION}: enabled), but it is still there after ${waitS} s${gone.length > 0 ? ` (finalizers: ${gone.join(', ')})` : ''}; the next run creates it once it is gone`,
      };
    }
  } else if (!isNotFound(live)) {
    return { ok: false, status: live.status, message: apiErrorMessage(ref, live.status, live.body) };
  }
  const created = await unlessStopped(options.signal, () => sendApply(kube, info, body, { dryRun: false }));
  if (created === STOPPED) {
    // Nothing deleted: nothing written (the caller reports it skipped). Deleted: gone until the next run.
    if (!removed) throw options.signal?.reason;
    return {
      ok: false,
      status: 0,
      message: `${name}: deleted to re-create it (${FORCE_ANNOTATION}: enabled), but not re-created: ${stopReason(options.signal)}; the next run creates it`,
    };
  }
  if (!isSuccess(created)) {
    return { ok: false, status: created.status, message: apiErrorMessage(ref, created.status, created.body) };
  }
  return {
    ok: true,
    object: created.body as KubeObject,
    warnings: created.warnings ?? [],
    note: `deleted and re-created: ${fields} cannot change in place (${FORCE_ANNOTATION}: enabled)`,
  };
}

/** True once the object with `uid` is gone; else the finalizers still holding it. */
async function waitGone(
  kube: KubeClient,
  path: string,
  uid: string,
  options: { waitMs?: number; intervalMs?: number },
): Promise<true | string[]> {
  const deadline = Date.now() + (options.waitMs ?? REPLACE_WAIT_MS);
  for (;;) {
    const res = await kube.request<KubeObject>({ method: 'GET', path });
    if (isNotFound(res) || (isSuccess(res) && res.body.metadata.uid !== uid)) return true;
    if (Date.now() >= deadline) {
      return isSuccess(res) ? ((res.body.metadata.finalizers as string[] | undefined) ?? []) : [];
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
  }
}
