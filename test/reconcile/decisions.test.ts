/** The decision table, row by row: each row is reached by its case and by no earlier row. */
import { describe, expect, it } from 'vitest';
import { DECISIONS, decide, type ObjectFacts } from '../../lambda/reconcile/decisions.ts';

/** An object applied at this revision, read, not yet dry-run: the facts each case starts from. */
const base: ObjectFacts = {
  disabled: false,
  pending: false,
  untouched: false,
  git: 'same',
  sameRevision: true,
  selfHeal: false,
  dryRun: false,
  namespaceGone: false,
  finishedJobGone: false,
  owner: 'ours',
  plan: 'not-run',
};

/** One case per row: the facts, the row they must reach, and what that row does. */
const cases: { row: string; facts: Partial<ObjectFacts>; verdict: string }[] = [
  {
    row: 'reconcile-disabled',
    facts: { disabled: true, untouched: true, owner: 'refused' },
    verdict: 'leave-alone',
  },
  {
    row: 'dry-run-awaits-definition',
    facts: { dryRun: true, pending: true, git: 'new' },
    verdict: 'report-pending-create',
  },
  {
    row: 'untouched-and-same-body',
    facts: { untouched: true, git: 'same', sameRevision: false },
    verdict: 'skip',
  },
  {
    row: 'untouched-rerendered',
    facts: { untouched: true, git: 'rerendered', selfHeal: true },
    verdict: 'keep-applied',
  },
  {
    row: 'untouched-legacy-same-revision',
    facts: { untouched: true, git: 'legacy' },
    verdict: 'skip-unverified',
  },
  {
    row: 'finished-job-removed',
    facts: { finishedJobGone: true, owner: 'unread' },
    verdict: 'keep-applied',
  },
  {
    row: 'namespace-gone-drift',
    facts: { namespaceGone: true, git: 'same', owner: 'unread' },
    verdict: 'report-drift',
  },
  { row: 'namespace-gone-changed', facts: { namespaceGone: true, git: 'changed' }, verdict: 'refuse' },
  { row: 'read-live', facts: { owner: 'unread' }, verdict: 'read' },
  { row: 'owned-elsewhere', facts: { owner: 'refused' }, verdict: 'refuse' },
  { row: 'dry-run-first', facts: { plan: 'not-run' }, verdict: 'dry-run' },
  { row: 'dry-run-failed', facts: { plan: 'failed', selfHeal: true }, verdict: 'refuse' },
  { row: 'in-sync', facts: { plan: 'none', git: 'changed' }, verdict: 'in-sync' },
  { row: 'drift-without-self-heal', facts: { plan: 'change', git: 'rerendered' }, verdict: 'report-drift' },
  {
    row: 'dry-run-would-apply',
    facts: { plan: 'change', git: 'changed', dryRun: true },
    verdict: 'report-would-apply',
  },
  { row: 'heal-drift', facts: { plan: 'change', git: 'legacy', selfHeal: true }, verdict: 'heal' },
  { row: 'apply-change', facts: { plan: 'change', git: 'changed' }, verdict: 'apply' },
];

describe('the decision table', () => {
  it('has a case for every row, and a row for every case', () => {
    expect(cases.map((c) => c.row)).toEqual(DECISIONS.map((r) => r.name));
  });

  it.each(cases)('reaches $row: $verdict', ({ row, facts, verdict }) => {
    const decided = decide({ ...base, ...facts });
    expect(decided.name).toBe(row);
    expect(decided.verdict).toBe(verdict);
  });

  it('treats a Secret or any object Git changed at the same commit as a change, not as drift', () => {
    // The old early return read "no digest" as "Git unchanged" at the same revision: a Secret's
    // new value was skipped while a ConfigMap's was applied.
    for (const git of ['changed', 'new'] as const) {
      expect(decide({ ...base, git, plan: 'change' }).verdict).toBe('apply');
      expect(decide({ ...base, git, untouched: true }).verdict).not.toMatch(/skip/);
    }
  });

  it('applies every difference on a new revision, self-heal or not', () => {
    for (const git of ['same', 'legacy', 'unknown', 'changed', 'new'] as const) {
      expect(decide({ ...base, sameRevision: false, git, plan: 'change' }).verdict).toBe('apply');
    }
  });

  it('never writes in a dry run', () => {
    const writes = new Set(['heal', 'apply']);
    const values: { [K in keyof ObjectFacts]: ObjectFacts[K][] } = {
      disabled: [false, true],
      pending: [false, true],
      untouched: [false, true],
      git: ['same', 'changed', 'new', 'legacy', 'unknown', 'rerendered'],
      sameRevision: [false, true],
      selfHeal: [false, true],
      dryRun: [true],
      namespaceGone: [false, true],
      finishedJobGone: [false, true],
      owner: ['unread', 'ours', 'refused'],
      plan: ['not-run', 'none', 'change', 'failed'],
    };
    let all: ObjectFacts[] = [{ ...base }];
    for (const [key, options] of Object.entries(values)) {
      all = all.flatMap((f) => options.map((v) => ({ ...f, [key]: v })));
    }
    expect(all.filter((f) => writes.has(decide(f).verdict))).toEqual([]);
  });
});
