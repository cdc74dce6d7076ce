/**
 * Judging one object that left Git: gathering the facts the prune decision table asks for (the
 * live object, what a Namespace or CRD holds) until a row settles it. Nothing is written here.
 */
import type { Discovery, ResourceInfo } from '../cluster/discovery.ts';
import { splitApiVersion } from '../cluster/discovery.ts';
import type { KubeClient } from '../cluster/kube-client.ts';
import { isCrd } from './crds.ts';
import { getObject, type LiveIndex } from './live.ts';
import { ownerApp } from './ownership.ts';
import { decidePrune, type PruneFacts, type PruneMessageInput, type PruneRow } from './prune-decisions.ts';
import {
  type Contents,
  type ContentsCheck,
  customResourcesOf,
  describeContents,
  keptBy,
  namespaceContents,
} from './prune-guards.ts';
import { describeRef, refKey, toRef } from './refs.ts';
import { isNamespace } from './stages.ts';
import type { InventoryEntry, KubeObject, ReconcileOptions } from './types.ts';
import { outsideScope } from './validate.ts';

/** What judging needs from the run. */
export interface JudgeContext {
  kube: KubeClient;
  discovery: Discovery;
  options: ReconcileOptions;
  live: LiveIndex;
  /** Why nothing may be deleted this run (e.g. an apply failed); orphans are reported instead. */
  blockedReason?: string;
  /**
   * uids of the objects the desired set resolved to. An inventory entry read through another API
   * group (an Ingress moved from `extensions` to `networking.k8s.io`) is the same object: keep it.
   */
  desiredUids?: Set<string>;
}

/** One orphan, judged: the row it reached, and what the row's message is made of. */
export interface Judged {
  entry: InventoryEntry;
  facts: PruneFacts;
  row: PruneRow;
  message: PruneMessageInput;
  info?: ResourceInfo;
  live?: KubeObject;
}

/** The facts every orphan starts from, before anything about it is read. */
export function startingFacts(options: ReconcileOptions): PruneFacts {
  return {
    emptySet: false,
    served: true,
    live: 'unread',
    inGit: false,
    owner: 'ours',
    pruneDisabled: false,
    helmKeep: false,
    helmCrd: false,
    pruneHelmCrds: options.pruneHelmCrds ?? false,
    listed: true,
    prune: options.prune ?? false,
    pruneUnlisted: options.pruneUnlisted ?? false,
    inScope: true,
    blocked: false,
    kind: 'other',
    contents: 'unchecked',
    overCap: false,
  };
}

/** Decides one orphan without writing anything: gathers the facts its rows ask for. */
export async function judge(
  ctx: JudgeContext,
  entry: InventoryEntry,
  listed: boolean,
  check?: ContentsCheck,
): Promise<Judged> {
  const { options } = ctx;
  const ref = toRef(entry);
  const info = await resolveServed(ctx.discovery, entry.apiVersion, entry.kind);
  const scopeReason = options.scope ? outsideScope(ref, options.scope) : undefined;
  let live = ctx.live.objects.get(refKey(entry));
  const facts: PruneFacts = {
    ...startingFacts(options),
    served: info !== undefined,
    helmCrd: entry.helmCrd === true,
    listed,
    inScope: scopeReason === undefined,
    blocked: ctx.blockedReason !== undefined,
    kind: isNamespace(ref) ? 'namespace' : isCrd(ref) ? 'crd' : 'other',
  };
  const message: PruneMessageInput = {
    ref,
    app: options.app,
    scopeReason,
    blockedReason: ctx.blockedReason,
  };
  const learnLive = (object: KubeObject) => {
    const owner = ownerApp(object);
    facts.live = 'present';
    facts.owner = owner === options.app ? 'ours' : owner === undefined ? 'none' : 'other';
    message.owner = owner !== options.app ? owner : undefined;
    facts.inGit = ctx.desiredUids?.has(object.metadata.uid as string) ?? false;
    facts.pruneDisabled = entry.pruneDisabled === true || keptBy(object) === 'prune-disabled';
    facts.helmKeep = keptBy(object) === 'helm-keep';
  };
  if (live) learnLive(live);

  for (;;) {
    const row = decidePrune(facts);
    if (row.action === 'read-live') {
      // Rows ask for the live object only once the kind is known to be served.
      const got = await getObject(ctx.kube, info as ResourceInfo, ref);
      if (!got.ok) {
        facts.live = 'unreadable';
        message.readError = got.message;
      } else if (!got.object) facts.live = 'gone';
      else {
        live = got.object;
        learnLive(live);
      }
      continue;
    }
    if (row.action === 'check-contents') {
      // Judged without a check (a Namespace or CRD in the first pass) is a bug, not a clear one.
      if (!check || !live) throw new RangeError(`${describeRef(ref)} was judged before what it holds`);
      const contents: Contents =
        facts.kind === 'namespace'
          ? await namespaceContents(check, ref.name)
          : await customResourcesOf(check, live);
      facts.contents = contents.state;
      if (contents.state !== 'clear')
        message.contents = describeContents(facts.kind as 'namespace' | 'crd', contents);
      continue;
    }
    return { entry, facts, row, message, info, live };
  }
}

/**
 * The kind through the version it was applied with, or through any version its group still
 * serves: an object outlives a version that stops being served (a CRD's `served: false`, a
 * removed built-in version) and must still be found and pruned.
 */
async function resolveServed(
  discovery: Discovery,
  apiVersion: string,
  kind: string,
): Promise<ResourceInfo | undefined> {
  const exact = await discovery.resolve(apiVersion, kind);
  if (exact) return exact;
  const { group } = splitApiVersion(apiVersion);
  for (const version of await discovery.servedVersions(group)) {
    const info = await discovery.resolve(group ? `${group}/${version}` : version, kind);
    if (info) return info;
  }
  return undefined;
}
