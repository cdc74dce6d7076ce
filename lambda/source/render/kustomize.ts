/**
 * Kustomize through `kubectl kustomize` (Kustomize v5, built into kubectl). Before it runs, every
 * kustomization it would load is read here, and every field that loads a file, a folder or a URL
 * (see `kustomize-fields.ts`) is checked: a remote reference, recognised by Kustomize's own
 * syntax whatever the checkout holds, is refused unless the app opts in; one that reaches this
 * machine (loopback, `file://`) always is, and so is a local path that leaves the repository.
 * A file this check cannot read is refused too: what it cannot read, it cannot vouch for.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { SourceError } from '../errors.ts';
import { type FieldRole, isRecord, KUSTOMIZATION_FIELDS } from './kustomize-fields.ts';
import { remoteReference } from './kustomize-remote.ts';
import { KUSTOMIZATION_FILES } from './settings.ts';

/** Largest kustomization or plugin file this check reads; Kustomize files are a few KB. */
const MAX_CHECKED_FILE_BYTES = 4 * 1024 * 1024;
/** How deep YAML held in a string (an inline patch in a plugin folder) is followed. */
const MAX_INLINE_DEPTH = 4;

interface Pending {
  dir: string;
  /** Reached as a generators/transformers/validators folder: what it builds is plugin configuration. */
  plugin: boolean;
}

/**
 * Walks the kustomizations reachable from `path` (inside `checkoutDir`) and refuses remote
 * references (unless `allowRemoteBases`) and references outside the repository, naming the file.
 */
export async function checkKustomizations(
  checkoutDir: string,
  path: string,
  allowRemoteBases: boolean,
): Promise<void> {
  const guard = new Guard(checkoutDir, allowRemoteBases);
  const pending: Pending[] = [{ dir: path, plugin: false }];
  const seen = new Set<string>();
  while (pending.length > 0) {
    const next = pending.pop() as Pending;
    const key = `${next.plugin}:${next.dir}`;
    if (seen.has(key)) continue;
    seen.add(key);
    pending.push(...(await guard.kustomization(next)));
  }
}

class Guard {
  private readonly checkoutDir: string;
  private readonly allowRemoteBases: boolean;
  constructor(checkoutDir: string, allowRemoteBases: boolean) {
    this.checkoutDir = checkoutDir;
    this.allowRemoteBases = allowRemoteBases;
  }

  /** Checks one folder's kustomization; returns the local folders it loads. */
  async kustomization({ dir, plugin }: Pending): Promise<Pending[]> {
    const names = await readdir(join(this.checkoutDir, dir)).catch(() => [] as string[]);
    const name = KUSTOMIZATION_FILES.find((candidate) => names.includes(candidate));
    if (!name) return [];
    const file = dir === '.' ? name : `${dir}/${name}`;
    const documents = await this.readDocuments(file);
    // In a plugin folder, patches and inline text can write a plugin's `path`: check every string.
    if (plugin) this.everyString(file, 'it builds plugin configuration', documents);
    const folders: Pending[] = [];
    for (const kustomization of documents.filter(isRecord)) {
      for (const row of KUSTOMIZATION_FIELDS) {
        for (const entry of row.entries(kustomization[row.field])) {
          const folder = await this.entry(file, dir, row.field, row.role, entry, plugin);
          if (folder) folders.push(folder);
        }
      }
    }
    return folders;
  }

  /** Checks one entry; returns its folder when Kustomize loads it as a kustomization. */
  private async entry(
    file: string,
    dir: string,
    field: string,
    role: FieldRole,
    entry: string,
    plugin: boolean,
  ): Promise<Pending | undefined> {
    if (role === 'refused') refuseHelm(file, field);
    if (this.remote(`${file}: ${field} entry ${quote(entry)}`, entry, role)) return undefined;
    const inline = (role === 'plugin' || role === 'file') && isInline(entry);
    if (inline) {
      if (role === 'plugin' || plugin)
        this.everyString(file, `an inline ${field} entry`, parseInline(file, entry));
      return undefined;
    }
    const local = posix.normalize(posix.join(dir, entry));
    if (posix.isAbsolute(entry) || local === '..' || local.startsWith('../')) {
      throw new SourceError(`${file}: ${field} entry ${quote(entry)} points outside the repository`);
    }
    const found = await stat(join(this.checkoutDir, local)).catch(() => undefined);
    if (found?.isDirectory()) {
      return role === 'file' ? undefined : { dir: local, plugin: plugin || role === 'plugin' };
    }
    if (found?.isFile() && (plugin || role === 'plugin')) {
      this.everyString(local, `a ${field} entry of ${file}`, await this.readDocuments(local));
    }
    return undefined;
  }

