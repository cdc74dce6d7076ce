import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lambda/config.ts';
import { appConfig, synthAgent, tempDir, writeConfig } from './synth-agent.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

/**
 * Runs `infra/app.ts` the way `cdk synth` does (context in CDK_CONTEXT_JSON, output dir in
 * CDK_OUTDIR), without AWS credentials or a region, and with bundling skipped.
 */
async function synthApp(context: Record<string, unknown>) {
  const outdir = tempDir('app-');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CDK_OUTDIR: outdir,
    CDK_CONTEXT_JSON: JSON.stringify({ 'aws:cdk:bundling-stacks': [], ...context }),
  };
  try {
    const { stdout, stderr } = await run(process.execPath, ['infra/app.ts'], { cwd: ROOT, env });
    return { code: 0, stdout, stderr, outdir };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr, outdir };
  }
}

describe('infra/app.ts', () => {
  it('synthesises the example driftless.config.yaml offline, with cdk-nag passing', async () => {
    const result = await synthApp({});
    expect(result.stderr).not.toMatch(/AwsSolutions/);
    expect(result.code).toBe(0);
    const template = JSON.parse(readFileSync(join(result.outdir, 'Driftless.template.json'), 'utf8'));
    const schedules = Object.values(template.Resources).filter(
      (r: any) => r.Type === 'AWS::Scheduler::Schedule',
    );
    expect(schedules.map((s: any) => s.Properties.Target.Input)).toEqual(['{"app":"guestbook"}']);
    // The example app gets edit rights in its own namespace, not cluster-admin.
    const entries = Object.values(template.Resources).filter((r: any) => r.Type === 'AWS::EKS::AccessEntry');
    expect(entries.map((e: any) => e.Properties.AccessPolicies)).toEqual([
      [
        {
          PolicyArn: expect.objectContaining({
            'Fn::Join': ['', expect.arrayContaining([':eks::aws:cluster-access-policy/AmazonEKSEditPolicy'])],
          }),
          AccessScope: { Type: 'namespace', Namespaces: ['guestbook'] },
        },
      ],
    ]);
  });

  it('runs the NIST 800-53 R5 pack as well when encryptionKeyArn is set, and passes it', async () => {
    const result = await synthApp({
      encryptionKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555',
      recordTtlDays: '365',
      logRetentionDays: '400',
    });
    expect(result.stderr).not.toMatch(/NIST|AwsSolutions/);
    expect(result.code).toBe(0);
    const template = readFileSync(join(result.outdir, 'Driftless.template.json'), 'utf8');
    expect(template).toMatch(/"DRIFTLESS_RECORD_TTL_DAYS":\s*"365"/);
    expect(template).toMatch(/"RetentionInDays":\s*400/);
  });

  it('reads the config named by -c config and names the bad setting when it is invalid', async () => {
    const bad = writeConfig({
      apps: [appConfig('app-bad', { cluster: { name: 'prod', region: 'Ireland' } })],
    });
    const result = await synthApp({ config: bad });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('apps[0].cluster.region: must be an AWS region such as eu-west-1');
  });

  it('takes the stack name and alarm e-mail from context', async () => {
    const config = writeConfig({ apps: [appConfig('app-ctx')] });
    const result = await synthApp({ config, stackName: 'DriftlessProd', alarmEmail: 'ops@example.com' });
    expect(result.code).toBe(0);
    const template = readFileSync(join(result.outdir, 'DriftlessProd.template.json'), 'utf8');
    expect(template).toContain('ops@example.com');
  });
});

describe('config validation at synth', () => {
  const fails = (config: unknown) => {
    try {
      synthAgent(config, { nag: false });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error('synth accepted a bad config');
  };

  it('names a missing required setting', () => {
    expect(fails([{ name: 'cfg-a', cluster: { name: 'prod', region: 'eu-west-1' } }])).toMatch(
      /apps\[0\]\.repo:/,
    );
  });

  it('names an unknown setting', () => {
    expect(fails([appConfig('cfg-b', { selfheal: true })])).toMatch(
      /apps\[0\]: Unrecognized key: "selfheal"/,
    );
  });

  it('names a schedule that is not a Scheduler expression', () => {
    expect(fails([appConfig('cfg-c', { schedule: 'every 5 minutes' })])).toMatch(
      /apps\[0\]\.schedule: must be/,
    );
  });

  it('names a rate or cron expression that Scheduler would reject at deploy', () => {
    expect(fails([appConfig('cfg-f', { schedule: 'rate(5 min)' })])).toMatch(/apps\[0\]\.schedule: must be/);
    expect(fails([appConfig('cfg-g', { schedule: 'cron(*/5 * * * *)' })])).toMatch(
      /apps\[0\]\.schedule: must be/,
    );
  });

  it('names a rate whose unit does not agree with its number (Scheduler wants 1 minute, 5 minutes)', () => {
    for (const schedule of [
      'rate(1 minutes)',
      'rate(5 minute)',
      'rate(1 days)',
      'rate(12 hour)',
      'rate(0 minutes)',
    ]) {
      expect(fails([appConfig('cfg-h', { schedule })]), schedule).toMatch(/apps\[0\]\.schedule: must be/);
    }
  });

  it('accepts singular rates for 1 and plural rates for more', () => {
    const { template } = synthAgent(
      [
        appConfig('cfg-i', { schedule: 'rate(1 minute)' }),
        appConfig('cfg-j', { schedule: 'rate(1 hour)' }),
        appConfig('cfg-k', { schedule: 'rate(10 days)' }),
      ],
      { nag: false },
    );
    for (const expression of ['rate(1 minute)', 'rate(1 hour)', 'rate(10 days)']) {
      template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: expression });
    }
  });

  it('names a duplicate app', () => {
    expect(fails([appConfig('cfg-d'), appConfig('cfg-d')])).toMatch(
      /apps\[1\]\.name: duplicate app name "cfg-d"/,
    );
  });

  it('names a bad access policy', () => {
    expect(
      fails([
        appConfig('cfg-e', { cluster: { name: 'p', region: 'eu-west-1', access: { policy: 'admin' } } }),
      ]),
    ).toMatch(/apps\[0\]\.cluster\.access\.policy: must be an EKS access policy/);
  });

  it('reports YAML that does not parse', () => {
    expect(fails('apps:\n  - name: [unclosed\n')).toMatch(/is not valid YAML/);
  });
});
