import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lambda/config.ts';

const app = {
  name: 'web',
  repo: 'https://git.example.com/web.git',
  cluster: { name: 'prod', region: 'eu-west-1' },
};

describe('reaction settings in the deploy config', () => {
  it('defaults to no webhook, no notifications, the default bus and a missed-run alarm after 3 intervals', () => {
    const config = parseConfig({ apps: [app] });
    expect(config.webhook).toBe(false);
    expect(config.notifications).toBeUndefined();
    expect(config.events).toBeUndefined();
    expect(config.apps[0]!.alarms).toEqual({ missedRuns: 3, drift: false });
  });

  it('accepts the agent-wide and per-app forms', () => {
    const config = parseConfig({
      apps: [
        {
          ...app,
          notifications: { topicArn: 'arn:aws:sns:eu-west-1:111122223333:team' },
          alarms: { drift: true },
        },
      ],
      notifications: true,
      webhook: { secret: 'git/webhook' },
      events: { busArn: 'arn:aws:events:eu-west-1:111122223333:event-bus/platform' },
    });
    expect(config.apps[0]!.notifications).toEqual({
      topicArn: 'arn:aws:sns:eu-west-1:111122223333:team',
      format: 'chatbot',
    });
    expect(config.apps[0]!.alarms).toEqual({ missedRuns: 3, drift: true });
    expect(config.webhook).toEqual({ secret: 'git/webhook', reservedConcurrency: 2 });
  });

  it('names each bad setting', () => {
    expect(() =>
      parseConfig({
        apps: [{ ...app, notifications: { topicArn: 'team' }, alarms: { missedRuns: -1 } }],
        webhook: { reservedConcurrency: 0, secrets: 'x' },
      }),
    ).toThrow(
      [
        'apps[0].notifications.topicArn: must be an SNS topic ARN',
        'apps[0].alarms.missedRuns: Too small: expected number to be >=0',
        'webhook.reservedConcurrency: Too small: expected number to be >=1',
        'webhook: Unrecognized key: "secrets"',
      ].join('\n  '),
    );
  });
});
