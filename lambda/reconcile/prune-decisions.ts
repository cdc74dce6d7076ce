/**
 * The prune decision as data, like `decisions.ts` for applies: what is known about one object
 * that left Git (`PruneFacts`) is matched against `PRUNE_DECISIONS`, one named row per case,
 * first match wins. A row either settles the object (prune it, keep it, report it orphaned or
 * failed, drop it from the inventory) or asks for the next fact: read the live object, then look
 * inside a Namespace or CRD about to be deleted. `pruneOrphans` (prune.ts) gathers the facts,
 * carries out the rows and logs each object's row by name.
 *
 * Two rows refuse the whole prune (`refusesRun`): an empty desired set, and more candidates than
 * the deletion cap. The cap is a fact about the set, so it is learnt once every object is judged.
 */
import { describeRef } from './refs.ts';
import { APP_LABEL, type ObjectRef, PRUNE_ANNOTATION } from './types.ts';

/** Everything a row may look at. Facts learnt later start as `unread` / `unchecked`. */
export interface PruneFacts {
  /** Prune is on, the desired set is empty and `allowEmpty` is off. */
  emptySet: boolean;
  /** Some version of the object's kind is still served (its CRD still exists). */
  served: boolean;
  /** The live object: from the run's labelled LIST, or read by itself (GET) when not in it. */
  live: 'unread' | 'present' | 'gone' | 'unreadable';
  /** The live object is one the desired set resolved to (read through another API group). */
  inGit: boolean;
  /** Whose the live object's `driftless.dev/app` label says it is. */
  owner: 'ours' | 'other' | 'none';
  /** `driftless.dev/prune: disabled`, in Git when it was applied or on the live object. */
  pruneDisabled: boolean;
  /** `helm.sh/resource-policy: keep` on the live object. */
  helmKeep: boolean;
  /** A CRD applied from a Helm chart's `crds/` folder (recorded in the inventory). */
  helmCrd: boolean;
  /** The app prunes such CRDs too (`helm.pruneCrds`). */
  pruneHelmCrds: boolean;
  /** In the stored inventory (false: labelled for the app, found by a search of every kind). */
  listed: boolean;
  prune: boolean;
  /** Labelled objects the inventory does not list may be pruned (the stored source matches). */
  pruneUnlisted: boolean;
  /** Inside the app's scope (`scope.namespaces`, `scope.clusterKinds`). */
  inScope: boolean;
  /** Nothing may be deleted this run: objects failed to apply. */
  blocked: boolean;
  /** Deleting a Namespace or a CRD deletes what it holds. */
  kind: 'namespace' | 'crd' | 'other';
  /** What the Namespace or CRD holds besides what this run prunes. */
  contents: 'unchecked' | 'clear' | 'holds' | 'unreadable';
  /** It is one of more candidates than the deletion cap allows. */
  overCap: boolean;
}

/** What a row does. */
export type PruneAction =
  /** Deleted (a dry run reports it `pruned` and deletes nothing). */
  | 'pruned'
  /** Reported `orphaned`, left in place. */
  | 'orphaned'
  /** Reported `failed`. */
  | 'failed'
  /** Reported `unchanged`: left in place on purpose. */
  | 'keep'
  /** Nothing to report: it is gone, or it is still in Git under another API group. */
  | 'drop'
  /** Read the live object (GET), then decide again. */
  | 'read-live'
  /** List what the Namespace or CRD holds, then decide again. */
  | 'check-contents';

/** The values a row's message is made of; rendered once, here. */
export interface PruneMessageInput {
  ref: ObjectRef;
  app: string;
  /** The app another app's label names. */
  owner?: string;
  /** Why the live object could not be read. */
  readError?: string;
  /** Why it is outside the scope, naming the setting (from `outsideScope`). */
  scopeReason?: string;
  /** Why nothing may be deleted this run. */
  blockedReason?: string;
  /** What keeps the Namespace or CRD (from `describeContents`). */
  contents?: string;
  /** The deletion cap's refusal (from `capRefusal`). */
  capRefusal?: string;
}

