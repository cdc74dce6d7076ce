/**
 * Turns parsed manifests into apply-ready objects, or refuses the whole set before any write:
 * every kind must be served (or defined by a CRD in the same set), namespaced objects get the
 * app's default namespace, cluster-scoped objects must not name one, and no object may appear twice.
 */
import { type Discovery, type ResourceInfo, splitApiVersion } from '../cluster/discovery.ts';
import { isCrd, kindsDefinedBy } from './crds.ts';
import { ignoreProblem } from './ignore.ts';
import { normalizeForApply } from './normalize.ts';
import { withAppLabel } from './ownership.ts';
import { describeRef, identityKey, refKey } from './refs.ts';
import { isNamespace, stageOf } from './stages.ts';
import { APP_LABEL, type AppScope, type DesiredObject, type KubeObject, type ObjectRef } from './types.ts';

/** One desired object, ready to plan and apply. */
export interface PlannedObject {
  ref: ObjectRef;
  key: string;
  /** The apply body: the manifest with its namespace defaulted and the app label added. */
  body: KubeObject;
  info: ResourceInfo;
  stage: number;
  /** Its kind is served only once a CRD of this same run is Established. */
  awaitsCrd: boolean;
  origin: DesiredObject['origin'];
  /** Said in the object's result message, e.g. that a namespace was dropped. */
  note?: string;
}

export type Validation = { ok: true; objects: PlannedObject[] } | { ok: false; errors: string[] };

/** Kubernetes label value syntax: the app name becomes the value of the ownership label. */
const LABEL_VALUE = /^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function where(origin: DesiredObject['origin']): string {
  return `${origin.file} (document ${origin.document}${origin.item !== undefined ? ` item ${origin.item}` : ''})`;
}

export async function validateDesired(
  desired: DesiredObject[],
  discovery: Discovery,
  options: { app: string; defaultNamespace: string; scope?: AppScope },
): Promise<Validation> {
  const errors: string[] = [];
  if (!LABEL_VALUE.test(options.app)) {
    errors.push(
      `app name "${options.app}" is not a valid label value (${APP_LABEL}): up to 63 letters, digits, '-', '_', '.', starting and ending alphanumeric`,
    );
  }
  const objects: PlannedObject[] = [];
  const seen = new Map<string, DesiredObject['origin']>();
  const pendingKinds = desired.filter((d) => isCrd(d.object)).flatMap((d) => kindsDefinedBy(d.object));

  for (const item of desired) {
    const { object, origin } = item;
    if (!object?.apiVersion || !object.kind || !object.metadata?.name) {
      errors.push(`${where(origin)}: apiVersion, kind and metadata.name are required`);
      continue;
    }
    let info = await discovery.resolve(object.apiVersion, object.kind);
    let awaitsCrd = false;
    if (!info) {
      info = pendingKinds.find((k) => k.apiVersion === object.apiVersion && k.kind === object.kind);
      awaitsCrd = info !== undefined;
    }
    if (!info) {
      const { group } = splitApiVersion(object.apiVersion);
      const served = await discovery.servedVersions(group);
      const hint =
        served.length > 0 ? `; the server serves ${group || 'core'} versions ${served.join(', ')}` : '';
      errors.push(
        `${where(origin)}: ${object.kind} ${object.metadata.name}: unknown kind ${object.kind} in ${object.apiVersion}${hint}`,
      );
      continue;
    }
    const secretProblem = secretValueProblem(object);
    if (secretProblem) {
      errors.push(`${where(origin)}: Secret ${object.metadata.name}: ${secretProblem}`);
      continue;
    }
    const ignoreBad = ignoreProblem(object);
    if (ignoreBad) {
      errors.push(`${where(origin)}: ${object.kind} ${object.metadata.name}: ${ignoreBad}`);
      continue;
    }
    const body = normalizeForApply(withAppLabel(object, options.app));
    let note: string | undefined;
    if (info.namespaced) {
      body.metadata.namespace = object.metadata.namespace || options.defaultNamespace;
    } else if (object.metadata.namespace) {
      // The API server ignores it, and kubectl applies such files (ingress-nginx's IngressClass).
      note = `${object.kind} ${object.metadata.name} is cluster-scoped: namespace "${object.metadata.namespace}" in ${where(origin)} was ignored`;
      delete body.metadata.namespace;
    }
    const ref: ObjectRef = { apiVersion: object.apiVersion, kind: object.kind, name: object.metadata.name };
    if (info.namespaced) ref.namespace = body.metadata.namespace;
    const key = refKey(ref);
    const first = seen.get(identityKey(ref));
    if (first) {
      errors.push(`${where(origin)}: duplicate ${describeRef(ref)}, already defined in ${where(first)}`);
      continue;
    }
    seen.set(identityKey(ref), origin);
    const outside = options.scope ? outsideScope(ref, options.scope) : undefined;
    if (outside) {
      errors.push(`${where(origin)}: ${describeRef(ref)} is outside the app's scope: ${outside}`);
      continue;
    }
    objects.push({ ref, key, body, info, stage: stageOf(ref.apiVersion, ref.kind), awaitsCrd, origin, note });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, objects };
}

/** Why `ref` is outside `scope` (naming the setting to change), or `undefined` when it is inside. */
export function outsideScope(ref: ObjectRef, scope: AppScope): string | undefined {
  const allows = (list: string[], value: string) => list.includes('*') || list.includes(value);
  const listed = (list: string[]) => `[${list.join(', ')}]`;
  if (ref.namespace !== undefined && !allows(scope.namespaces, ref.namespace)) {
    return `namespace "${ref.namespace}" is not in scope.namespaces ${listed(scope.namespaces)}; add it to the app's scope.namespaces in the deploy config`;
  }
  if (ref.namespace === undefined && !allows(scope.clusterKinds, ref.kind)) {
    return `cluster-scoped kind ${ref.kind} is not in scope.clusterKinds ${listed(scope.clusterKinds)}; add it to the app's scope.clusterKinds in the deploy config`;
  }
  if (isNamespace(ref) && !allows(scope.namespaces, ref.name)) {
    return `Namespace "${ref.name}" is not in scope.namespaces ${listed(scope.namespaces)}; add it to the app's scope.namespaces in the deploy config`;
  }
  return undefined;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * A Secret whose values the API server would reject: its error message would quote the value.
 * Caught here, the error names the key only.
 */
function secretValueProblem(object: KubeObject): string | undefined {
  if (object.kind !== 'Secret' || object.apiVersion !== 'v1') return undefined;
  for (const field of ['data', 'stringData'] as const) {
    const values = object[field];
    if (values === undefined || values === null) continue;
    if (typeof values !== 'object' || Array.isArray(values))
      return `${field} must be a map of keys to strings`;
    for (const [key, value] of Object.entries(values as Record<string, unknown>)) {
      if (typeof value !== 'string') {
        return `${field}.${key} must be a string (quote it in YAML); the value is not shown`;
      }
      if (
        field === 'data' &&
        (value.replace(/\s/g, '').length % 4 !== 0 || !BASE64.test(value.replace(/\s/g, '')))
      ) {
        return `data.${key} is not valid base64 (use stringData for plain text); the value is not shown`;
      }
    }
  }
  return undefined;
}
