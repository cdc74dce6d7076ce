import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SourceError } from '../../lambda/source/errors.ts';
import { assertDocumentBounds } from '../../lambda/source/manifest-bounds.ts';
import {
  DEFAULT_MANIFEST_LIMITS,
  parseManifests,
  parseRenderedManifests,
} from '../../lambda/source/manifests.ts';
import { REALWORLD, realworldAbsent } from '../support/realworld.ts';

const configMap = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n`;

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SourceError);
    return (error as Error).message;
  }
  throw new Error('expected a SourceError');
}

describe('parseManifests', () => {
  it('reads yaml, yml and json files in byte order of path and ignores other files', () => {
    const objects = parseManifests([
      { path: 'z/last.yml', content: configMap('z') },
      { path: 'README.md', content: '# not a manifest' },
      {
        path: 'a.json',
        content: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns' } }),
      },
      { path: 'B.yaml', content: new TextEncoder().encode(configMap('b')) },
      { path: 'notes.txt', content: 'apiVersion: nope' },
    ]);
    expect(objects.map((o) => [o.origin.file, o.object.metadata.name])).toEqual([
      ['B.yaml', 'b'],
      ['a.json', 'ns'],
      ['z/last.yml', 'z'],
    ]);
  });

  it('splits multi-document YAML and skips empty and comment-only documents', () => {
    const content = `---\n${configMap('one')}---\n---\n# only a comment\n---\n${configMap('two')}`;
    const objects = parseManifests([{ path: 'all.yaml', content }]);
    expect(objects.map((o) => [o.object.metadata.name, o.origin.document])).toEqual([
      ['one', 0],
      ['two', 3],
    ]);
  });

  it('expands kind: List into its items', () => {
    const content = JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } },
        { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'b', namespace: 'x' } },
      ],
    });
    const objects = parseManifests([{ path: 'list.json', content }]);
    expect(objects.map((o) => `${o.object.kind}/${o.object.metadata.name}`)).toEqual([
      'ConfigMap/a',
      'Secret/b',
    ]);
    expect(objects[1]?.origin).toEqual({ file: 'list.json', document: 0, item: 1 });
  });

  it('expands typed lists (ConfigMapList, RoleBindingList) into their items, as kubectl does', () => {
    const content = [
      'apiVersion: v1\nkind: ConfigMapList\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: dash-a}\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: dash-b}\n',
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBindingList\nitems:\n  - apiVersion: rbac.authorization.k8s.io/v1\n    kind: RoleBinding\n    metadata: {name: rb}\n    roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\n',
    ].join('---\n');
    const objects = parseManifests([{ path: 'dashboards.yaml', content }]);
    expect(objects.map((o) => [`${o.object.kind}/${o.object.metadata.name}`, o.origin])).toEqual([
      ['ConfigMap/dash-a', { file: 'dashboards.yaml', document: 0, item: 0 }],
      ['ConfigMap/dash-b', { file: 'dashboards.yaml', document: 0, item: 1 }],
      ['RoleBinding/rb', { file: 'dashboards.yaml', document: 1, item: 0 }],
    ]);
  });

  it('names the typed-list item that is invalid', () => {
    const content =
      'apiVersion: v1\nkind: ConfigMapList\nitems:\n  - kind: ConfigMap\n    metadata: {name: a}\n';
    expect(failure(() => parseManifests([{ path: 'l.yaml', content }]))).toBe(
      'l.yaml document 0 item 0 (line 4): missing apiVersion',
    );
  });

  it('accepts anchors, aliases and merge keys within the alias limit', () => {
    const content = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m\n  labels: &l {app: web}\n  annotations:\n    <<: *l\n    extra: "1"\n`;
    const [object] = parseManifests([{ path: 'm.yaml', content }]);
    expect(object?.object.metadata.annotations).toEqual({ app: 'web', extra: '1' });
  });

  it.each([
    ['apiVersion', 'kind: ConfigMap\nmetadata:\n  name: x\n', 'missing apiVersion'],
    ['kind', 'apiVersion: v1\nmetadata:\n  name: x\n', 'missing kind'],
    ['metadata.name', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {}\n', 'missing metadata.name'],
    ['metadata', 'apiVersion: v1\nkind: ConfigMap\n', 'missing metadata.name'],
  ])('names the file, document and line of an object without %s', (_field, bad, reason) => {
    const content = `${configMap('ok')}---\n# second\n${bad}`;
    expect(failure(() => parseManifests([{ path: 'deploy/app.yaml', content }]))).toBe(
      `deploy/app.yaml document 1 (line 7): ${reason}`,
    );
  });

  it('rejects a document that is not a mapping', () => {
    expect(failure(() => parseManifests([{ path: 'x.yaml', content: '- a\n- b\n' }]))).toMatch(
      /^x\.yaml document 0 \(line 1\): expected a Kubernetes object \(a mapping\), found a list$/,
    );
  });

  it('names the List item that is invalid', () => {
    const content =
      'apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: a}\n  - kind: ConfigMap\n    metadata: {name: b}\n';
    expect(failure(() => parseManifests([{ path: 'l.yaml', content }]))).toBe(
      'l.yaml document 0 item 1 (line 7): missing apiVersion',
    );
  });

  it('rejects duplicate keys with file, document and line', () => {
    const content = `${configMap('a')}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  name: c\n`;
    expect(failure(() => parseManifests([{ path: 'dup.yaml', content }]))).toMatch(
      /^dup\.yaml document 1 \(line 10\): Map keys must be unique/,
    );
  });

  it('reports YAML syntax errors with the line', () => {
    const content = `${configMap('a')}---\napiVersion: v1\nkind: [unclosed\n`;
    expect(failure(() => parseManifests([{ path: 'bad.yml', content }]))).toMatch(
      /^bad\.yml document 1 \(line \d+\): /,
    );
  });

  it('fails fast on a billion-laughs document', () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const content = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: boom\ndata:\n  ${levels.join('\n  ')}\n`;
    const started = process.hrtime.bigint();
    expect(failure(() => parseManifests([{ path: 'lol.yaml', content }]))).toMatch(
      /^lol\.yaml document 0 \(line 1\): YAML aliases expand too much/,
    );
    // 9^10 strings would need gigabytes; the bound stops it long before.
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(5_000);
  });

  it('rejects the same object defined twice', () => {
    const files = [
      { path: 'a.yaml', content: configMap('same') },
      { path: 'b.yaml', content: `${configMap('other')}---\n${configMap('same')}` },
    ];
    expect(failure(() => parseManifests(files))).toBe(
      'b.yaml document 1: ConfigMap same is already defined in a.yaml document 0',
    );
  });

  it('requires label and annotation values to be strings', () => {
    const content = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    version: 1.0\n';
    expect(failure(() => parseManifests([{ path: 'a.yaml', content }]))).toBe(
      'a.yaml document 0 (line 1): metadata.labels.version must be a string (quote it), found a number',
    );
  });

  it('rejects files that are not UTF-8', () => {
    expect(
      failure(() => parseManifests([{ path: 'bin.yaml', content: new Uint8Array([0xff, 0xfe, 0x00]) }])),
    ).toBe('bin.yaml: not valid UTF-8');
  });

  it('refuses paths that escape the repository', () => {
    expect(failure(() => parseManifests([{ path: '../outside.yaml', content: configMap('x') }]))).toBe(
      '../outside.yaml: path escapes the repository',
    );
    expect(failure(() => parseManifests([{ path: '/etc/x.yaml', content: configMap('x') }]))).toBe(
      '/etc/x.yaml: path escapes the repository',
    );
  });

  it('enforces the file count, file size, total size and object count limits', () => {
    const files = ['a', 'b', 'c'].map((n) => ({ path: `${n}.yaml`, content: configMap(n) }));
    expect(failure(() => parseManifests(files, { maxFiles: 2 }))).toBe(
      'found 3 manifest files, more than the limit of 2 (maxFiles)',
    );
    expect(failure(() => parseManifests(files, { maxFileBytes: 20 }))).toMatch(
      /^a\.yaml: \d+ bytes, more than the limit of 20 bytes per file \(maxFileBytes\)$/,
    );
    expect(failure(() => parseManifests(files, { maxTotalBytes: 100 }))).toBe(
      'b.yaml: manifests add up to more than the limit of 100 bytes (maxTotalBytes)',
    );
    expect(failure(() => parseManifests(files, { maxObjects: 2 }))).toBe(
      'c.yaml: more than the limit of 2 objects (maxObjects)',
    );
  });

  it('bounds each document by bytes and nodes before parsing, naming the document and its line', () => {
    const docs = `# comment\n---\n${configMap('a')}---\n${configMap('b')}  labels: {x: '1', y: '2'}\n`;
    const files = [{ path: 'a.yaml', content: docs }];
    expect(parseManifests(files).map((o) => o.object.metadata.name)).toEqual(['a', 'b']);
    expect(failure(() => parseManifests(files, { maxNodes: 10 }))).toBe(
      'a.yaml document 1 (line 7): more than the limit of 10 YAML nodes per document (maxNodes); split it into smaller objects',
    );
    expect(failure(() => parseManifests(files, { maxDocumentBytes: 60 }))).toMatch(
      /^a\.yaml document 1 \(line 7\): \d+ bytes, more than the limit of 60 bytes per document \(maxDocumentBytes\)$/,
    );
  });

  it('refuses a 2-million-item flow sequence on its node count, without building it', () => {
    const bomb = `[${Array(1_400_000).fill('0').join(',')}]\n`;
    const started = performance.now();
    expect(failure(() => parseManifests([{ path: 'bomb.yaml', content: bomb }]))).toBe(
      'bomb.yaml document 0 (line 1): more than the limit of 200000 YAML nodes per document (maxNodes); split it into smaller objects',
    );
    expect(performance.now() - started).toBeLessThan(5_000);
    const big = [{ path: 'big.yaml', content: `${bomb}${bomb}` }];
    expect(failure(() => parseManifests(big, { maxFileBytes: 8 * 1024 * 1024 }))).toBe(
      'big.yaml document 0 (line 1): 5600004 bytes, more than the limit of 3145728 bytes per document (maxDocumentBytes)',
    );
  });

  it('applies the same bounds to rendered output', () => {
    const output = `${configMap('a')}---\n${configMap('b')}`;
    expect(
      failure(() =>
        parseRenderedManifests([{ path: 'kustomize build app', content: output }], { maxNodes: 5 }),
      ),
    ).toBe(
      'kustomize build app document 0 (line 1): more than the limit of 5 YAML nodes per document (maxNodes); split it into smaller objects',
    );
  });

  // The release sets live beside the repository (../shared/realworld), not in it.
  it.skipIf(realworldAbsent)(
    'parses every released set under ../shared/realworld within the default limits (skipped where ../shared/realworld is absent)',
    () => {
      const sets = readdirSync(REALWORLD, { withFileTypes: true }).filter((entry) => entry.isDirectory());
      expect(sets.length).toBeGreaterThanOrEqual(11);
      for (const set of sets) {
        const dir = join(REALWORLD, set.name, 'files');
        const files = readdirSync(dir, { recursive: true })
          .map(String)
          .filter((name) => /\.(ya?ml|json)$/.test(name))
          .map((name) => ({ path: name, content: readFileSync(join(dir, name)) }));
        // A Kustomize tree holds patches and kustomizations, not a set: bound each file on its own.
        if (files.some((file) => file.path.endsWith('kustomization.yaml'))) {
          for (const file of files)
            assertDocumentBounds(file.path, file.content.toString(), DEFAULT_MANIFEST_LIMITS);
        } else expect(parseManifests(files).length, set.name).toBeGreaterThan(0);
      }
    },
  );
});
