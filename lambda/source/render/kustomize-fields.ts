/**
 * Every kustomization field that makes Kustomize read a file, a folder or a URL, as a table: one
 * row per field, saying where its entries are and how they are loaded. Each of these fields was
 * seen to fetch an `http://` entry with kubectl 1.33 (Kustomize v5.6), not only `resources`.
 */

/** How Kustomize loads a field's entries. */
export type FieldRole =
  /** A file, or a kustomization folder (cloned when it is a git URL). */
  | 'base'
  /** A file (fetched when it is an http(s) URL), or an inline patch. */
  | 'file'
  /** Plugin configurations: inline YAML, a file of them, or a kustomization folder building them. */
  | 'plugin'
  /** Never rendered by driftless (Kustomize's Helm support needs `--enable-helm`). */
  | 'refused';

export interface FieldRow {
  field: string;
  role: FieldRole;
  /** The entries (strings) of the field's value. */
  entries: (value: unknown) => string[];
}

const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((item) => typeof item === 'string') : [];

const items = (value: unknown): Record<string, unknown>[] =>
  Array.isArray(value) ? value.filter(isRecord) : [];

/** `path` of each item (`patches`, `patchesJson6902`, `replacements`). */
const itemPaths = (value: unknown): string[] => items(value).flatMap((item) => strings([item.path]));

/** A generator's `files` (`[key=]path`: both the whole entry and the path), `envs` and `env`. */
const generatorFiles = (value: unknown): string[] =>
  items(value).flatMap((item) => [
    ...strings(item.files).flatMap((entry) => {
      const at = entry.indexOf('=');
      return at > 0 ? [entry, entry.slice(at + 1)] : [entry];
    }),
    ...strings(item.envs),
    ...strings([item.env]),
  ]);

const present = (value: unknown): string[] =>
  value === undefined || value === null || (Array.isArray(value) && value.length === 0) ? [] : [''];

export const KUSTOMIZATION_FIELDS: readonly FieldRow[] = [
  { field: 'resources', role: 'base', entries: strings },
  { field: 'bases', role: 'base', entries: strings },
  { field: 'components', role: 'base', entries: strings },
  { field: 'generators', role: 'plugin', entries: strings },
  { field: 'transformers', role: 'plugin', entries: strings },
  { field: 'validators', role: 'plugin', entries: strings },
  { field: 'crds', role: 'file', entries: strings },
  { field: 'configurations', role: 'file', entries: strings },
  { field: 'patchesStrategicMerge', role: 'file', entries: strings },
  { field: 'patches', role: 'file', entries: itemPaths },
  { field: 'patchesJson6902', role: 'file', entries: itemPaths },
  { field: 'replacements', role: 'file', entries: itemPaths },
  { field: 'openapi', role: 'file', entries: (value) => (isRecord(value) ? strings([value.path]) : []) },
  { field: 'configMapGenerator', role: 'file', entries: generatorFiles },
  { field: 'secretGenerator', role: 'file', entries: generatorFiles },
  { field: 'helmCharts', role: 'refused', entries: present },
  { field: 'helmChartInflationGenerator', role: 'refused', entries: present },
];

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
