/**
 * The per-object decision as data (after gitops-engine's sync phases and Flux's ssa apply
 * options): what is known about one desired object (`ObjectFacts`) is matched against
 * `DECISIONS`, one named row per case, first match wins. A row either settles the object
 * (leave it, report it, refuse it, apply it) or asks for the next fact: read the live object,
 * then dry-run it. `decideObject` (sync-object.ts) gathers the facts and carries out the rows.
 *
 * The key fact is `git`: how the body Git asks for now compares with the body recorded when
 * driftless last applied or verified the object. Only a recorded, equal body lets a difference
 * on the same revision count as drift; a changed, new or unverified body is a change from Git.
 */

/** How Git's body compares with the recorded one (see `gitComparison`). */
export type GitComparison =
  /** Equal to the body recorded with the live resourceVersion: Git did not change the object. */
  | 'same'
  /** Recorded, and different (or recorded unverified, after a write whose answer was lost). */
  | 'changed'
  /** Not in the inventory: never applied by this app. */
  | 'new'
  /** Recorded by a version of driftless that kept no digest: on the same revision, taken as `same`. */
  | 'legacy'
  /** A Secret whose live object is gone: its keyed digest cannot be checked; taken as `same`. */
  | 'unknown'
  /**
   * Different, but from the same commit and render inputs as the recorded body: only the render's
   * randomness differs (`genCA`, `randAlphaNum`); Git did not change the object.
   */
  | 'rerendered';

/** Everything a row may look at. Values that are learnt later start as `unread` / `not-run`. */
export interface ObjectFacts {
  /** Git annotates the object `driftless.dev/reconcile: disabled`. */
  disabled: boolean;
  /**
   * A dry run, and the object lands in a Namespace or CRD this dry run would create, or binds a
   * role it would create (the binding's escalation check reads the role).
   */
  pending: boolean;
  /** The live object's resourceVersion is the one recorded when driftless applied or verified it. */
  untouched: boolean;
  git: GitComparison;
  /** The revision was synced before (`state.revision`). */
  sameRevision: boolean;
  selfHeal: boolean;
  /** The run writes nothing (`plan`, `--dry-run`). */
  dryRun: boolean;
  /** Its Namespace was deleted from the cluster and this run does not re-create it. */
  namespaceGone: boolean;
  /**
   * A Job with `ttlSecondsAfterFinished` that driftless applied and the LIST no longer finds: the
   * TTL controller removes a Job once it finished (ingress-nginx's admission Jobs use 0).
   */
  finishedJobGone: boolean;
  /** Whose the live object is, once read: `refused` when another app's or not adoptable. */
  owner: 'unread' | 'ours' | 'refused';
  /** The server-side apply dry run, once run. */
  plan: 'not-run' | 'none' | 'change' | 'failed';
}

/** What a row does. */
export type Verdict =
  /** Not applied, healed or pruned; reported `unchanged` with a message. */
  | 'leave-alone'
  /** Dry run: reported `created` as written, it cannot be dry-run before its Namespace, CRD or role. */
  | 'report-pending-create'
  /** `unchanged` without a dry run; the recorded entry stays verified. */
  | 'skip'
  /** `unchanged` without a dry run; recorded without a digest until a dry run verifies it. */
  | 'skip-unverified'
  /** `unchanged` without a dry run; the recorded entry (the body applied) stays as it is. */
  | 'keep-applied'
  /** Reported `drifted`: self-heal is off. */
  | 'report-drift'
  /** Reported `failed`. */
  | 'refuse'
  /** Read the live object (GET) and check who owns it, then decide again. */
  | 'read'
  /** Dry-run the apply, then decide again. */
  | 'dry-run'
  /** `unchanged`: the dry run changes nothing; recorded as verified. */
  | 'in-sync'
  /** Dry run: reported `created`/`configured` with the dry run's diff. */
  | 'report-would-apply'
  /** Applied, as drift healed (self-heal on an unchanged revision). */
  | 'heal'
  /** Applied, as a change from Git. */
  | 'apply';

/** A fact's required value, or any of several. */
type Pattern = { [K in keyof ObjectFacts]?: ObjectFacts[K] | readonly ObjectFacts[K][] };

export interface DecisionRow {
  /** Stable name, used in tests and debug logs. */
  name: string;
  when: Pattern;
  verdict: Verdict;
  /** Why, for a reader of the table. */
  why: string;
}

