/**
 * The kubectl/helm layer: attached (and the function on x86_64, the layer's architecture) when
 * any app may render, left out (arm64) when every app is plain; cdk-nag stays clean either way.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { appConfig, synthAgent } from './synth-agent.ts';

function nagViolations(outdir: string): string[] {
  const file = join(outdir, 'validation-report.json');
  if (!existsSync(file)) return [];
  const report = JSON.parse(readFileSync(file, 'utf8'));
  return report.pluginReports.flatMap((plugin: any) => plugin.violations.map((v: any) => v.ruleName));
}

describe('the render layer', () => {
  it('attaches AWS kubectl/helm layer and runs on x86_64 when an app renders a chart', () => {
    const { app, template } = synthAgent([
      appConfig('rl-plain', { render: 'plain' }),
      appConfig('rl-chart', {
        render: 'helm',
        helm: { valuesFiles: ['values-prod.yaml'], values: { replicas: 2 } },
      }),
    ]);
    template.resourceCountIs('AWS::Lambda::LayerVersion', 1);
    template.hasResourceProperties('AWS::Lambda::LayerVersion', {
      Description: Match.stringLikeRegexp('/opt/kubectl/kubectl .*/opt/helm/helm'),
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Architectures: ['x86_64'],
      Layers: [{ Ref: Match.stringLikeRegexp('RenderLayer') }],
    });
    expect(nagViolations(app.synth().directory)).toEqual([]);
  });

  it('counts auto (the default) as rendering: a kustomization may appear in any commit', () => {
    const { template } = synthAgent([appConfig('rl-auto')], { nag: false });
    template.resourceCountIs('AWS::Lambda::LayerVersion', 1);
    template.hasResourceProperties('AWS::Lambda::Function', { Architectures: ['x86_64'] });
  });

  it('leaves the layer out and keeps arm64 when every app is plain', () => {
    const { app, template } = synthAgent([appConfig('rl-only-plain', { render: 'plain' })]);
    template.resourceCountIs('AWS::Lambda::LayerVersion', 0);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Architectures: ['arm64'],
      Layers: Match.absent(),
    });
    expect(nagViolations(app.synth().directory)).toEqual([]);
  });

  it('rejects an unknown render mode at synth, naming the setting', () => {
    expect(() => synthAgent([appConfig('rl-bad', { render: 'jsonnet' })], { nag: false })).toThrow(
      /apps\[0\]\.render: /,
    );
  });
});
