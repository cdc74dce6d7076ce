/**
 * Manifest loading: turns the files of a revision into desired objects, or fails as a whole.
 * Usable without git (tests, the benchmark): give it `{ path, content }` pairs.
 */
import { posix } from 'node:path';
import { Composer, type Document, isNode, LineCounter, type Node, Parser } from 'yaml';
import type { DesiredObject, KubeObject } from '../reconcile/types.ts';
import { SourceError } from './errors.ts';
import { assertDocumentBounds, expandedSize } from './manifest-bounds.ts';

/** Bounds on what one load may read; every limit fails the load with a message naming it. */
export interface ManifestLimits {
  /** Most manifest files (`*.yaml`, `*.yml`, `*.json`) in one load. @default 1000 */
  maxFiles: number;
  /** Largest single manifest file, in bytes. @default 4 MiB */
  maxFileBytes: number;
  /** All manifest files together, in bytes. @default 32 MiB */
  maxTotalBytes: number;
  /** Most objects in one load, after `kind: List` expansion. @default 10000 */
  maxObjects: number;
  /**
   * YAML alias resolutions allowed per document (the `yaml` package's `maxAliasCount`). A document
   * that uses aliases also counts its expanded size against `maxFileBytes` and `maxTotalBytes`.
   * @default 100
   */
  maxAliasCount: number;
  /**
   * Largest single YAML document, in bytes, checked on the text before parsing. The largest
   * released document seen (kube-prometheus' Grafana dashboards, a `ConfigMapList`) is 1.4 MB;
   * the API server takes no request over 3 MiB. @default 3 MiB
   */
  maxDocumentBytes: number;
  /**
   * Most YAML nodes (scalars, flow collections, aliases) in one document, counted on the text
   * before parsing: the parser holds every node (2 million of them took 2 GB). The largest
   * released document seen (an Argo CD CRD) has about 47,000; 200,000 take about 300 MB to parse.
   * @default 200000
   */
  maxNodes: number;
}

export const DEFAULT_MANIFEST_LIMITS: Readonly<ManifestLimits> = Object.freeze({
  maxFiles: 1000,
  maxFileBytes: 4 * 1024 * 1024,
  maxTotalBytes: 32 * 1024 * 1024,
  maxObjects: 10_000,
  maxAliasCount: 100,
  maxDocumentBytes: 3 * 1024 * 1024,
  maxNodes: 200_000,
});

export interface ManifestFile {
  /** Path relative to the repository root, `/`-separated, e.g. `deploy/app.yaml`. */
  path: string;
  content: string | Uint8Array;
}

const MANIFEST_EXTENSION = /\.(ya?ml|json)$/i;

/** True for the files driftless reads: `*.yaml`, `*.yml`, `*.json`. */
export function isManifestPath(path: string): boolean {
  return MANIFEST_EXTENSION.test(path);
}

/** Fills in the defaults of partial limits. */
export function manifestLimits(limits: Partial<ManifestLimits> = {}): ManifestLimits {
  return { ...DEFAULT_MANIFEST_LIMITS, ...limits };
}

/**
 * Parses every manifest file (others are ignored) in byte order of path: multi-document YAML,
 * empty documents skipped, `kind: List` and typed lists (`ConfigMapList`) expanded. Throws {@link SourceError} naming the file,
 * document index (0-based) and line on the first problem; never returns a partial set.
 */
export function parseManifests(files: ManifestFile[], limits?: Partial<ManifestLimits>): DesiredObject[] {
  const bounds = manifestLimits(limits);
  const manifests = files.filter((file) => isManifestPath(file.path));
  manifests.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (manifests.length > bounds.maxFiles) {
    throw new SourceError(
      `found ${manifests.length} manifest files, more than the limit of ${bounds.maxFiles} (maxFiles)`,
    );
  }
  return parseFiles(manifests, bounds);
}

/**
 * Parses a renderer's output (Kustomize, Helm) as {@link parseManifests} parses files, with the
 * same checks, except that every file is a manifest whatever its name and the order is kept.
 */
export function parseRenderedManifests(
  files: ManifestFile[],
  limits?: Partial<ManifestLimits>,
): DesiredObject[] {
  return parseFiles(files, manifestLimits(limits));
}

