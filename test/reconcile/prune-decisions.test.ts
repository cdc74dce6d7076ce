/** The prune decision table, row by row: each row is reached by its case and by no earlier row. */
import { describe, expect, it } from 'vitest';
import {
  capRefusal,
  decidePrune,
  PRUNE_DECISIONS,
  type PruneFacts,
} from '../../lambda/reconcile/prune-decisions.ts';

/** An orphan of this app, read, in the inventory and the scope, prune on, nothing checked yet. */
const base: PruneFacts = {
  emptySet: false,
  served: true,
  live: 'present',
  inGit: false,
  owner: 'ours',
  pruneDisabled: false,
  helmKeep: false,
  helmCrd: false,
  pruneHelmCrds: false,
  listed: true,
  prune: true,
  pruneUnlisted: false,
  inScope: true,
  blocked: false,
  kind: 'other',
  contents: 'unchecked',
  overCap: false,
};

/** One case per row: the facts, the row they must reach, and what that row does. */
const cases: { row: string; facts: Partial<PruneFacts>; action: string; forget: boolean }[] = [
  {
    row: 'empty-set',
    facts: { emptySet: true, live: 'unread', pruneDisabled: true },
    action: 'orphaned',
    forget: false,
  },
  { row: 'kind-not-served', facts: { served: false, live: 'unread' }, action: 'drop', forget: true },
  { row: 'read-live', facts: { live: 'unread', owner: 'other' }, action: 'read-live', forget: false },
  { row: 'read-failed', facts: { live: 'unreadable' }, action: 'failed', forget: false },
  { row: 'already-gone', facts: { live: 'gone', pruneDisabled: true }, action: 'drop', forget: true },
  { row: 'still-in-git', facts: { inGit: true, owner: 'other' }, action: 'drop', forget: true },
  {
    row: 'owned-by-other-app',
    facts: { owner: 'other', pruneDisabled: true },
    action: 'orphaned',
    forget: true,
  },
  { row: 'label-removed', facts: { owner: 'none', prune: false }, action: 'orphaned', forget: true },
  {
    row: 'prune-disabled',
    facts: { pruneDisabled: true, helmKeep: true, inScope: false },
    action: 'keep',
    forget: true,
  },
  { row: 'helm-keep', facts: { helmKeep: true, prune: false }, action: 'keep', forget: true },
  {
    row: 'helm-chart-crd',
    facts: { helmCrd: true, kind: 'crd', prune: false, inScope: false },
    action: 'keep',
    forget: false,
  },
  { row: 'prune-off-unlisted', facts: { prune: false, listed: false }, action: 'orphaned', forget: false },
  { row: 'prune-off', facts: { prune: false, inScope: false }, action: 'orphaned', forget: false },
  { row: 'not-in-inventory', facts: { listed: false, inScope: false }, action: 'orphaned', forget: false },
  {
    row: 'outside-scope',
    facts: { inScope: false, blocked: true, kind: 'namespace' },
    action: 'orphaned',
    forget: false,
  },
  { row: 'run-blocked', facts: { blocked: true, kind: 'crd' }, action: 'orphaned', forget: false },
  {
    row: 'check-namespace-contents',
    facts: { kind: 'namespace', overCap: true },
    action: 'check-contents',
    forget: false,
  },
  { row: 'check-crd-contents', facts: { kind: 'crd' }, action: 'check-contents', forget: false },
  {
    row: 'namespace-holds-kept',
    facts: { kind: 'namespace', contents: 'holds', overCap: true },
    action: 'orphaned',
    forget: false,
  },
  {
    row: 'crd-holds-kept',
    facts: { kind: 'crd', contents: 'unreadable' },
    action: 'orphaned',
    forget: false,
  },
  {
    row: 'deletion-cap',
    facts: { kind: 'namespace', contents: 'clear', overCap: true },
    action: 'orphaned',
    forget: false,
  },
  {
    row: 'prune',
    facts: { listed: false, pruneUnlisted: true, helmCrd: true, pruneHelmCrds: true },
    action: 'pruned',
    forget: true,
  },
];

