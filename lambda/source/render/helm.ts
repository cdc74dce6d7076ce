/**
 * Helm through `helm template`: the chart in the app's folder, with its subcharts vendored in
 * `charts/` (nothing is pulled: no `helm dependency build`, no repositories), values files from
 * the repository, inline values last, CRDs from `crds/` included, and the live cluster's version
 * and API versions, so a chart that branches on `.Capabilities` renders for the real cluster.
 * `lookup` has no cluster to ask in `helm template`: it returns an empty result.
 */
import { writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { DesiredObject } from '../../reconcile/types.ts';
import type { ManifestFile } from '../manifests.ts';
import { RenderError } from './render-error.ts';
import type { ClusterCapabilities, HelmSettings } from './settings.ts';

export interface HelmTemplateInput {
  /** The chart's folder in the repository. */
  path: string;
  releaseName: string;
  namespace: string;
  helm: HelmSettings;
  capabilities?: ClusterCapabilities;
  /** A folder outside the checkout for the inline values file. */
  home: string;
}

/** `helm template` arguments, run in the checkout. Throws {@link RenderError} for a values file outside the repository. */
export async function helmTemplateArgs(input: HelmTemplateInput): Promise<string[]> {
  const chart = input.path === '.' ? '.' : `./${input.path}`;
  const args = ['template', input.releaseName, chart, '--namespace', input.namespace];
  args.push('--include-crds', '--skip-tests');
  if (input.capabilities) {
    args.push('--kube-version', input.capabilities.kubeVersion);
    if (input.capabilities.apiVersions.length > 0)
      args.push('--api-versions', input.capabilities.apiVersions.join(','));
  }
  for (const file of input.helm.valuesFiles ?? []) {
    const resolved = posix.normalize(posix.join(input.path, file));
    if (posix.isAbsolute(file) || resolved === '..' || resolved.startsWith('../')) {
      throw new RenderError(`helm.valuesFiles: "${file}" is outside the repository; give a path inside it`);
    }
    args.push('--values', `./${resolved}`);
  }
  if (input.helm.values && Object.keys(input.helm.values).length > 0) {
    const inline = join(input.home, 'inline-values.json');
    await writeFile(inline, JSON.stringify(input.helm.values));
    args.push('--values', inline);
  }
  return args;
}

/**
 * Splits `helm template` output by its `# Source:` comments into one file per template, so an
 * error names the chart and the template (`helm template web: web/templates/service.yaml`).
 */
export function splitBySource(output: string, label: string): ManifestFile[] {
  const bySource = new Map<string, string[]>();
  for (const document of output.split(/^---[ \t]*$/m)) {
    if (document.trim() === '') continue;
    const source = /^# Source: (.+)$/m.exec(document)?.[1]?.trim() ?? 'output';
    const documents = bySource.get(source) ?? [];
    documents.push(document);
    bySource.set(source, documents);
  }
  return [...bySource].map(([source, documents]) => ({
    path: `${label}: ${source}`,
    content: documents.join('\n---\n'),
  }));
}

/**
 * A `# Source:` path in a chart's (or a subchart's) `crds/` folder: `web/crds/a.yaml`,
 * `web/charts/db/crds/b.yaml`; not `web/templates/crds/c.yaml`, which Helm templates and prunes.
 */
const CRDS_FOLDER = /^[^/]+(\/charts\/[^/]+)*\/crds\//;

/**
 * Marks the CRDs of the charts' `crds/` folders (their files are named by `splitBySource`): Helm
 * installs and upgrades them but never deletes them, and neither does prune unless the app asks.
 */
export function markChartCrds(objects: DesiredObject[], label: string): DesiredObject[] {
  for (const desired of objects) {
    const source = desired.origin.file.startsWith(`${label}: `)
      ? desired.origin.file.slice(label.length + 2)
      : '';
    if (desired.object.kind === 'CustomResourceDefinition' && CRDS_FOLDER.test(source))
      desired.origin.helmCrd = true;
  }
  return objects;
}
