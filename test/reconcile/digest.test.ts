/** The inventory digest: stable across key order, different for any change to the applied body. */
import { describe, expect, it } from 'vitest';
import { canonicalJson, digestOf } from '../../lambda/reconcile/digest.ts';
import { configMap } from './harness.ts';

describe('digestOf', () => {
  it('is the same for the same object written with its keys in another order', () => {
    const a = configMap('settings', 'ns', { color: 'blue', size: 'L' });
    const b = {
      data: { size: 'L', color: 'blue' },
      metadata: { namespace: 'ns', name: 'settings' },
      kind: 'ConfigMap',
      apiVersion: 'v1',
    };
    expect(canonicalJson(b)).toBe(canonicalJson(a));
    expect(digestOf(b)).toBe(digestOf(a));
    expect(digestOf(a)).toMatch(/^sha256:[0-9a-f]{32}$/);
  });

  it('changes with a value, the namespace, a label, or the order of a list', () => {
    const base = configMap('settings', 'ns', { color: 'blue' });
    const digests = [
      base,
      configMap('settings', 'ns', { color: 'red' }),
      configMap('settings', 'other', { color: 'blue' }),
      { ...base, metadata: { ...base.metadata, labels: { 'driftless.dev/app': 'other' } } },
      { ...base, spec: { items: [1, 2] } },
      { ...base, spec: { items: [2, 1] } },
    ].map(digestOf);
    expect(new Set(digests).size).toBe(digests.length);
  });
});
