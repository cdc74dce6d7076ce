/**
 * `createNamespace`: the app's namespace joins the desired set when it is missing, or when it is
 * the app's already (created by an earlier run), so it is dry-run and created in the first stage,
 * before any other write, labelled as the app's and tracked in the inventory. A namespace that
 * exists without the app's label is never taken over (it is not added), and one the app's
 * manifests define is theirs. Once the setting is off, the Namespace leaves the set and prune's
 * guards decide: it goes only with prune on, and only when it holds nothing that must stay.
 */
import type { Discovery } from '../cluster/discovery.ts';
import type { KubeClient } from '../cluster/kube-client.ts';
import { getObject } from './live.ts';
import { ownerApp } from './ownership.ts';
import type { DesiredObject, KubeObject, ReconcileOptions } from './types.ts';

/** Where the namespace "came from", in messages: the setting, not a file. */
export const CREATE_NAMESPACE_ORIGIN = 'createNamespace: true (app setting)';

/** `desired`, plus the app's Namespace when `createNamespace` asks for it and it is the app's to create. */
export async function withAppNamespace(
  kube: KubeClient,
  discovery: Discovery,
  desired: DesiredObject[],
  options: Pick<ReconcileOptions, 'app' | 'defaultNamespace' | 'createNamespace'>,
): Promise<DesiredObject[]> {
  if (!options.createNamespace) return desired;
  const name = options.defaultNamespace;
  const object: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
  if (desired.some((d) => d.object.kind === object.kind && d.object.metadata?.name === name)) return desired;
  const info = await discovery.resolve('v1', 'Namespace');
  const live = info ? await getObject(kube, info, { apiVersion: 'v1', kind: 'Namespace', name }) : undefined;
  // One that could not be read is added: planning reads it again and says why it cannot.
  if (live?.ok && live.object && ownerApp(live.object) !== options.app) return desired;
  return [...desired, { object, origin: { file: CREATE_NAMESPACE_ORIGIN, document: 0 } }];
}
