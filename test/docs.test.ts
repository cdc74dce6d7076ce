/**
 * The docs a newcomer follows stay true to the code: every relative link and `#anchor` in
 * README.md and docs/ leads somewhere, every CLI command (as `driftless --help` lists it) has a
 * reference page naming its flags, every deploy-config key (walked from the schema the code
 * validates with) is in docs/reference/config.md, and the README stays a short front page.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configSchema } from '../lambda/config.ts';
import { projectRoot, runDriftless } from './support/driftless-cli.ts';

const docsDir = join(projectRoot, 'docs');
const referenceDir = join(docsDir, 'reference');

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(dir, name))
    .sort();
}

const pages = [join(projectRoot, 'README.md'), ...markdownFiles(docsDir)];
const read = (file: string) => readFileSync(file, 'utf8');

/** The text outside fenced code blocks (a link or heading inside one is an example, not a link). */
function prose(text: string): string[] {
  let fence: string | undefined;
  return text.split('\n').map((line) => {
    const marker = line.match(/^\s*(```|~~~)/)?.[1];
    if (marker && (!fence || fence === marker)) {
      fence = fence ? undefined : marker;
      return '';
    }
    return fence ? '' : line;
  });
}

/** GitHub's heading ids: markup dropped, lowercased, punctuation but `-`/`_` removed, spaces to `-`, repeats numbered. */
function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const line of prose(text)) {
    const heading = line.match(/^#{1,6}\s+(.*?)\s*#*\s*$/)?.[1];
    if (heading === undefined) continue;
    const plain = heading.replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/<[^>]+>/g, '');
    const slug = plain
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count ? `${slug}-${count}` : slug);
  }
  return anchors;
}

/** Inline links `[text](target)` and reference definitions `[name]: target`, code spans left out. */
function linksOf(text: string): string[] {
  const links: string[] = [];
  for (const line of prose(text)) {
    const outsideCode = line.replace(/`[^`]*`/g, '');
    for (const match of outsideCode.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
      links.push(match[1]!);
    const definition = outsideCode.match(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/);
    if (definition) links.push(definition[1]!);
  }
  return links;
}

const isRelative = (target: string) => !/^[a-z][a-z0-9+.-]*:/i.test(target);

describe('links in README.md and docs/', () => {
  it('finds the README and the docs folder', () => {
    expect(pages.length).toBeGreaterThan(10);
    expect(pages.map((page) => relative(projectRoot, page))).toContain('docs/getting-started.md');
  });

  it.each(pages.map((page) => [relative(projectRoot, page), page]))(
    'every relative link and #anchor in %s resolves',
    (_name, page) => {
      const broken: string[] = [];
      for (const target of linksOf(read(page)).filter(isRelative)) {
        const [path = '', anchor] = target.split('#', 2);
        const file = path ? resolve(dirname(page), decodeURIComponent(path)) : page;
        if (!existsSync(file)) {
          broken.push(`${target}: no file ${relative(projectRoot, file)}`);
          continue;
        }
        if (anchor === undefined) continue;
        if (statSync(file).isDirectory() || !file.endsWith('.md')) {
          broken.push(`${target}: an anchor into ${relative(projectRoot, file)}, which has no headings`);
        } else if (!anchorsOf(read(file)).has(decodeURIComponent(anchor))) {
          broken.push(`${target}: no heading with the anchor #${anchor} in ${relative(projectRoot, file)}`);
        }
      }
      expect(broken).toEqual([]);
    },
  );
});

describe('the README', () => {
  it('stays under 150 lines and keeps its two commands on the first screen', () => {
    const lines = read(join(projectRoot, 'README.md')).split('\n');
    expect(lines.length).toBeLessThan(150);
    const firstScreen = lines.slice(0, 25).join('\n');
    expect(firstScreen).toContain('npm install && npm run demo');
    expect(firstScreen).toContain('npm install && npm test');
  });
});

/** Commands and options as commander prints them in `--help`: `  name [options]  description`. */
function helpEntries(help: string, section: 'Commands' | 'Options'): string[] {
  const start = help.indexOf(`${section}:\n`);
  if (start < 0) return [];
  const block = help.slice(start).split('\n').slice(1);
  const end = block.findIndex((line) => line !== '' && !line.startsWith(' '));
  return (end < 0 ? block : block.slice(0, end))
    .map((line) => line.match(/^ {2}(\S.*?)(?: {2,}|$)/)?.[1])
    .filter((entry): entry is string => entry !== undefined);
}

describe('the CLI reference', () => {
  const cliPages = readdirSync(referenceDir)
    .filter((name) => /^cli-.*\.md$/.test(name))
    .map((name) => ({ name, text: read(join(referenceDir, name)) }));

  /** The reference page whose heading names `driftless <command>`. */
  const pageOf = (command: string) =>
    cliPages.find(({ text }) =>
      prose(text).some((line) => /^#{1,3} /.test(line) && new RegExp(`driftless ${command}\\b`).test(line)),
    );

  it('has a page, headed with the command, for every command of `driftless --help`, naming each of its flags', async () => {
    const top = await runDriftless(['--help']);
    expect(top.code, top.stderr).toBe(0);
    const commands = helpEntries(top.stdout, 'Commands')
      .map((entry) => entry.split(' ')[0]!)
      .filter((command) => command !== 'help');
    expect(commands).toContain('sync');

    const helps = await Promise.all(commands.map((command) => runDriftless([command, '--help'])));
    const missing = commands.flatMap((command, index) => {
      const page = pageOf(command);
      if (!page) return [`driftless ${command}: no docs/reference/cli-*.md with a heading naming it`];
      const help = helps[index]!;
      expect(help.code, help.stderr).toBe(0);
      return helpEntries(help.stdout, 'Options')
        .flatMap((entry) => entry.match(/--[a-z][a-z-]*/g) ?? [])
        .filter((flag) => flag !== '--help' && !page.text.includes(flag))
        .map((flag) => `driftless ${command} ${flag}: not in ${page.name}`);
    });
    expect(missing).toEqual([]);
  }, 120_000);
});

/** Every key the schema accepts, dotted from its level (`cluster.access.policy`); `apps` entries apart. */
function settingPaths(schema: z.ZodType, prefix = ''): string[] {
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodDefault || schema instanceof z.ZodNullable)
    return settingPaths(schema.unwrap() as z.ZodType, prefix);
  if (schema instanceof z.ZodPipe) return settingPaths(schema.in as z.ZodType, prefix);
  if (schema instanceof z.ZodUnion)
    return [...new Set(schema.options.flatMap((option) => settingPaths(option as z.ZodType, prefix)))];
  if (!(schema instanceof z.ZodObject)) return [];
  return Object.entries(schema.shape).flatMap(([key, child]) => [
    `${prefix}${key}`,
    ...(key === 'apps' && !prefix ? [] : settingPaths(child as z.ZodType, `${prefix}${key}.`)),
  ]);
}

describe('the config reference', () => {
  const reference = read(join(referenceDir, 'config.md'));
  const appSchema = (configSchema.shape.apps as z.ZodArray<z.ZodType>).element;

  it.each([
    ['top-level', settingPaths(configSchema)],
    ['app-level', settingPaths(appSchema)],
  ])('names every %s key of the deploy config schema in docs/reference/config.md', (_level, keys) => {
    expect(keys.length).toBeGreaterThan(3);
    expect(keys.filter((key) => !reference.includes(`\`${key}\``))).toEqual([]);
  });
});
