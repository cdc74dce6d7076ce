/**
 * Bounds a YAML stream before it is parsed: the `yaml` package builds every node of a document
 * (a 4 MB flow sequence `[0,0,...]` of 2 million items took 2 GB), so the size and node count
 * of each document are measured first, on the text, and a document past either limit fails
 * its file before any node is built.
 *
 * The scan is cheap: documents are cut at `---` lines (YAML forbids that line inside any
 * scalar), and a count of the characters that can open a node (line starts, `,` `[` `{` `:`
 * `-` `?`) bounds the node count from above. Only a document whose bound passes the limit is
 * lexed (the `yaml` Lexer, which builds nothing) for its real count, stopping at the limit.
 * After parsing, {@link expandedSize} measures what aliases expand a document to.
 */
import { Lexer } from 'yaml';
import { SourceError } from './errors.ts';

export interface DocumentLimits {
  maxDocumentBytes: number;
  maxNodes: number;
}

/** Throws {@link SourceError} naming `file`, the document, its line and the limit it passes. */
export function assertDocumentBounds(file: string, text: string, limits: DocumentLimits): void {
  const starts = [0];
  for (let at = text.indexOf('\n---'); at >= 0; at = text.indexOf('\n---', at + 1)) {
    if (isMarker(text, at + 1)) starts.push(at + 1);
  }
  let document = 0;
  let line = 1;
  for (let i = 0; i < starts.length; i++) {
    const start = starts[i] ?? 0;
    const chunk = text.slice(start, starts[i + 1] ?? text.length);
    if (i > 0) line += countLines(text, starts[i - 1] ?? 0, start);
    // Comments and directives before the first `---` are not a document of their own.
    if (i === 0 && !isMarker(text, 0) && !/^[ \t]*[^\s#%]/m.test(chunk)) continue;
    checkChunk(`${file} document ${document} (line ${line})`, chunk, limits);
    document += 1;
  }
}

function checkChunk(where: string, chunk: string, limits: DocumentLimits): void {
  // A UTF-16 length is at most the UTF-8 byte count, and a third of it: measure only near the limit.
  if (chunk.length * 3 > limits.maxDocumentBytes) {
    const bytes = Buffer.byteLength(chunk);
    if (bytes > limits.maxDocumentBytes) {
      throw new SourceError(
        `${where}: ${bytes} bytes, more than the limit of ${limits.maxDocumentBytes} bytes per document (maxDocumentBytes)`,
      );
    }
  }
  if (nodeBound(chunk) <= limits.maxNodes) return;
  if (countNodes(chunk, limits.maxNodes) > limits.maxNodes) {
    throw new SourceError(
      `${where}: more than the limit of ${limits.maxNodes} YAML nodes per document (maxNodes); split it into smaller objects`,
    );
  }
}

/** `---` at `at`, followed by a space, a tab, a line end or the end. */
function isMarker(text: string, at: number): boolean {
  if (!text.startsWith('---', at)) return false;
  const next = text.charCodeAt(at + 3);
  return Number.isNaN(next) || next === 0x20 || next === 0x09 || next === 0x0a || next === 0x0d;
}

function countLines(text: string, from: number, to: number): number {
  let lines = 0;
  for (let at = text.indexOf('\n', from); at >= 0 && at < to; at = text.indexOf('\n', at + 1)) lines += 1;
  return lines;
}

/** An upper bound of the nodes in `chunk`: every node but the first opens after one of these. */
function nodeBound(chunk: string): number {
  let bound = 1;
  for (let i = 0; i < chunk.length; i++) {
    const c = chunk.charCodeAt(i);
    // \n , [ { : - ?
    if (c === 10 || c === 44 || c === 91 || c === 123 || c === 58 || c === 45 || c === 63) bound += 1;
  }
  return bound;
}

/** Scalars, flow collections and aliases, as the Lexer sees them; stops once past `limit`. */
function countNodes(chunk: string, limit: number): number {
  let nodes = 0;
  for (const token of new Lexer().lex(chunk)) {
    const first = token.charCodeAt(0);
    // \x1f opens a plain or block scalar; " and ' a quoted one; [ { a flow collection; * an alias.
    if (
      first === 0x1f ||
      first === 0x22 ||
      first === 0x27 ||
      first === 0x5b ||
      first === 0x7b ||
      first === 0x2a
    ) {
      nodes += 1;
      if (nodes > limit) return nodes;
    }
  }
  return nodes;
}

/**
 * The size of `value` written out (string and key characters, one per other node), counting a
 * shared (aliased) node every time it appears. Stops as soon as it passes `cap`, so measuring a
 * bomb costs about `cap` steps, not its expansion; iterative, so deep nesting cannot overflow.
 */
export function expandedSize(value: unknown, cap: number): number {
  let size = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0 && size <= cap) {
    const node = pending.pop();
    if (typeof node === 'string') size += node.length + 1;
    else if (Array.isArray(node)) {
      size += node.length + 1;
      if (size <= cap) for (const item of node) pending.push(item);
    } else if (node !== null && typeof node === 'object') {
      const entries = Object.entries(node);
      size += entries.length + 1;
      for (const [key, item] of entries) {
        size += key.length;
        pending.push(item);
      }
    } else size += String(node).length + 1;
  }
  return size;
}
