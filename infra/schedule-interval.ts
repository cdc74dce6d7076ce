/**
 * How often a schedule fires, for the alarm that expects a `Synced` run every few intervals.
 * Exact for `rate(...)`; for `cron(...)` the longest gap of a schedule that repeats every day
 * (minutes and hours lists, ranges and steps, any day). Schedules that depend on the day of the
 * month or week have no single interval: `undefined`.
 */

/** Longest gap between two firings, in minutes, or `undefined` when it depends on the day. */
export function scheduleIntervalMinutes(expression: string): number | undefined {
  const rate = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(expression);
  if (rate) {
    const unit = { minute: 1, hour: 60, day: 1440 }[rate[2] as 'minute' | 'hour' | 'day'];
    return Number(rate[1]) * unit;
  }
  const cron = /^cron\((.+)\)$/.exec(expression);
  if (!cron) return undefined;
  const [minutes, hours, dayOfMonth, month, dayOfWeek, year] = cron[1]!.trim().split(/\s+/);
  const everyDay = [dayOfMonth, month, dayOfWeek, year].every((field) => field === '*' || field === '?');
  if (!everyDay) return undefined;
  const minuteSet = expand(minutes!, 0, 59);
  const hourSet = expand(hours!, 0, 23);
  if (!minuteSet?.length || !hourSet?.length) return undefined;
  const times = hourSet
    .flatMap((hour) => minuteSet.map((minute) => hour * 60 + minute))
    .sort((a, b) => a - b);
  let longest = times[0]! + 1440 - times.at(-1)!;
  for (let i = 1; i < times.length; i++) longest = Math.max(longest, times[i]! - times[i - 1]!);
  return longest;
}

/** The values of one cron field: `*`, `5`, `1-5`, `0/15`, `*\/10`, `10-50/20`, lists of these. */
function expand(field: string, min: number, max: number): number[] | undefined {
  const values = new Set<number>();
  for (const part of field.split(',')) {
    const match = /^(\*|\d+)(?:-(\d+))?(?:\/(\d+))?$/.exec(part);
    if (!match) return undefined;
    const start = match[1] === '*' ? min : Number(match[1]);
    const end = match[2] !== undefined ? Number(match[2]) : match[1] === '*' || match[3] ? max : start;
    const step = match[3] ? Number(match[3]) : 1;
    if (start < min || end > max || step < 1) return undefined;
    for (let value = start; value <= end; value += step) values.add(value);
  }
  return [...values];
}
