/** `--wait [DURATION]`: how long `sync` waits for the app to become Healthy. */
import { InvalidArgumentError } from 'commander';

/** Used when `--wait` is given without a duration. */
export const DEFAULT_WAIT_MS = 5 * 60_000;
/** Lambda's own limit is 15 minutes; a CLI wait past an hour is a mistake, not a plan. */
const MAX_WAIT_MS = 60 * 60_000;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * `90s`, `5m`, `1h30m`, `500ms` or plain seconds (`30`) to milliseconds; commander calls it with
 * `true`-ish `undefined` when the flag has no value.
 */
export function parseWait(value: string | undefined): number {
  if (value === undefined || value === '') return DEFAULT_WAIT_MS;
  const text = value.trim();
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    const parts = [...text.matchAll(/(\d+)(ms|s|m|h)/g)];
    if (parts.length === 0 || parts.map((part) => part[0]).join('') !== text) {
      throw new InvalidArgumentError('must be a duration such as 90s, 5m or 1h30m');
    }
    ms = parts.reduce((sum, [, amount, unit]) => sum + Number(amount) * (UNIT_MS[unit ?? 's'] ?? 0), 0);
  }
  if (ms > MAX_WAIT_MS) throw new InvalidArgumentError('must be at most 1h');
  return ms;
}