/** Git comparisons under which a difference on the same revision is drift, not a change from Git. */
const GIT_UNCHANGED = ['same', 'legacy', 'unknown', 'rerendered'] as const;

/** The decision table, first match wins. The last row matches everything. */
export const DECISIONS: readonly DecisionRow[] = [
  {
    name: 'reconcile-disabled',
    when: { disabled: true },
    verdict: 'leave-alone',
    why: 'driftless.dev/reconcile: disabled in Git: not read, applied, healed or pruned',
  },
  {
    name: 'dry-run-awaits-definition',
    when: { dryRun: true, pending: true },
    verdict: 'report-pending-create',
    why: 'its Namespace, CRD or bound role is only created by this run, so it cannot be dry-run yet',
  },
  {
    name: 'untouched-and-same-body',
    when: { untouched: true, git: 'same' },
    verdict: 'skip',
    why: 'nobody wrote it since driftless applied this very body: applying again changes nothing',
  },
  {
    name: 'untouched-rerendered',
    when: { untouched: true, git: 'rerendered' },
    verdict: 'keep-applied',
    why: 'the same commit and render inputs rendered another random body (a generated certificate): what driftless applied stands, as with Helm',
  },
  {
    name: 'untouched-legacy-same-revision',
    when: { untouched: true, git: 'legacy', sameRevision: true },
    verdict: 'skip-unverified',
    why: 'state from before digests: the same revision stands in for the same body',
  },
  {
    name: 'finished-job-removed',
    when: { finishedJobGone: true, git: GIT_UNCHANGED },
    verdict: 'keep-applied',
    why: 'its TTL controller removed it after it finished: it did its work, so it is not drift; a change in Git runs it again',
  },
  {
    name: 'namespace-gone-drift',
    when: { namespaceGone: true, sameRevision: true, git: GIT_UNCHANGED },
    verdict: 'report-drift',
    why: 'deleted with its Namespace; self-heal is off, so neither is re-created',
  },
  {
    name: 'namespace-gone-changed',
    when: { namespaceGone: true },
    verdict: 'refuse',
    why: 'Git changed it, but its Namespace was deleted and self-heal is off: it cannot be applied',
  },
  {
    name: 'read-live',
    when: { owner: 'unread' },
    verdict: 'read',
    why: 'the live object decides ownership and is what the dry run is compared with',
  },
  {
    name: 'owned-elsewhere',
    when: { owner: 'refused' },
    verdict: 'refuse',
    why: "another app's object, or an unlabelled one the app does not adopt",
  },
  {
    name: 'dry-run-first',
    when: { plan: 'not-run' },
    verdict: 'dry-run',
    why: 'every object about to be written, or compared, is dry-run first: a bad set writes nothing',
  },
  {
    name: 'dry-run-failed',
    when: { plan: 'failed' },
    verdict: 'refuse',
    why: 'the API server rejected the dry run',
  },
  {
    name: 'in-sync',
    when: { plan: 'none' },
    verdict: 'in-sync',
    why: 'applying would change nothing',
  },
  {
    name: 'drift-without-self-heal',
    when: { sameRevision: true, git: GIT_UNCHANGED, selfHeal: false },
    verdict: 'report-drift',
    why: 'live differs from what Git still asks for; self-heal is off',
  },
  {
    name: 'dry-run-would-apply',
    when: { dryRun: true },
    verdict: 'report-would-apply',
    why: 'a dry run reports what it would write',
  },
  {
    name: 'heal-drift',
    when: { sameRevision: true, git: GIT_UNCHANGED },
    verdict: 'heal',
    why: 'live differs from what Git still asks for; self-heal re-applies it',
  },
  {
    name: 'apply-change',
    when: {},
    verdict: 'apply',
    why: 'a new revision, or Git changed the object: apply it',
  },
];

/** The first row of `DECISIONS` that `facts` match. */
export function decide(facts: ObjectFacts): DecisionRow {
  const row = DECISIONS.find((r) => matches(r.when, facts));
  // The last row matches everything; this only guards against an edited table.
  if (!row) throw new RangeError('the decision table has no row for these facts');
  return row;
}

function matches(pattern: Pattern, facts: ObjectFacts): boolean {
  return Object.entries(pattern).every(([key, wanted]) => {
    const value = facts[key as keyof ObjectFacts];
    return Array.isArray(wanted) ? wanted.includes(value) : wanted === value;
  });
}
