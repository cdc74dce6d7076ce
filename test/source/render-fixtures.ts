/** Repositories for the render tests: a Kustomize base with a prod overlay, and a Helm chart. */

/**
 * `base/` (Deployment, Service, a configMapGenerator) and `overlays/prod/` with namePrefix,
 * commonLabels, a strategic-merge patch, a JSON6902 patch, an image override and a merged
 * generator whose literal is `greeting`.
 */
export function kustomizeRepo(namespace: string, greeting = 'hello'): Record<string, string> {
  return {
    '.github/workflows/ci.yml': 'on: push\njobs: {}\n',
    'README.md': '# app\n',
    'base/kustomization.yaml': [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources: [deployment.yaml, service.yaml]',
      'configMapGenerator:',
      '  - name: web-config',
      '    literals: [GREETING=base]',
      '',
    ].join('\n'),
    'base/deployment.yaml': [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata: {name: web}',
      'spec:',
      '  replicas: 1',
      '  selector: {matchLabels: {app: web}}',
      '  template:',
      '    metadata: {labels: {app: web}}',
      '    spec:',
      '      containers:',
      '        - name: web',
      '          image: nginx:1.25',
      '          envFrom: [{configMapRef: {name: web-config}}]',
      '',
    ].join('\n'),
    'base/service.yaml': [
      'apiVersion: v1',
      'kind: Service',
      'metadata: {name: web}',
      'spec:',
      '  selector: {app: web}',
      '  ports: [{port: 80, targetPort: 8080, protocol: TCP}]',
      '',
    ].join('\n'),
    'overlays/prod/kustomization.yaml': [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      `namespace: ${namespace}`,
      'namePrefix: prod-',
      'commonLabels: {env: prod}',
      'resources: [../../base]',
      'patches:',
      '  - path: replicas.yaml',
      '  - target: {kind: Service, name: web}',
      '    patch: |-',
      '      - op: replace',
      '        path: /spec/ports/0/port',
      '        value: 8080',
      'images:',
      '  - name: nginx',
      '    newTag: "1.27"',
      'configMapGenerator:',
      '  - name: web-config',
      '    behavior: merge',
      `    literals: [GREETING=${greeting}]`,
      '',
    ].join('\n'),
    'overlays/prod/replicas.yaml': [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata: {name: web}',
      'spec: {replicas: 3}',
      '',
    ].join('\n'),
  };
}

/**
 * `chart/`: a chart with a vendored subchart (`charts/cache`), `values-prod.yaml`, a ConfigMap
 * per value (so a change touches one object) and one branch on `.Capabilities`: a custom
 * resource of `crdGroup` when the server serves it, a ConfigMap saying so otherwise.
 */
export function helmRepo(
  crdGroup: string,
  values: { color?: string; size?: string } = {},
): Record<string, string> {
  return {
    'chart/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.1.0\n',
    'chart/values.yaml': 'greeting: from-chart\ncolor: blue\ncache:\n  size: small\n',
    'chart/values-prod.yaml': `color: ${values.color ?? 'green'}\n`,
    'chart/templates/_helpers.tpl': '{{- define "web.name" -}}{{ .Release.Name }}{{- end -}}\n',
    'chart/templates/greeting.yaml': [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata: {name: {{ include "web.name" . }}-greeting}',
      'data: {greeting: {{ .Values.greeting | quote }}}',
      '',
    ].join('\n'),
    'chart/templates/color.yaml': [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata: {name: {{ include "web.name" . }}-color}',
      'data: {color: {{ .Values.color | quote }}}',
      '---',
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata: {name: {{ include "web.name" . }}-cluster}',
      'data: {kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}, namespace: {{ .Release.Namespace | quote }}}',
      '',
    ].join('\n'),
    'chart/templates/widget.yaml': [
      `{{- if .Capabilities.APIVersions.Has "${crdGroup}/v1/Widget" }}`,
      `apiVersion: ${crdGroup}/v1`,
      'kind: Widget',
      'metadata: {name: {{ include "web.name" . }}}',
      'spec: {size: 1}',
      '{{- else }}',
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata: {name: {{ include "web.name" . }}-no-widgets}',
      '{{- end }}',
      '',
    ].join('\n'),
    'chart/charts/cache/Chart.yaml': 'apiVersion: v2\nname: cache\nversion: 0.1.0\n',
    'chart/charts/cache/values.yaml': 'size: tiny\n',
    'chart/charts/cache/templates/cache.yaml': [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata: {name: {{ .Release.Name }}-cache}',
      'data: {size: {{ .Values.size | quote }}}',
      '',
    ].join('\n'),
    ...(values.size
      ? { 'chart/values.yaml': `greeting: from-chart\ncolor: blue\ncache:\n  size: ${values.size}\n` }
      : {}),
  };
}

/** A CRD of kind Widget in `group`, served at v1. */
export function widgetCrd(group: string): string {
  return JSON.stringify({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `widgets.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  });
}