function parseFiles(manifests: ManifestFile[], bounds: ManifestLimits): DesiredObject[] {
  const objects: DesiredObject[] = [];
  const seen = new Map<string, string>();
  let totalBytes = 0;
  for (const file of manifests) {
    assertInsideRepo(file.path);
    const bytes =
      typeof file.content === 'string' ? Buffer.byteLength(file.content) : file.content.byteLength;
    if (bytes > bounds.maxFileBytes) {
      throw new SourceError(
        `${file.path}: ${bytes} bytes, more than the limit of ${bounds.maxFileBytes} bytes per file (maxFileBytes)`,
      );
    }
    totalBytes += bytes;
    if (totalBytes > bounds.maxTotalBytes) {
      throw new SourceError(
        `${file.path}: manifests add up to more than the limit of ${bounds.maxTotalBytes} bytes (maxTotalBytes)`,
      );
    }
    const parsed = parseFile(file.path, decode(file), bounds, bounds.maxTotalBytes - totalBytes);
    totalBytes += parsed.expandedBytes;
    for (const desired of parsed.objects) {
      const id = objectId(desired.object);
      const where = `${desired.origin.file} document ${desired.origin.document}`;
      const first = seen.get(id);
      if (first) throw new SourceError(`${where}: ${id} is already defined in ${first}`);
      seen.set(id, where);
      objects.push(desired);
    }
    if (objects.length > bounds.maxObjects) {
      throw new SourceError(`${file.path}: more than the limit of ${bounds.maxObjects} objects (maxObjects)`);
    }
  }
  return objects;
}

