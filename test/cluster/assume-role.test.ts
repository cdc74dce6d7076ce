import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { assumedRoleCredentials } from '../../lambda/cluster/assume-role.ts';

const ROLE = 'arn:aws:iam::444455556666:role/driftless-deployer';
const stsMock = mockClient(STSClient);
const start = Date.parse('2026-03-01T12:00:00Z');

function session(n: number, expiresAt: number) {
  return {
    Credentials: {
      AccessKeyId: `ASIASESSION${n}`,
      SecretAccessKey: `secret-${n}`,
      SessionToken: `token-${n}`,
      Expiration: new Date(expiresAt),
    },
  };
}

beforeEach(() => {
  stsMock.reset();
});

describe('assumedRoleCredentials', () => {
  it('assumes the role once and reuses the session until 5 minutes before it expires', async () => {
    let clock = start;
    stsMock
      .on(AssumeRoleCommand)
      .resolvesOnce(session(1, start + 60 * 60_000))
      .resolvesOnce(session(2, start + 120 * 60_000));
    const credentials = assumedRoleCredentials({ roleArn: ROLE, sts: new STSClient({}), now: () => clock });

    expect((await credentials()).accessKeyId).toBe('ASIASESSION1');
    clock = start + 55 * 60_000 - 1;
    expect((await credentials()).accessKeyId).toBe('ASIASESSION1');
    clock = start + 55 * 60_000;
    expect((await credentials()).accessKeyId).toBe('ASIASESSION2');
    expect(stsMock.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input)).toEqual([
      { RoleArn: ROLE, RoleSessionName: 'driftless' },
      { RoleArn: ROLE, RoleSessionName: 'driftless' },
    ]);
  });

  it('calls STS once for concurrent callers', async () => {
    stsMock.on(AssumeRoleCommand).resolves(session(1, start + 60 * 60_000));
    const credentials = assumedRoleCredentials({ roleArn: ROLE, sts: new STSClient({}), now: () => start });
    await Promise.all([credentials(), credentials(), credentials()]);
    expect(stsMock.commandCalls(AssumeRoleCommand)).toHaveLength(1);
  });

  it('names the role when STS refuses', async () => {
    stsMock.on(AssumeRoleCommand).rejects(
      Object.assign(new Error('User is not authorized to perform: sts:AssumeRole'), {
        name: 'AccessDenied',
      }),
    );
    const credentials = assumedRoleCredentials({ roleArn: ROLE, sts: new STSClient({}) });
    await expect(credentials()).rejects.toThrow(`cannot assume role ${ROLE}: User is not authorized`);
  });
});
