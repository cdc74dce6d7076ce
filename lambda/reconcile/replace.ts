/**
 * Replace: the escape hatch for a change the API server refuses in place (a Deployment's selector,
 * a Job's template, a Service's clusterIP). Only for objects annotated `driftless.dev/force:
 * enabled` in Git: delete the live object (uid precondition, so only the one that refused is
 * deleted), wait until it is really gone (finalizers run first; bounded), then create it by
 * applying again. Like Flux's `force: true` and Argo CD's `Replace=true`.
 */
import { isNotFound, isSuccess } from '../cluster/api-errors.ts';
import { objectPath, type ResourceInfo } from '../cluster/discovery.ts';
import type { KubeClient } from '../cluster/kube-client.ts';
import { type ApplyOutcome, apiErrorMessage, refOf, sendApply } from './apply.ts';
import { describeRef } from './refs.ts';
import type { KubeObject } from './types.ts';

/** The annotation, in Git, that lets driftless delete and re-create an object. */
export const FORCE_ANNOTATION = 'driftless.dev/force';

/** How long a deleted object may take to go away (its finalizers to run) before the replace fails. */
export const REPLACE_WAIT_MS = 60_000;

export function forceEnabled(object: KubeObject): boolean {
  return object.metadata.annotations?.[FORCE_ANNOTATION] === 'enabled';
}

/**
 * Deletes the live object and creates `body` in its place. `fields` names what could not change
 * in place, for the message.
 */
export async function replaceObject(
  kube: KubeClient,
  info: ResourceInfo,
  body: KubeObject,
  fields: string,
  options: { waitMs?: number; intervalMs?: number } = {},
): Promise<ApplyOutcome> {
  const ref = refOf(body);
  const name = describeRef(ref);
  const path = objectPath(info, ref.name, ref.namespace);
  const live = await kube.request<KubeObject>({ method: 'GET', path });
  if (isSuccess(live)) {
    const uid = live.body.metadata.uid;
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
  const created = await sendApply(kube, info, body, { dryRun: false });
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
