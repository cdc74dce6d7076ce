/**
 * Deploy-config keys for reacting and telling people (issue "run events, notifications, webhooks,
 * alarms"): merged into the app and agent schemas of `config.ts`, so errors name the setting like
 * every other key (`apps[0].notifications.topicArn`, `events.busArn`).
 */
import { z } from 'zod';

const topicArn = z
  .string()
  .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'must be an SNS topic ARN');

/**
 * Where changes of an app are told: `true` for the topic the stack creates, or an existing topic.
 * `format` shapes the message: `chatbot` (AWS Chatbot / Amazon Q custom notification JSON, what
 * Slack and Teams channels render) or `text` (one plain line, for e-mail or SMS).
 */
export const notificationsSchema = z.union([
  z.boolean(),
  z.strictObject({
    topicArn: topicArn.optional(),
    format: z.enum(['chatbot', 'text']).default('chatbot'),
  }),
]);

/** Per app: the alarms that catch silence and drift. */
export const appAlarmsSchema = z.strictObject({
  /**
   * Alarm when no run of the app ended `Synced` for this many schedule intervals; 0 turns it off.
   * CloudWatch looks back at most one day, so the window is capped there.
   */
  missedRuns: z.number().int().min(0).max(1000).default(3),
  /** Alarm when a run sees drift (the `DriftDetected` metric). */
  drift: z.boolean().default(false),
});

/** Keys each app accepts, spread into `appSchema`. */
export const appReactionSettings = {
  /** Overrides the agent-wide `notifications` for this app; `false` turns them off for it. */
  notifications: notificationsSchema.optional(),
  alarms: appAlarmsSchema.default({ missedRuns: 3, drift: false }),
};

/** Keys of the agent as a whole, spread into `configSchema`. */
export const agentReactionSettings = {
  /** Where run events go. Absent: the account's default event bus. */
  events: z
    .strictObject({
      busArn: z
        .string()
        .regex(
          /^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/[A-Za-z0-9._/-]{1,256}$/,
          'must be an EventBridge event bus ARN',
        ),
    })
    .optional(),
  /** Notifications for every app that sets none of its own. */
  notifications: notificationsSchema.optional(),
  /** The push receiver: `true`, or its settings. */
  webhook: z
    .union([
      z.boolean(),
      z.strictObject({
        /** Secrets Manager secret (name or ARN) with the shared webhook secret. Default: one the stack generates. */
        secret: z.string().min(1).optional(),
        /** Concurrent executions reserved for (and bounding) the receiver. */
        reservedConcurrency: z.number().int().min(1).max(100).default(2),
      }),
    ])
    .default(false),
};

export type NotificationsSetting = z.infer<typeof notificationsSchema>;
