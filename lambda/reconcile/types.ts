/**
 * The vocabulary of a reconcile: what goes in (desired objects, options, previous state) and what
 * comes out (a plain change set and the new state). Shared by the engine, history, the handler and
 * the CLI; the JSON shape of `SyncResult` is the CLI's public contract (see README).
 */

/** A Kubernetes object as parsed from a manifest (only the fields driftless reads are typed). */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** Where a desired object came from, for error messages: `path/in/repo.yaml` and document index (0-based). */
export interface ManifestOrigin {
  file: string;
  document: number;
  /** Index in the document's `items` when the document is a List (`kind: List`, `ConfigMapList`). */
  item?: number;
  /** A CRD from a Helm chart's `crds/` folder: installed and upgraded, never pruned unless `pruneHelmCrds`. */
  helmCrd?: boolean;
}

export interface DesiredObject {
  object: KubeObject;
  origin: ManifestOrigin;
}

/** Identifies an object in the cluster. `namespace` is absent for cluster-scoped objects. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

/**
 * What became of an object. `skipped`: not written because the set was refused before its first
 * write or an earlier stage failed (never reported as `unchanged`).
 */
export type Action =
  | 'created'
  | 'configured'
  | 'unchanged'
  | 'pruned'
  | 'drifted'
  | 'orphaned'
  | 'failed'
  | 'skipped';

export type Health = 'Healthy' | 'Progressing' | 'Degraded' | 'Unknown';

export type Outcome = 'Synced' | 'OutOfSync' | 'Failed';

export interface ResourceResult extends ObjectRef {
  action: Action;
  /** Why it failed, who owns it, which fields were taken from another manager, ... */
  message?: string;
  /** Unified YAML diff, live -> desired, noise and Secret values removed. */
  diff?: string;
  health?: Health;
}

/** One object the app owns, as last applied. */
export interface InventoryEntry extends ObjectRef {
  /** resourceVersion after driftless last applied or verified it; lets a no-op run skip the dry-run. */
  resourceVersion?: string;
  /**
   * `digestOf` the body driftless applied (namespace defaulted, app label added) when it recorded
   * `resourceVersion`. Both unchanged: applying again changes nothing, on any revision. Absent in
   * state written before digests existed, and whenever the body was not applied or verified.
   */
  digest?: string;
  /**
   * `writersOf` the live object when `resourceVersion` was recorded: who had written what outside
   * `status`. Equal later, the object is untouched although a controller moved its resourceVersion.
   */
  writers?: string;
  /** Apply stage, so prune can run in reverse stage order. */
  stage?: number;
  /** Its manifest carried `driftless.dev/prune: disabled`: never deleted, even when that is gone live. */
  pruneDisabled?: boolean;
  /** It came from a Helm chart's `crds/` folder (Helm never deletes those). */
  helmCrd?: boolean;
}

/** Where an app's manifests come from: the repo URL without credentials, and the folder in it. */
export interface AppSource {
  repo: string;
  path: string;
}

/** What the engine remembers between runs of one app on one cluster (stored by `history/`). */
export interface AppState {
  /** Commit SHA of the last run that applied successfully. */
  revision?: string;
  /** `renderInputs` of that run: with the same revision, a render that differs is the chart's randomness. */
  renderInputs?: string;
  inventory: InventoryEntry[];
  /** The source the app was last synced from; a run from another source is refused. */
  source?: AppSource;
}

/**
 * What an app may touch (like an Argo CD AppProject), set by the platform team in the deploy
 * config. `"*"` in a list allows everything.
 */
export interface AppScope {
  /** Namespaces namespaced objects may be in, and Namespaces the app may manage. */
  namespaces: string[];
  /** Cluster-scoped kinds the app may manage, e.g. `Namespace`, `ClusterRole`. */
  clusterKinds: string[];
}

export interface ReconcileOptions {
  /** The app's name: the value of the `driftless.dev/app` ownership label. */
  app: string;
  /** Commit SHA being synced. */
  revision: string;
  /**
   * Digest of every render input besides the commit (chart, values, release, capabilities, tool).
   * Equal to the stored one on the same revision, an untouched object is kept as applied whatever
   * the new render says (a chart's generated certificate). @default none (plain manifests)
   */
  renderInputs?: string;
  /** Namespace for namespaced objects that name none. */
  defaultNamespace: string;
  /** Delete owned objects that left Git. @default false */
  prune?: boolean;
  /** Re-apply objects that drifted on the same revision. @default false */
  selfHeal?: boolean;
  /** Allow an empty desired set to prune everything. @default false */
  allowEmpty?: boolean;
  /** Compute and report, write nothing. @default false */
  dryRun?: boolean;
  /** Take over existing objects that do not carry this app's label. @default false */
  adopt?: boolean;
  /** What the app may touch. @default unrestricted (the CLI without a deploy config) */
  scope?: AppScope;
  /**
   * Most objects one run may prune. @default half of the objects the app owned before the run,
   * when it owned more than 5 (else no cap)
   */
  pruneLimit?: number;
  /**
   * Prune labelled objects the inventory does not list (a lost or new history store). Only when
   * the stored source matches this run's. @default false
   */
  pruneUnlisted?: boolean;
  /**
   * Create the app's namespace (`defaultNamespace`) before the first write when it is missing,
   * labelled as the app's; one that exists without the app's label is left alone. @default false
   */
  createNamespace?: boolean;
  /** Prune CRDs of a Helm chart's `crds/` folder that left the chart (Helm never does). @default false */
  pruneHelmCrds?: boolean;
  /** Parallel requests inside one stage. @default 8 */
  concurrency?: number;
  /** How long to wait for applied objects to become healthy. @default 0 (check once) */
  healthTimeoutMs?: number;
}

export interface ReconcileResult {
  outcome: Outcome;
  resources: ResourceResult[];
  /** The worst health of the applied objects. */
  health: Health;
  /** State to store for the next run (unchanged from the input on a dry run). */
  state: AppState;
  /** Set when the run as a whole failed (validation, API server down). */
  error?: string;
}

/** A finished run as printed by `--output json` and stored in the history. */
export interface SyncResult {
  app: string;
  revision: string;
  outcome: Outcome;
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  resources: ResourceResult[];
  health?: Health;
  error?: string;
}

/** The label that marks an object as owned by an app. */
export const APP_LABEL = 'driftless.dev/app';
/** The field manager of every driftless apply. */
export const FIELD_MANAGER = 'driftless';
/** Annotation that keeps an object from ever being deleted by prune (`disabled`). */
export const PRUNE_ANNOTATION = 'driftless.dev/prune';
/** Annotation that makes driftless leave an object alone entirely (`disabled`). */
export const RECONCILE_ANNOTATION = 'driftless.dev/reconcile';
