/** `PullAgent` in a user's own CDK app, given its config as a typed object instead of a file. */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import type { DriftlessConfigInput } from '../../infra/agent-config.ts';
import { PullAgent } from '../../infra/pull-agent.ts';
import { FIXTURE_ENTRY, tempDir, writeConfig } from './synth-agent.ts';

function userStack(): Stack {
  const app = new App({ outdir: tempDir('cdk.out-'), context: { 'aws:cdk:bundling-stacks': [] } });
  return new Stack(app, 'PlatformStack');
}

const config: DriftlessConfigInput = {
  apps: [
    {
      name: 'guestbook',
      repo: 'https://git.example.com/guestbook.git',
      path: 'deploy',
      cluster: { name: 'prod', region: 'eu-west-1' },
      schedule: 'rate(10 minutes)',
      prune: true,
    },
  ],
};

describe('PullAgent with a typed config object', () => {
  it('builds the same agent from an object as from a file: one schedule per app, defaults filled in', () => {
    const stack = userStack();
    const agent = new PullAgent(stack, 'Agent', { config, entry: FIXTURE_ENTRY });
    expect(agent.config.apps[0]).toMatchObject({ name: 'guestbook', namespace: 'default', selfHeal: false });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Scheduler::Schedule', 1);
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(10 minutes)' });
  });

  it('rejects a bad setting at synth, naming it', () => {
    const bad = { apps: [{ ...config.apps[0]!, cluster: { name: 'prod', region: 'Ireland' } }] };
    expect(() => new PullAgent(userStack(), 'Agent', { config: bad, entry: FIXTURE_ENTRY })).toThrow(
      /PullAgent config:\n\s+apps\[0\]\.cluster\.region: must be an AWS region/,
    );
  });

  it('takes exactly one of config and configFile', () => {
    const file = writeConfig(config);
    expect(
      () => new PullAgent(userStack(), 'Agent', { config, configFile: file, entry: FIXTURE_ENTRY }),
    ).toThrow(/configFile or config, not both/);
    expect(() => new PullAgent(userStack(), 'Agent', { entry: FIXTURE_ENTRY })).toThrow(/give configFile/);
  });
});