/** A path from a caller (not git) could still point outside the repository. */
function assertInsideRepo(path: string): void {
  const normal = posix.normalize(path);
  if (posix.isAbsolute(path) || normal === '..' || normal.startsWith('../') || path.includes('\\')) {
    throw new SourceError(`${path}: path escapes the repository`);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decode(file: ManifestFile): string {
  if (typeof file.content === 'string') return file.content;
  try {
    return utf8.decode(file.content);
  } catch {
    throw new SourceError(`${file.path}: not valid UTF-8`);
  }
}

/**
 * Parses one file. `remainingBytes` is what is left of `maxTotalBytes`; documents that use aliases
 * spend it by their expanded size, returned as `expandedBytes`.
 */
function parseFile(
  file: string,
  text: string,
  limits: ManifestLimits,
  remainingBytes: number,
): { objects: DesiredObject[]; expandedBytes: number } {
  // Before the parser builds a node: a bomb fails here, on the text.
  assertDocumentBounds(file, text, limits);
  const lineCounter = new LineCounter();
  // uniqueKeys: a duplicate key silently overrides in most parsers; here it is an error.
  // merge: `<<` merge keys are YAML 1.1, which Kubernetes' own parser accepts.
  const composer = new Composer({ uniqueKeys: true, merge: true });
  const lineOf = (node: unknown): string => {
    if (!isNode(node) || !node.range) return '';
    return ` (line ${lineCounter.linePos(node.range[0]).line})`;
  };
  const objects: DesiredObject[] = [];
  let expandedBytes = 0;
  const readDocument = (doc: Document.Parsed, document: number): void => {
    const where = `${file} document ${document}`;
    const problem = doc.errors[0];
    if (problem) {
      const line = ` (line ${lineCounter.linePos(problem.pos[0]).line})`;
      // The parser reports a stack overflow on deep nesting as RESOURCE_EXHAUSTION.
      const reason =
        problem.code === 'RESOURCE_EXHAUSTION'
          ? 'nested too deeply to load (the parser ran out of stack)'
          : problem.message;
      throw new SourceError(`${where}${line}: ${reason}`);
    }
    if (doc.contents === null) return;
    let value: unknown;
    let aliased = false;
    try {
      value = doc.toJS({
        maxAliasCount: limits.maxAliasCount,
        onAnchor: (_value, count) => {
          if (count > 0) aliased = true;
        },
      });
    } catch (error) {
      // yaml throws a ReferenceError when alias expansion passes maxAliasCount (billion laughs).
      const reason =
        error instanceof ReferenceError
          ? `YAML aliases expand too much (more than ${limits.maxAliasCount} alias resolutions, maxAliasCount)`
          : (error as Error).message;
      throw new SourceError(`${where}${lineOf(doc.contents)}: ${reason}`);
    }
    if (value === null || value === undefined) return;
    if (aliased) {
      // maxAliasCount bounds how often anchors are used, not what they weigh: 100 aliases of a
      // 4 MB anchor are a 400 MB apply body. Measure the expansion, within the byte limits.
      const cap = Math.min(limits.maxFileBytes, remainingBytes - expandedBytes);
      const size = expandedSize(value, cap);
      if (size > cap) {
        throw new SourceError(
          cap === limits.maxFileBytes
            ? `${where}${lineOf(doc.contents)}: YAML aliases expand the document to more than the limit of ${limits.maxFileBytes} bytes per file (maxFileBytes)`
            : `${where}${lineOf(doc.contents)}: YAML aliases expand the manifests to more than the limit of ${limits.maxTotalBytes} bytes (maxTotalBytes)`,
        );
      }
      expandedBytes += size;
    }
    const origin = { file, document };
    if (isList(value)) {
      if (!Array.isArray(value.items))
        throw new SourceError(`${where}${lineOf(doc.contents)}: ${value.kind} items must be a list`);
      value.items.forEach((item, index) => {
        const node = doc.getIn(['items', index], true) as Node | undefined;
        objects.push({
          object: validate(item, `${where} item ${index}${lineOf(node)}`),
          origin: { ...origin, item: index },
        });
      });
      return;
    }
    objects.push({ object: validate(value, `${where}${lineOf(doc.contents)}`), origin });
  };
  // One document at a time (what parseAllDocuments does, without holding every document's nodes
  // at once): the node bound is per document, so a file of many dense documents stays bounded.
  let document = 0;
  for (const doc of composer.compose(new Parser(lineCounter.addNewLine).parse(text))) {
    readDocument(doc, document);
    document += 1;
  }
  return { objects, expandedBytes };
}

/**
 * `kind: List`, or a typed list (`ConfigMapList`, `RoleBindingList`, any `*List` with `items`):
 * kubectl applies each item, so driftless does too (kube-prometheus ships its dashboards so).
 */
function isList(value: unknown): value is { kind: string; items: unknown } {
  if (!isPlainObject(value) || !('items' in value) || typeof value.kind !== 'string') return false;
  return value.kind === 'List' || (value.kind.endsWith('List') && Array.isArray(value.items));
}

function validate(value: unknown, where: string): KubeObject {
  if (!isPlainObject(value)) {
    throw new SourceError(`${where}: expected a Kubernetes object (a mapping), found ${describe(value)}`);
  }
  for (const key of ['apiVersion', 'kind'] as const) {
    if (typeof value[key] !== 'string' || value[key] === '') {
      throw new SourceError(`${where}: missing ${key}`);
    }
  }
  const metadata = value.metadata;
  if (!isPlainObject(metadata)) throw new SourceError(`${where}: missing metadata.name`);
  if (typeof metadata.name !== 'string' || metadata.name === '') {
    const hint =
      'generateName' in metadata ? ' (generateName is not supported: objects need a stable name)' : '';
    throw new SourceError(`${where}: missing metadata.name${hint}`);
  }
  if ('namespace' in metadata && (typeof metadata.namespace !== 'string' || metadata.namespace === '')) {
    throw new SourceError(`${where}: metadata.namespace must be a non-empty string`);
  }
  for (const field of ['labels', 'annotations'] as const) {
    const map = metadata[field];
    if (map === undefined || map === null) continue;
    if (!isPlainObject(map)) throw new SourceError(`${where}: metadata.${field} must be a mapping`);
    for (const [key, entry] of Object.entries(map)) {
      if (typeof entry !== 'string') {
        throw new SourceError(
          `${where}: metadata.${field}.${key} must be a string (quote it), found ${describe(entry)}`,
        );
      }
    }
  }
  return value as KubeObject;
}

function objectId(object: KubeObject): string {
  const group = object.apiVersion.includes('/') ? object.apiVersion.split('/')[0] : '';
  const namespace = object.metadata.namespace ? `${object.metadata.namespace}/` : '';
  return `${object.kind}${group ? `.${group}` : ''} ${namespace}${object.metadata.name}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return `a ${typeof value}`;
}