/** Every combination of facts (about 147,000), for properties that must hold whatever the case. */
function everyCombination(): PruneFacts[] {
  const values: { [K in keyof PruneFacts]: PruneFacts[K][] } = {
    // emptySet and served decide before anything else (their cases above): kept at the base.
    emptySet: [false],
    served: [true],
    live: ['unread', 'present', 'gone', 'unreadable'],
    inGit: [false, true],
    owner: ['ours', 'other', 'none'],
    pruneDisabled: [false, true],
    helmKeep: [false, true],
    // pruneHelmCrds stays off (the base): a chart's CRD is then never pruned.
    helmCrd: [false, true],
    pruneHelmCrds: [false],
    listed: [false, true],
    prune: [false, true],
    pruneUnlisted: [false, true],
    inScope: [false, true],
    blocked: [false, true],
    kind: ['namespace', 'crd', 'other'],
    contents: ['unchecked', 'clear', 'holds', 'unreadable'],
    overCap: [false, true],
  };
  let all: PruneFacts[] = [{ ...base }];
  for (const [key, options] of Object.entries(values)) {
    all = all.flatMap((f) => options.map((v) => ({ ...f, [key]: v })));
  }
  return all;
}

describe('the prune decision table', () => {
  it('has a case for every row, and a row for every case', () => {
    expect(cases.map((c) => c.row)).toEqual(PRUNE_DECISIONS.map((r) => r.name));
  });

  it.each(cases)('reaches $row: $action', ({ row, facts, action, forget }) => {
    const decided = decidePrune({ ...base, ...facts });
    expect(decided.name).toBe(row);
    expect(decided.action).toBe(action);
    expect(decided.forget).toBe(forget);
  });

  it('gives every row that reports something a message that names the object or the reason', () => {
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'ns', name: 'cm' };
    for (const row of PRUNE_DECISIONS.filter((r) => ['orphaned', 'failed', 'keep'].includes(r.action))) {
      const text = row.message?.({
        ref,
        app: 'a',
        readError: 'ConfigMap ns/cm: HTTP 403',
        scopeReason: 'namespace "ns" is not in scope.namespaces [other]',
        blockedReason: 'not pruned: 1 object(s) failed to apply in this run',
        contents: 'it holds ConfigMap ns/x of app "b"',
        capRefusal: capRefusal({ app: 'a', candidates: 7, ownedBefore: 10, cap: 5, fromSetting: false }),
      });
      expect(text, row.name).toMatch(/ConfigMap ns\/cm|prune|scope|failed|empty|limit|kept in place/);
    }
  });

  it('prunes only what nothing keeps: never a Namespace or CRD that holds what must stay', () => {
    const all = everyCombination();
    const pruned = all.filter((f) => decidePrune(f).action === 'pruned');
    expect(pruned.length).toBeGreaterThan(0);
    for (const f of pruned) {
      expect(f).toMatchObject({
        emptySet: false,
        served: true,
        live: 'present',
        inGit: false,
        owner: 'ours',
        pruneDisabled: false,
        helmKeep: false,
        helmCrd: false,
        prune: true,
        inScope: true,
        blocked: false,
        overCap: false,
      });
      expect(f.listed || f.pruneUnlisted).toBe(true);
      // A Namespace or CRD goes only once what it holds was checked and found clear.
      if (f.kind !== 'other') expect(f.contents).toBe('clear');
    }
  });

  it('reports outside the scope as orphaned, naming the setting, and keeps it in the inventory', () => {
    const row = decidePrune({ ...base, inScope: false });
    expect(row.name).toBe('outside-scope');
    expect(row.forget).toBe(false);
    expect(
      row.message?.({
        ref: { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'gone', name: 'cm' },
        app: 'a',
        scopeReason: `namespace "gone" is not in scope.namespaces [kept]; add it to the app's scope.namespaces in the deploy config`,
      }),
    ).toBe(
      `ConfigMap gone/cm not pruned: it is outside the app's scope: namespace "gone" is not in scope.namespaces [kept]; add it to the app's scope.namespaces in the deploy config`,
    );
  });
});
