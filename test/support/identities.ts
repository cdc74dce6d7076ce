/**
 * The identities users deploy driftless with, as users of the test cluster's token file, with the
 * RBAC the README recommends for each (examples/rbac):
 *   edit      a team's app: the built-in `edit` role in its namespace (EKS AmazonEKSEditPolicy)
 *   admin     a team's app that also writes its namespace's RBAC: `admin` there (AmazonEKSAdminPolicy)
 *   platform  the platform app: the `driftless-platform` ClusterRole
 * Each also holds the one cluster-wide read every identity needs (`driftless-cluster-identity`).
 * The namespaced grants are per namespace: a test binds its own with `grantNamespace`.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kubectl } from './kubectl.ts';

export type IdentityName = 'edit' | 'admin' | 'platform';

export interface TestIdentity {
  /** The user name the API server reports (in 403s, in managedFields). */
  user: string;
  groups: string[];
  token: string;
  /** A kubeconfig of this identity alone. */
  kubeconfig: string;
}

export type TestIdentities = Record<IdentityName, TestIdentity>;

/** Every identity is in this group: it holds the kube-system read. */
export const APPS_GROUP = 'driftless:apps';
const GROUP: Record<IdentityName, string> = {
  edit: 'driftless:team-edit',
  admin: 'driftless:team-admin',
  platform: 'driftless:platform',
};
/**
 * The custom resources of the tests' own "add-ons", granted to the platform identity the way
 * examples/rbac/platform.yaml asks users to list theirs (RBAC has no wildcard for a group suffix).
 */
const TEST_ADDON_GROUPS = [
  'corpus.driftless.test',
  'modern.driftless.test',
  'pkept.driftless.test',
  'plan.driftless.test',
  'decide.example.com',
  'unserved.prune.driftless.dev',
  'guards.driftless.dev',
];
const rbacDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'rbac');

/** Fresh tokens for the three identities (their kubeconfigs are written by `writeIdentities`). */
export function newIdentities(dir: string): TestIdentities {
  const identity = (name: IdentityName): TestIdentity => ({
    user: `driftless-${name}`,
    groups: [GROUP[name], APPS_GROUP],
    token: `${name}-${randomBytes(16).toString('hex')}`,
    kubeconfig: join(dir, `identity-${name}.kubeconfig`),
  });
  return { edit: identity('edit'), admin: identity('admin'), platform: identity('platform') };
}

/** The token file's lines (`token,user,uid,"group1,group2"`). */
export function tokenFileLines(identities: TestIdentities): string {
  return Object.values(identities)
    .map((id) => `${id.token},${id.user},${id.user},"${id.groups.join(',')}"\n`)
    .join('');
}

/** Writes each identity's kubeconfig and grants the cluster-wide RBAC of examples/rbac. */
export async function writeIdentities(
  identities: TestIdentities,
  cluster: { server: string; caFile: string; adminKubeconfig: string },
): Promise<void> {
  for (const id of Object.values(identities)) {
    await writeFile(
      id.kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          { name: 'local', cluster: { server: cluster.server, 'certificate-authority': cluster.caFile } },
        ],
        users: [{ name: id.user, user: { token: id.token } }],
        contexts: [{ name: id.user, context: { cluster: 'local', user: id.user } }],
        'current-context': id.user,
      }),
    );
  }
  const admin = cluster.adminKubeconfig;
  await kubectl(
    admin,
    'apply',
    '-f',
    join(rbacDir, 'cluster-identity.yaml'),
    '-f',
    join(rbacDir, 'platform.yaml'),
  );
  await kubectl(
    admin,
    'create',
    'clusterrolebinding',
    'driftless-cluster-identity-apps',
    '--clusterrole=driftless-cluster-identity',
    `--group=${APPS_GROUP}`,
  );
  await kubectl(
    admin,
    'create',
    'clusterrolebinding',
    'driftless-platform',
    '--clusterrole=driftless-platform',
    `--group=${GROUP.platform}`,
  );
  const addons = join(dirname(identities.platform.kubeconfig), 'platform-test-addons.json');
  await writeFile(
    addons,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRole',
          metadata: { name: 'driftless-platform-test-addons' },
          rules: [
            {
              apiGroups: TEST_ADDON_GROUPS,
              resources: ['*'],
              verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
            },
          ],
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRoleBinding',
          metadata: { name: 'driftless-platform-test-addons' },
          roleRef: {
            apiGroup: 'rbac.authorization.k8s.io',
            kind: 'ClusterRole',
            name: 'driftless-platform-test-addons',
          },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: GROUP.platform }],
        },
      ],
    }),
  );
  await kubectl(admin, 'create', '-f', addons);
}

/** Binds the built-in `edit` or `admin` role in `namespace` to that identity, as an EKS access entry would. */
export async function grantNamespace(
  adminKubeconfig: string,
  name: Exclude<IdentityName, 'platform'>,
  namespace: string,
): Promise<void> {
  await kubectl(
    adminKubeconfig,
    'create',
    'rolebinding',
    `driftless-${name}`,
    `--clusterrole=${name}`,
    `--group=${GROUP[name]}`,
    '-n',
    namespace,
  );
}
