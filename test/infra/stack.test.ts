import { describe, expect, it } from 'vitest';
import { appConfig, synthAgent } from './synth-agent.ts';

describe('DriftlessStack outputs', () => {
  const { template } = synthAgent([appConfig('out-web')], { nag: false });

  it('prints a history command that names the stack region, since the table lives there', () => {
    const output = template.findOutputs('HistoryCommand').HistoryCommand;
    expect(output?.Value).toEqual({
      'Fn::Join': [
        '',
        [
          'AWS_REGION=',
          { Ref: 'AWS::Region' },
          ' npx driftless history --history dynamodb:',
          { Ref: expect.stringMatching(/^AgentTable/) },
        ],
      ],
    });
  });

  it('names the table, function, role, log group and dead-letter queue', () => {
    for (const name of ['TableName', 'FunctionName', 'AgentRoleArn', 'LogGroupName', 'DeadLetterQueueUrl']) {
      expect(Object.keys(template.findOutputs(name)), name).toEqual([name]);
    }
  });
});
