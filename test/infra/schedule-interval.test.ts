import { describe, expect, it } from 'vitest';
import { scheduleIntervalMinutes } from '../../infra/schedule-interval.ts';

describe('schedule interval for the missed-run alarm', () => {
  it('reads rates exactly', () => {
    expect(scheduleIntervalMinutes('rate(1 minute)')).toBe(1);
    expect(scheduleIntervalMinutes('rate(5 minutes)')).toBe(5);
    expect(scheduleIntervalMinutes('rate(2 hours)')).toBe(120);
    expect(scheduleIntervalMinutes('rate(1 day)')).toBe(1440);
  });

  it('takes the longest gap of a cron schedule that fires every day', () => {
    expect(scheduleIntervalMinutes('cron(0/15 * * * ? *)')).toBe(15);
    expect(scheduleIntervalMinutes('cron(*/10 * * * ? *)')).toBe(10);
    expect(scheduleIntervalMinutes('cron(0 0/6 * * ? *)')).toBe(360);
    // Office hours only: the night is the gap.
    expect(scheduleIntervalMinutes('cron(0 8-18 * * ? *)')).toBe(14 * 60);
    expect(scheduleIntervalMinutes('cron(5,35 * * * ? *)')).toBe(30);
    expect(scheduleIntervalMinutes('cron(0 9 * * ? *)')).toBe(1440);
  });

  it('has no single interval for schedules that depend on the day', () => {
    expect(scheduleIntervalMinutes('cron(0 9 ? * MON-FRI *)')).toBeUndefined();
    expect(scheduleIntervalMinutes('cron(0 9 1 * ? *)')).toBeUndefined();
    expect(scheduleIntervalMinutes('cron(0 9 L * ? *)')).toBeUndefined();
  });
});
