/**
 * Progress and warnings of a CLI run, one line each, on stderr: stdout is reserved for the result
 * (a table, or the one JSON object of `--output json`).
 */
import type { SyncLogger } from '../log.ts';

export interface StderrLoggerOptions {
  /** Also print `debug` lines. @default DRIFTLESS_DEBUG is set */
  debug?: boolean;
  /** @default process.stderr */
  stream?: NodeJS.WritableStream;
}

export function stderrLogger(options: StderrLoggerOptions = {}): SyncLogger {
  const stream = options.stream ?? process.stderr;
  const debug = options.debug ?? Boolean(process.env.DRIFTLESS_DEBUG);
  const write = (level: string, message: string, attributes?: Record<string, unknown>) => {
    stream.write(`driftless: ${level}${message}${formatAttributes(attributes)}\n`);
  };
  return {
    debug: (message, attributes) => {
      if (debug) write('', message, attributes);
    },
    info: (message, attributes) => write('', message, attributes),
    warn: (message, attributes) => write('warning: ', message, attributes),
    error: (message, attributes) => write('error: ', message, attributes),
  };
}

/** `key=value` pairs of the scalar attributes; nested objects are left to `--output json`. */
function formatAttributes(attributes?: Record<string, unknown>): string {
  if (!attributes) return '';
  const parts: string[] = [];
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || typeof value === 'object') continue;
    const text = String(value);
    parts.push(`${key}=${/\s/.test(text) ? JSON.stringify(text) : text}`);
  }
  return parts.length ? ` (${parts.join(' ')})` : '';
}

/**
 * A logger whose `error` lines wait for the run's result: the result already says why a run
 * failed, so a held line that repeats that error is dropped, and every other one is printed then.
 */
export function holdErrors(logger: SyncLogger): { logger: SyncLogger; release(shown?: string): void } {
  const held: { message: string; attributes?: Record<string, unknown> }[] = [];
  return {
    logger: { ...logger, error: (message, attributes) => held.push({ message, attributes }) },
    release(shown) {
      for (const line of held.splice(0)) {
        const error = line.attributes?.error;
        if (shown && typeof error === 'string' && shown.includes(error)) continue;
        logger.error(line.message, line.attributes);
      }
    },
  };
}
