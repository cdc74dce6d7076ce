/**
 * A corpus covering the kinds users ship on the API versions a current server serves (policy/v1,
 * batch/v1 CronJob, autoscaling/v2): the first run creates everything (CRD and custom
 * resource included), and later runs find nothing to change, whether the revision is the same
 * (resourceVersion fast path) or new (server-side dry-run of every object).
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../lambda/reconcile/types.ts';
import { kubectlGet } from '../support/kubectl.ts';
import { appRunner, configMap, cp, deployment, manifests, namespace, platformClient } from './harness.ts';

const NS = 'corpus-ns';
const GROUP = 'corpus.driftless.test';
const labels = { app: 'corpus-db' };
const container = (name: string) => ({
  name,
  image: 'busybox:1.36',
  command: ['sleep', '3600'],
  ports: [{ containerPort: 8080, protocol: 'TCP' }],
});

const corpus: KubeObject[] = [
  namespace(NS),
  configMap('settings', NS, { 'app.properties': 'color=blue\n' }),
  {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'creds', namespace: NS },
    type: 'Opaque',
    stringData: { password: 'hunter2' },
  },
  {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'tls-ish', namespace: NS },
    data: { key: Buffer.from('k').toString('base64') },
  },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: NS },
    spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 80, protocol: 'TCP' }] },
  },
  deployment('web', NS, { replicas: 2 }),
  {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'db', namespace: NS },
    spec: {
      serviceName: 'db',
      replicas: 1,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [container('db')] } },
    },
  },
  {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'nightly', namespace: NS },
    spec: {
      schedule: '0 3 * * *',
      jobTemplate: {
        spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [container('job')] } } },
      },
    },
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: 'web', namespace: NS },
    spec: {
      rules: [
        {
          host: 'web.example.com',
          http: {
            paths: [
              { path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } },
            ],
          },
        },
      ],
    },
  },
  {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'web', namespace: NS },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      minReplicas: 2,
      maxReplicas: 5,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
        },
      ],
    },
  },
  {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: 'web', namespace: NS },
    spec: { minAvailable: 1, selector: { matchLabels: { app: 'web' } } },
  },
  { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web', namespace: NS } },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'reader', namespace: NS },
    rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }],
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'reader', namespace: NS },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' },
    subjects: [{ kind: 'ServiceAccount', name: 'web', namespace: NS }],
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'corpus-node-reader' },
    rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }],
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'corpus-node-reader' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'corpus-node-reader' },
    subjects: [{ kind: 'ServiceAccount', name: 'web', namespace: NS }],
  },
  {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `widgets.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { kind: 'Widget', plural: 'widgets', singular: 'widget', listKind: 'WidgetList' },
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
  },
  {
    apiVersion: `${GROUP}/v1`,
    kind: 'Widget',
    metadata: { name: 'gear', namespace: NS },
    spec: { size: 3, anything: { nested: ['goes', 'here'] } },
  },
];

describe('a corpus of common kinds', () => {
  const kube = platformClient();
  const app = appRunner(kube, { app: 'corpus', defaultNamespace: NS, prune: true });
  // The object order of a folder listing, CRD and Namespace last, to prove staging.
  const desired = manifests(...[...corpus].reverse());

  it('creates every object, the CRD and its custom resource included, in one run', async () => {
    const first = await app.run(desired, 'rev1');
    expect(first.error).toBeUndefined();
    expect(first.resources.filter((r) => r.action !== 'created')).toEqual([]);
    expect(first.resources).toHaveLength(corpus.length);
    expect(first.outcome).toBe('Synced');

    const crd = await kubectlGet(cp.kubeconfig, 'crd', `widgets.${GROUP}`);
    const schema = crd?.spec.versions[0].schema.openAPIV3Schema;
    expect(schema.properties.spec['x-kubernetes-preserve-unknown-fields']).toBe(true);
    const widget = await kubectlGet(cp.kubeconfig, `widgets.${GROUP}`, 'gear', NS);
    expect(widget?.spec.anything).toEqual({ nested: ['goes', 'here'] });
  });

  it('reports every object unchanged on a second run of the same revision', async () => {
    const second = await app.run(desired, 'rev1');
    expect(second.resources.filter((r) => r.action !== 'unchanged')).toEqual([]);
    expect(second.resources).toHaveLength(corpus.length);
    expect(second.outcome).toBe('Synced');
  });

  it('reports every object unchanged when a new revision dry-runs the same manifests (no perpetual diff)', async () => {
    const third = await app.run(desired, 'rev2');
    expect(third.resources.filter((r) => r.action !== 'unchanged')).toEqual([]);
    expect(third.outcome).toBe('Synced');
    expect(app.state.revision).toBe('rev2');
  });
});
