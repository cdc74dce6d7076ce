/**
 * The lines of a config error: each bad setting by path (`apps[0].repo`), an unknown key with the
 * nearest known key (`did you mean "selfHeal"?`), and, for a file, the line and column of the
 * setting, so a typo is found without reading the schema.
 */
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';

/** Where a setting sits in the config file: `(line 5, column 5)`, or nothing for a config object. */
export type Locate = (path: PropertyKey[], key?: string) => string | undefined;

/** One line per issue, as `  apps[0].selfheal...: message (line L, column C)`. */
export function issueLines(issues: z.core.$ZodIssue[], schema: z.ZodType, locate?: Locate): string[] {
  return issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(schema, issue.path);
      return issue.keys.map((key) => {
        const nearest = nearestKey(key, known);
        const hint = nearest
          ? `; did you mean "${nearest}"?`
          : known.length
            ? `; known keys: ${known.join(', ')}`
            : '';
        return line(issue.path, `Unrecognized key: "${key}"${hint}`, locate?.(issue.path, key));
      });
    }
    return [line(issue.path, issue.message, locate?.(issue.path))];
  });
}

function line(path: PropertyKey[], message: string, at: string | undefined): string {
  return `  ${formatPath(path)}: ${message}${at ? ` (${at})` : ''}`;
}

export function formatPath(path: PropertyKey[]): string {
  return (
    path.reduce<string>(
      (out, key) =>
        typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key),
      '',
    ) || '(root)'
  );
}

/**
 * Parses YAML keeping positions: the plain value and a `locate` for its settings. Throws the
 * parser's own error (it carries line and column) when the text is not one YAML document.
 */
export function parseWithPositions(text: string): { value: unknown; locate: Locate } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, lineCounter });
  const [first] = doc.errors;
  if (first) throw first;
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `line ${line}, column ${col}`;
  };
  const locate: Locate = (path, key) => {
    // A missing setting has no node: point at the nearest enclosing one that exists.
    for (let depth = path.length; depth >= 0; depth--) {
      const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
      if (key !== undefined && depth === path.length && isMap(node)) {
        const pair = node.items.find((item) => isScalar(item.key) && item.key.value === key);
        const range = isScalar(pair?.key) ? pair.key.range : undefined;
        if (range) return at(range[0]);
      }
      const range = (node as { range?: [number, number, number] } | null)?.range;
      if (range) return at(range[0]);
    }
    return undefined;
  };
  return { value: doc.toJS(), locate };
}

/** The keys the schema knows for the object at `path` (through arrays, optionals, unions). */
function knownKeys(schema: z.ZodType, path: PropertyKey[]): string[] {
  let nodes = [schema as unknown];
  for (const key of path) nodes = nodes.flatMap((node) => childrenOf(unwrap(node), key));
  return [...new Set(nodes.flatMap((node) => shapeKeys(unwrap(node))))];
}

type Def = {
  type: string;
  innerType?: unknown;
  in?: unknown;
  shape?: Record<string, unknown>;
  element?: unknown;
  options?: unknown[];
  valueType?: unknown;
};
const defOf = (node: unknown): Def | undefined => (node as { _zod?: { def: Def } })?._zod?.def;

function unwrap(node: unknown): unknown {
  for (;;) {
    const def = defOf(node);
    if (def?.innerType !== undefined) node = def.innerType;
    else if (def?.type === 'pipe') node = def.in;
    else return node;
  }
}

function childrenOf(node: unknown, key: PropertyKey): unknown[] {
  const def = defOf(node);
  if (!def) return [];
  if (def.type === 'union') return (def.options ?? []).flatMap((option) => childrenOf(unwrap(option), key));
  if (def.type === 'object') return typeof key === 'string' && def.shape?.[key] ? [def.shape[key]] : [];
  if (def.type === 'array') return [def.element];
  if (def.type === 'record') return [def.valueType];
  return [];
}

function shapeKeys(node: unknown): string[] {
  const def = defOf(node);
  if (def?.type === 'union') return (def.options ?? []).flatMap((option) => shapeKeys(unwrap(option)));
  return def?.type === 'object' ? Object.keys(def.shape ?? {}) : [];
}

/** The known key closest to `key` (case ignored), when it is close enough to be a typo of it. */
export function nearestKey(key: string, known: string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (!best || distance < best.distance) best = { key: candidate, distance };
  }
  return best && best.distance <= Math.max(2, Math.floor(key.length / 3)) ? best.key : undefined;
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        value = Math.min(value, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = value;
    }
  }
  return rows[a.length]![b.length]!;
}