/** A fact's required value, or any of several. */
type Pattern = { [K in keyof PruneFacts]?: PruneFacts[K] | readonly PruneFacts[K][] };

export interface PruneRow {
  /** Stable name, used in tests and logged per object. */
  name: string;
  when: Pattern;
  action: PruneAction;
  /** Dropped from the inventory (for `pruned`: once the delete succeeded). */
  forget: boolean;
  /** The whole prune is refused and the run fails. */
  refusesRun?: boolean;
  /** The object's message, when the row reports one. */
  message?: (m: PruneMessageInput) => string;
  /** Why, for a reader of the table. */
  why: string;
}

const NOT_LISTED = (m: PruneMessageInput) =>
  `labelled ${APP_LABEL}=${m.app} but not in the stored inventory (a new or lost history store?)`;
const NOT_OURS = (m: PruneMessageInput) =>
  `${describeRef(m.ref)} no longer carries ${APP_LABEL}=${m.app}${m.owner ? ` (owned by app "${m.owner}")` : ''}; left in place and dropped from the inventory`;

/** The prune decision table, first match wins. The last row matches everything. */
export const PRUNE_DECISIONS: readonly PruneRow[] = [
  {
    name: 'empty-set',
    when: { emptySet: true },
    action: 'orphaned',
    forget: false,
    refusesRun: true,
    message: () => 'not pruned: the desired set is empty',
    why: 'an empty render (a moved folder, a broken generator) must not delete the whole app',
  },
  {
    name: 'kind-not-served',
    when: { served: false },
    action: 'drop',
    forget: true,
    why: 'no version of its kind is served (its CRD is gone), so neither is the object',
  },
  {
    name: 'read-live',
    when: { live: 'unread' },
    action: 'read-live',
    forget: false,
    why: 'not in the labelled LIST: gone, or its label was removed; the live object decides',
  },
  {
    name: 'read-failed',
    when: { live: 'unreadable' },
    action: 'failed',
    forget: false,
    message: (m) => m.readError ?? `${describeRef(m.ref)} could not be read`,
    why: 'what cannot be read cannot be checked',
  },
  {
    name: 'already-gone',
    when: { live: 'gone' },
    action: 'drop',
    forget: true,
    why: 'deleted by someone else: nothing left to prune',
  },
  {
    name: 'still-in-git',
    when: { inGit: true },
    action: 'drop',
    forget: true,
    why: 'the desired set resolved to this very object (its manifest moved to another API group)',
  },
  {
    name: 'owned-by-other-app',
    when: { owner: 'other' },
    action: 'orphaned',
    forget: true,
    message: NOT_OURS,
    why: "another app's label: never touched, and no longer this app's to track",
  },
  {
    name: 'label-removed',
    when: { owner: 'none' },
    action: 'orphaned',
    forget: true,
    message: NOT_OURS,
    why: 'someone removed the app label: prune needs label AND inventory',
  },
  {
    name: 'prune-disabled',
    when: { pruneDisabled: true },
    action: 'keep',
    forget: true,
    message: () =>
      `removed from Git; kept in place (${PRUNE_ANNOTATION}: disabled) and dropped from the inventory`,
    why: 'driftless.dev/prune: disabled, in Git or live: never deleted',
  },
  {
    name: 'helm-keep',
    when: { helmKeep: true },
    action: 'keep',
    forget: true,
    message: () =>
      'removed from Git; kept in place (helm.sh/resource-policy: keep) and dropped from the inventory',
    why: 'Helm never deletes an object with helm.sh/resource-policy: keep; neither does driftless',
  },
  {
    name: 'helm-chart-crd',
    when: { helmCrd: true, pruneHelmCrds: false },
    action: 'keep',
    forget: false,
    message: () =>
      "removed from the chart's crds/ folder; kept in place, as Helm keeps it (deleting a CRD deletes all its custom resources); set helm.pruneCrds: true for the app to prune it",
    why: "Helm never deletes a chart's crds/; still tracked, so an app that opts in later prunes it",
  },
  {
    name: 'prune-off-unlisted',
    when: { prune: false, listed: false },
    action: 'orphaned',
    forget: false,
    message: (m) => `${NOT_LISTED(m)}; prune is off`,
    why: 'prune is off; the object is not in the inventory either',
  },
  {
    name: 'prune-off',
    when: { prune: false },
    action: 'orphaned',
    forget: false,
    message: () => 'removed from Git; prune is off',
    why: 'without prune, what left Git is reported, not deleted',
  },
  {
    name: 'not-in-inventory',
    when: { listed: false, pruneUnlisted: false },
    action: 'orphaned',
    forget: false,
    message: (m) =>
      `${NOT_LISTED(m)}; not pruned: no stored source of the app confirms it is this app's (the next run from the same source prunes it)`,
    why: 'the label alone is not proof: prune needs label AND inventory (or a matching stored source)',
  },
  {
    name: 'outside-scope',
    when: { inScope: false },
    action: 'orphaned',
    forget: false,
    message: (m) => `${describeRef(m.ref)} not pruned: it is outside the app's scope: ${m.scopeReason}`,
    why: 'the app may only touch what its scope allows; a narrowed scope leaves the rest in place',
  },
  {
    name: 'run-blocked',
    when: { blocked: true },
    action: 'orphaned',
    forget: false,
    message: (m) => m.blockedReason ?? 'not pruned: this run is blocked',
    why: 'objects failed to apply: the set is not what Git asks for, so nothing is deleted',
  },
  {
    name: 'check-namespace-contents',
    when: { kind: 'namespace', contents: 'unchecked' },
    action: 'check-contents',
    forget: false,
    why: 'deleting a Namespace deletes everything in it',
  },
  {
    name: 'check-crd-contents',
    when: { kind: 'crd', contents: 'unchecked' },
    action: 'check-contents',
    forget: false,
    why: 'deleting a CRD deletes all its custom resources',
  },
  {
    name: 'namespace-holds-kept',
    when: { kind: 'namespace', contents: ['holds', 'unreadable'] },
    action: 'orphaned',
    forget: false,
    message: (m) => `${describeRef(m.ref)} not pruned: ${m.contents}`,
    why: "it holds what must stay (another app's, no app's, kept by annotation, still in Git), or what could not be checked",
  },
  {
    name: 'crd-holds-kept',
    when: { kind: 'crd', contents: ['holds', 'unreadable'] },
    action: 'orphaned',
    forget: false,
    message: (m) => `${describeRef(m.ref)} not pruned: ${m.contents}`,
    why: 'custom resources of it must stay, or could not be checked',
  },
  {
    name: 'deletion-cap',
    when: { overCap: true },
    action: 'orphaned',
    forget: false,
    refusesRun: true,
    message: (m) => `not pruned: ${m.capRefusal}`,
    why: 'more deletions than the cap allows in one run: a mistaken commit must not empty the app',
  },
  {
    name: 'prune',
    when: {},
    action: 'pruned',
    forget: true,
    why: "this app's (label and inventory), left Git, nothing keeps it: delete it",
  },
];

/** The first row of `PRUNE_DECISIONS` that `facts` match. */
export function decidePrune(facts: PruneFacts): PruneRow {
  const row = PRUNE_DECISIONS.find((r) => matches(r.when, facts));
  // The last row matches everything; this only guards against an edited table.
  if (!row) throw new RangeError('the prune decision table has no row for these facts');
  return row;
}

/** The deletion cap's refusal, naming the counts and the setting that allows more. */
export function capRefusal(c: {
  app: string;
  candidates: number;
  ownedBefore: number;
  cap: number;
  fromSetting: boolean;
}): string {
  return `refusing to prune ${c.candidates} of the ${c.ownedBefore} objects app "${c.app}" owned: more than the limit of ${c.cap} per run (${c.fromSetting ? 'pruneLimit' : 'half of them'}); set pruneLimit in the deploy config or pass --prune-limit ${c.candidates} to allow it`;
}

function matches(pattern: Pattern, facts: PruneFacts): boolean {
  return Object.entries(pattern).every(([key, wanted]) => {
    const value = facts[key as keyof PruneFacts];
    return Array.isArray(wanted) ? wanted.includes(value) : wanted === value;
  });
}
