import { describe, expect, it } from 'vitest';
import { normalize, renderDiff, sameObject } from '../../lambda/reconcile/diff.ts';
import type { KubeObject } from '../../lambda/reconcile/types.ts';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

function liveConfigMap(annotations?: Record<string, string>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: 'cm',
      namespace: 'ns',
      uid: 'u-1',
      resourceVersion: '42',
      creationTimestamp: '2026-12-01T00:00:00Z',
      managedFields: [{ manager: 'driftless', operation: 'Apply' }],
      ...(annotations ? { annotations } : {}),
    },
    data: { key: 'value' },
    status: { observed: true },
  };
}

describe('normalize', () => {
  it('drops the server-owned noise and leaves the object it was given as it was', () => {
    const live = liveConfigMap({ [LAST_APPLIED]: '{"data":{"key":"value"}}', team: 'a' });
    const before = structuredClone(live);
    expect(normalize(live)).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cm', namespace: 'ns', annotations: { team: 'a' } },
      data: { key: 'value' },
    });
    expect(live).toEqual(before);
  });

  it('drops annotations left empty, whether kubectl left them or they were empty', () => {
    expect(normalize(liveConfigMap({ [LAST_APPLIED]: '{}' })).metadata).not.toHaveProperty('annotations');
    expect(normalize(liveConfigMap({})).metadata).not.toHaveProperty('annotations');
  });

  it('puts apiVersion, kind and metadata first whatever the order of the answer', () => {
    const { data, metadata, kind, apiVersion } = liveConfigMap();
    const reordered = { data, metadata, kind, apiVersion } as KubeObject;
    expect(Object.keys(normalize(reordered))).toEqual(['apiVersion', 'kind', 'metadata', 'data']);
    expect(sameObject(reordered, liveConfigMap())).toBe(true);
  });
});

describe('renderDiff', () => {
  const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'cm', namespace: 'ns' };

  it('shows a created object as added lines, without its noise', () => {
    const diff = renderDiff(ref, undefined, liveConfigMap()) ?? '';
    expect(diff).toContain('@@ -0,0 +1,');
    expect(diff).toContain('+  key: value');
    expect(diff).not.toMatch(/uid|resourceVersion|managedFields|status/);
  });

  it('is undefined when only noise differs', () => {
    const other = liveConfigMap();
    other.metadata.resourceVersion = '43';
    expect(renderDiff(ref, liveConfigMap(), other)).toBeUndefined();
  });

  it('masks Secret values, showing which keys changed', () => {
    const secret = (value: string): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's', namespace: 'ns' },
      data: { same: 'c2FtZQ==', changed: value },
    });
    const diff = renderDiff({ ...ref, kind: 'Secret', name: 's' }, secret('b2xk'), secret('bmV3')) ?? '';
    expect(diff).toContain('-  changed: "*** (before)"');
    expect(diff).toContain('+  changed: "*** (after)"');
    expect(diff).not.toMatch(/b2xk|bmV3|c2FtZQ/);
  });
});