  /** True when `entry` is a remote reference the app allows; throws, saying `what`, when it is not. */
  private remote(what: string, entry: string, role: FieldRole): boolean {
    const reference = remoteReference(entry);
    if (!reference) return false;
    if (reference.kind === 'this-machine') {
      throw new SourceError(
        `${what} points at this machine (${reference.host}); a render never reaches it, even with kustomize.allowRemoteBases. Vendor the files into the repository`,
      );
    }
    if (reference.kind === 'host-files') {
      throw new SourceError(
        `${what} is a file:// repository, which reads the files of the machine running the render; a render never reads them, even with kustomize.allowRemoteBases. Vendor the files into the repository`,
      );
    }
    if (this.allowRemoteBases) return true;
    const kind = role === 'base' ? 'a remote base' : 'a remote file';
    throw new SourceError(
      `${what} is ${kind} (Kustomize fetches it whatever the repository holds at that path); driftless renders without network access by default. Vendor it into the repository, or set kustomize.allowRemoteBases: true for this app`,
    );
  }

  /**
   * Checks every string of plugin configuration, and YAML held in strings (inline patches).
   * `context` says what the file is to the kustomization that loads it.
   */
  private everyString(file: string, context: string, documents: unknown[]): void {
    const pending: { value: unknown; depth: number }[] = documents.map((value) => ({ value, depth: 0 }));
    while (pending.length > 0) {
      const { value, depth } = pending.pop() as { value: unknown; depth: number };
      if (typeof value === 'string') {
        this.remote(`${file} (${context}): ${quote(value)}`, value, 'file');
        if (value.includes('\n') && depth < MAX_INLINE_DEPTH) {
          for (const inner of parseInline(file, value, false))
            pending.push({ value: inner, depth: depth + 1 });
        }
      } else if (Array.isArray(value)) {
        for (const item of value) pending.push({ value: item, depth });
      } else if (isRecord(value)) {
        if (value.kind === 'HelmChartInflationGenerator') refuseHelm(file, 'HelmChartInflationGenerator');
        for (const item of Object.values(value)) pending.push({ value: item, depth });
      }
    }
  }

  /** The documents of a file of the checkout; refuses one it cannot read as Kustomize would. */
  private async readDocuments(file: string): Promise<unknown[]> {
    const path = join(this.checkoutDir, file);
    const size = (await stat(path)).size;
    if (size > MAX_CHECKED_FILE_BYTES) {
      throw new SourceError(
        `${file}: ${size} bytes, more than the ${MAX_CHECKED_FILE_BYTES} bytes driftless reads to check what Kustomize would load`,
      );
    }
    try {
      return parseYaml(await readFile(path, 'utf8'));
    } catch (error) {
      throw new SourceError(
        `${file}: cannot be read to check what Kustomize would load (${(error as Error).message}); fix the YAML`,
      );
    }
  }
}

/**
 * Parses like Kustomize reads (merge keys on), but refuses duplicate keys: Kustomize keeps one of
 * them, and a check that read the other would vouch for what never runs.
 */
function parseYaml(text: string): unknown[] {
  return parseAllDocuments(text, { merge: true, uniqueKeys: true, prettyErrors: false }).map((doc) => {
    const problem = doc.errors[0];
    if (problem) throw new Error(problem.message);
    return doc.toJS({ maxAliasCount: 100 });
  });
}

/** An entry holding YAML (an inline patch or plugin configuration) rather than naming a path. */
function isInline(entry: string): boolean {
  if (entry.includes('\n')) return true;
  try {
    const [first] = parseYaml(entry);
    return typeof first === 'object' && first !== null;
  } catch {
    return false;
  }
}

/** Inline YAML's documents; a string that is not YAML is text (`strict: false`) or refused. */
function parseInline(file: string, text: string, strict = true): unknown[] {
  try {
    return parseYaml(text);
  } catch (error) {
    if (!strict) return [];
    throw new SourceError(
      `${file}: inline YAML cannot be read to check what Kustomize would load (${(error as Error).message}); fix the YAML`,
    );
  }
}

/** An entry as messages show it: quoted, and cut short (an inline patch can be long). */
function quote(entry: string): string {
  return JSON.stringify(entry.length > 200 ? `${entry.slice(0, 200)}...` : entry);
}

function refuseHelm(file: string, field: string): never {
  throw new SourceError(
    `${file}: ${field} needs Kustomize's --enable-helm, which driftless does not pass (the chart would be fetched and rendered outside driftless). Point the app at the chart with render: helm, or commit the rendered manifests`,
  );
}

/** `kubectl kustomize` arguments for a folder of the checkout (the working folder). */
export function kustomizeArgs(path: string): string[] {
  return ['kustomize', path === '.' ? '.' : `./${path}`];
}
