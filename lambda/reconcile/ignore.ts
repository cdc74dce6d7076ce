/**
 * `driftless.dev/ignore: /spec/replicas[,/json/pointer...]` (Flux's drift-ignore rules): once
 * the object exists, the fields at those JSON pointers (RFC 6901) leave the body driftless
 * applies, so driftless neither owns nor heals them and an HPA and Git no longer fight. A field
 * driftless still owns alone keeps its live value instead: left out, server-side apply would
 * remove it (replicas back to 1). Once another manager writes it, it is theirs.
 */
import type { KubeObject } from './types.ts';

export const IGNORE_ANNOTATION = 'driftless.dev/ignore';

/** Pointers that would take away what identifies the object or the app's ownership. */
const PROTECTED = ['/apiVersion', '/kind', '/metadata', '/metadata/name', '/metadata/namespace'];

/** The object's ignored JSON pointers; empty without the annotation. */
export function ignoredPointers(object: KubeObject): string[] {
  const value = object.metadata.annotations?.[IGNORE_ANNOTATION];
  if (value === undefined) return [];
  return value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
}

/** What is wrong with the object's ignore annotation, naming the pointer; undefined when fine. */
export function ignoreProblem(object: KubeObject): string | undefined {
  for (const pointer of ignoredPointers(object)) {
    if (!pointer.startsWith('/'))
      return `${IGNORE_ANNOTATION}: "${pointer}" is not a JSON pointer (write /spec/replicas, comma-separated)`;
    if (PROTECTED.includes(pointer) || pointer.startsWith('/metadata/labels'))
      return `${IGNORE_ANNOTATION}: "${pointer}" cannot be ignored: driftless needs it to identify and own the object`;
  }
  return undefined;
}

/** RFC 6901: `/a~1b/c~0d` -> `['a/b', 'c~d']`. */
export function pointerTokens(pointer: string): string[] {
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

type Json = Record<string, unknown> | unknown[];

function isContainer(value: unknown): value is Json {
  return value !== null && typeof value === 'object';
}

/** The value at `pointer`, or `undefined` when nothing is there. */
export function valueAt(object: unknown, pointer: string): unknown {
  let at: unknown = object;
  for (const token of pointerTokens(pointer)) {
    if (!isContainer(at)) return undefined;
    at = (at as Record<string, unknown>)[token];
  }
  return at;
}

/** A copy of `body` without the fields at `pointers` (missing ones are fine). */
export function withoutFields(body: KubeObject, pointers: string[]): KubeObject {
  const copy = structuredClone(body);
  for (const pointer of pointers) {
    const tokens = pointerTokens(pointer);
    const last = tokens.pop() as string;
    const parent = valueAt(copy, tokens.length > 0 ? `/${tokens.map(escapeToken).join('/')}` : '');
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else if (isContainer(parent)) delete (parent as Record<string, unknown>)[last];
  }
  return copy;
}

/** A copy of `body` with the values `from` has at `pointers` (parents created as objects). */
export function withValuesFrom(body: KubeObject, pointers: string[], from: KubeObject): KubeObject {
  const copy = structuredClone(body);
  for (const pointer of pointers) {
    const value = valueAt(from, pointer);
    if (value === undefined) continue;
    const tokens = pointerTokens(pointer);
    const last = tokens.pop() as string;
    let at: Record<string, unknown> = copy;
    for (const token of tokens) {
      if (!isContainer(at[token])) at[token] = {};
      at = at[token] as Record<string, unknown>;
    }
    at[last] = structuredClone(value);
  }
  return copy;
}

/** The pointers at which `a` and `b` hold different values. */
export function differingAt(a: KubeObject, b: KubeObject, pointers: string[]): string[] {
  return pointers.filter((p) => JSON.stringify(valueAt(a, p)) !== JSON.stringify(valueAt(b, p)));
}

function escapeToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}
