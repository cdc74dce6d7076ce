/**
 * The app a fault test syncs (a Namespace and numbered ConfigMaps) and the independent ways to
 * observe the result: kubectl for the cluster, a memory logger for what the run logged.
 */
import type { SyncLogger } from '../../lambda/log.ts';
import type { InventoryEntry } from '../../lambda/reconcile/types.ts';
import { kubectl } from '../support/kubectl.ts';

/** `cm-000` ... : zero-padded so names sort in number order. */
export function configMapName(index: number): string {
  return `cm-${String(index).padStart(3, '0')}`;
}

/**
 * Manifest files for a namespace and one ConfigMap per index, each carrying `value`. The
 * ConfigMaps sort before `namespace.yaml`, so staging matters.
 */
export function appManifests(namespace: string, indexes: number[], value: string): Record<string, string> {
  const files: Record<string, string> = {
    'namespace.yaml': `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${namespace}\n`,
  };
  for (const index of indexes) {
    const name = configMapName(index);
    files[`config/${name}.yaml`] =
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\ndata:\n  value: ${value}\n`;
  }
  return files;
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

/** ConfigMaps in `namespace` as kubectl sees them, name -> `data.value`, every one in the namespace. */
export async function observedConfigMaps(
  kubeconfig: string,
  namespace: string,
): Promise<Map<string, string>> {
  const out = JSON.parse(await kubectl(kubeconfig, 'get', 'configmaps', '-n', namespace, '-o', 'json'));
  const found = new Map<string, string>();
  for (const item of out.items as { metadata: { name: string }; data?: { value?: string } }[]) {
    // The API server's own root CA map is not the app's.
    if (item.metadata.name === 'kube-root-ca.crt') continue;
    found.set(item.metadata.name, item.data?.value ?? '');
  }
  return found;
}

/** What `observedConfigMaps` should see: every index with `value`. */
export function expectedConfigMaps(indexes: number[], value: string): Map<string, string> {
  return new Map(indexes.map((i) => [configMapName(i), value]));
}

/** `Kind/namespace/name` keys of an inventory, duplicates kept (so a test can see them). */
export function inventoryKeys(inventory: InventoryEntry[]): string[] {
  return inventory.map((e) => `${e.kind}/${e.namespace ?? ''}/${e.name}`).sort();
}

export interface LogLine {
  level: string;
  message: string;
  attributes?: Record<string, unknown>;
}

/** A logger that keeps every line, to assert on what was logged. */
export function memoryLogger(): SyncLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const keep = (level: string) => (message: string, attributes?: Record<string, unknown>) => {
    lines.push({ level, message, attributes });
  };
  return { lines, debug: keep('debug'), info: keep('info'), warn: keep('warn'), error: keep('error') };
}
