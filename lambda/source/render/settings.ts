/**
 * How an app's folder becomes objects: plain manifests, a Kustomize overlay or a Helm chart.
 * `auto` (the default) looks at the folder: a kustomization file means Kustomize, a `Chart.yaml`
 * means Helm, anything else is plain manifests.
 */
import { SourceError } from '../errors.ts';

export const RENDER_MODES = ['auto', 'plain', 'kustomize', 'helm'] as const;
export type RenderMode = (typeof RENDER_MODES)[number];
/** What `auto` resolved to. */
export type Renderer = Exclude<RenderMode, 'auto'>;

/** The names `kubectl kustomize` looks for, in its own order. */
export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'] as const;
export const CHART_FILE = 'Chart.yaml';

export interface HelmSettings {
  /** Release name (`.Release.Name`). @default the app name */
  releaseName?: string;
  /** Values files, relative to the chart's folder, inside the repository; later ones win. */
  valuesFiles?: string[];
  /** Inline values, applied after every values file (they win). */
  values?: Record<string, unknown>;
  /**
   * Prune the CRDs of the chart's `crds/` folder (and its subcharts') once they leave it. Helm
   * installs and upgrades them but never deletes them, since deleting a CRD deletes every custom
   * resource of it; driftless does the same and keeps them (reported `unchanged`, still tracked)
   * unless this is on. CRDs the chart renders from `templates/` are pruned like any object.
   * @default false
   */
  pruneCrds?: boolean;
}

export interface KustomizeSettings {
  /**
   * Let `kubectl kustomize` fetch remote bases (URLs in `resources`). Off by default: the
   * renderer then has no network, and a commit cannot pull in objects from elsewhere.
   * @default false
   */
  allowRemoteBases?: boolean;
}

/** The render part of an app's source settings. */
export interface RenderSettings {
  /** @default 'auto' */
  mode?: RenderMode;
  /** Helm's `--namespace` (`.Release.Namespace`): the app's namespace. @default 'default' */
  namespace?: string;
  helm?: HelmSettings;
  kustomize?: KustomizeSettings;
}

/** What a Helm chart may ask of the cluster through `.Capabilities`. */
export interface ClusterCapabilities {
  /** The API server's version, e.g. `v1.33.4-eks-1234`. */
  kubeVersion: string;
  /** `group/version` and `group/version/Kind` (core: `v1`, `v1/Pod`), as Helm's `APIVersions`. */
  apiVersions: string[];
}

/**
 * Picks the renderer for a folder from its entry names (`undefined` when `path` is a file).
 * Throws {@link SourceError} when a forced mode has nothing to render or `auto` finds both kinds.
 */
export function chooseRenderer(mode: RenderMode, path: string, names: string[] | undefined): Renderer {
  const kustomization = names?.find((name) => (KUSTOMIZATION_FILES as readonly string[]).includes(name));
  const chart = names?.includes(CHART_FILE);
  if (mode === 'plain') return 'plain';
  if (mode === 'kustomize') {
    if (!kustomization)
      throw new SourceError(`render: kustomize, but ${path} holds no ${KUSTOMIZATION_FILES.join(', ')}`);
    return 'kustomize';
  }
  if (mode === 'helm') {
    if (!chart) throw new SourceError(`render: helm, but ${path} holds no ${CHART_FILE}`);
    return 'helm';
  }
  if (kustomization && chart) {
    throw new SourceError(
      `${path} holds both ${kustomization} and ${CHART_FILE}: set render to kustomize or helm for this app`,
    );
  }
  return kustomization ? 'kustomize' : chart ? 'helm' : 'plain';
}

/** The kustomization file of a folder, for messages. */
export function kustomizationFile(names: string[]): string {
  return (
    names.find((name) => (KUSTOMIZATION_FILES as readonly string[]).includes(name)) ?? KUSTOMIZATION_FILES[0]
  );
}
