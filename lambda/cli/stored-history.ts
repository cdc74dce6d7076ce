/**
 * Read-only commands (`history`, `status`) must not create the embedded history by reading it:
 * opening SQLite makes the file and its folder. A missing file is an empty history.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parseHistorySpec } from '../history/open-store.ts';
import { historySpec } from './locations.ts';

/** True when `spec` names an SQLite file that does not exist (DynamoDB tables are never "missing" here). */
export function historyMissing(spec: string | undefined, cwd = process.cwd()): boolean {
  const parsed = parseHistorySpec(historySpec(spec, cwd));
  if (parsed.kind !== 'sqlite' || parsed.path === ':memory:') return false;
  return !existsSync(isAbsolute(parsed.path) ? parsed.path : resolve(cwd, parsed.path));
}
