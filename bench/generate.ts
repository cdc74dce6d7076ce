/**
 * Generates the benchmark app: N objects, one per file, in the mix a platform team's repo has.
 * Every name carries `suffix`, so each repetition syncs into a clean namespace and CRD group
 * (the local API server runs no namespace controller: deleted namespaces never go away).
 */
import { stringify } from 'yaml';

export interface BenchApp {
  namespace: string;
  crdGroup: string;
  /** Repo-relative path -> YAML. */
  files: Record<string, string>;
  /** Paths of ConfigMap files, the ones the change and prune steps touch. */
  configMapFiles: string[];
}

export function generateApp(objects: number, suffix: string): BenchApp {
  const namespace = `bench-${suffix}`;
  const crdGroup = `${suffix}.bench.driftless.dev`;
  const files: Record<string, string> = {};
  const configMapFiles: string[] = [];
  const put = (path: string, object: unknown) => {
    files[path] = stringify(object);
  };

  put('namespace.yaml', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  put('crd.yaml', {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `widgets.${crdGroup}` },
    spec: {
      group: crdGroup,
      scope: 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
            },
          },
        },
      ],
    },
  });

  const rest = Math.max(0, objects - 2);
  const counts = {
    configMaps: Math.ceil(rest * 0.4),
    services: Math.floor(rest * 0.25),
    deployments: Math.floor(rest * 0.25),
  };
  const widgets = rest - counts.configMaps - counts.services - counts.deployments;

  for (let i = 0; i < counts.configMaps; i++) {
    const path = `config/cm-${i}.yaml`;
    configMapFiles.push(path);
    put(path, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `cm-${i}`, namespace },
      data: { 'app.properties': `index=${i}\nfeature.enabled=true\n`, owner: 'platform' },
    });
  }
  for (let i = 0; i < counts.services; i++) {
    put(`services/svc-${i}.yaml`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `svc-${i}`, namespace },
      spec: {
        selector: { app: `app-${i}` },
        ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
      },
    });
  }
  for (let i = 0; i < counts.deployments; i++) {
    put(`deployments/app-${i}.yaml`, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: `app-${i}`, namespace, labels: { app: `app-${i}` } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: `app-${i}` } },
        template: {
          metadata: { labels: { app: `app-${i}` } },
          spec: {
            containers: [
              {
                name: 'web',
                image: 'registry.example/web:1.0.0',
                ports: [{ containerPort: 8080, protocol: 'TCP' }],
                resources: { requests: { cpu: '10m', memory: '16Mi' } },
              },
            ],
          },
        },
      },
    });
  }
  for (let i = 0; i < widgets; i++) {
    put(`widgets/widget-${i}.yaml`, {
      apiVersion: `${crdGroup}/v1`,
      kind: 'Widget',
      metadata: { name: `widget-${i}`, namespace },
      spec: { size: i % 7, free: { form: ['a', 'b'] } },
    });
  }
  return { namespace, crdGroup, files, configMapFiles };
}
