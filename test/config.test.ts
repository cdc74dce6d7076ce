/** The deploy config's safety settings: defaults and the errors that name a bad one. */
import { describe, expect, it } from 'vitest';
import { appScope, parseConfig } from '../lambda/config.ts';

const app = {
  name: 'web',
  repo: 'https://git.example.com/web.git',
  cluster: { name: 'prod', region: 'eu-west-1' },
};

describe('deploy config: adopt, scope and pruneLimit', () => {
  it("defaults to no adoption, no prune limit and a scope of the app's namespace and Namespaces", () => {
    const [parsed] = parseConfig({ apps: [{ ...app, namespace: 'web' }] }).apps;
    expect(parsed).toMatchObject({ adopt: false });
    expect(parsed?.pruneLimit).toBeUndefined();
    expect(appScope(parsed!)).toEqual({ namespaces: ['web'], clusterKinds: ['Namespace'] });
  });

  it('takes a scope with "*" and a prune limit', () => {
    const [parsed] = parseConfig({
      apps: [
        {
          ...app,
          adopt: true,
          pruneLimit: 50,
          scope: { namespaces: ['*'], clusterKinds: ['ClusterRole', '*'] },
        },
      ],
    }).apps;
    expect(appScope(parsed!)).toEqual({ namespaces: ['*'], clusterKinds: ['ClusterRole', '*'] });
    expect(parsed).toMatchObject({ adopt: true, pruneLimit: 50 });
  });

  it('names the setting of a bad scope or prune limit', () => {
    expect(() =>
      parseConfig({
        apps: [{ ...app, scope: { namespaces: ['Bad_NS'], clusterKinds: ['clusterrole'] }, pruneLimit: -1 }],
      }),
    ).toThrow(
      /apps\[0\]\.scope\.namespaces\[0\].*\n.*apps\[0\]\.scope\.clusterKinds\[0\]: must be a kind such as ClusterRole.*\n.*apps\[0\]\.pruneLimit/s,
    );
  });
});

describe('deploy config: loud mistakes without a file', () => {
  it('suggests the nearest known key for a config object (a CDK app building its apps in code)', () => {
    expect(() =>
      parseConfig({ apps: [{ ...app, selfheal: true, cluster: { ...app.cluster, regoin: 'x' } }] }),
    ).toThrow(/apps\[0\]: Unrecognized key: "selfheal"; did you mean "selfHeal"\?$/m);
    expect(() => parseConfig({ apps: [{ ...app, cluster: { ...app.cluster, regoin: 'x' } }] })).toThrow(
      /apps\[0\]\.cluster: Unrecognized key: "regoin"; did you mean "region"\?/,
    );
  });

  it('lists the known keys when nothing is close', () => {
    expect(() => parseConfig({ apps: [{ ...app, kustomize: { zzzzzzzzzz: true } }] })).toThrow(
      /apps\[0\]\.kustomize: Unrecognized key: "zzzzzzzzzz"; known keys: allowRemoteBases/,
    );
  });
});
