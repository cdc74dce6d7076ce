/**
 * The rig of the safety suites: local Git repositories committed file by file and the real CLI
 * (`node lambda/cli.ts`, a child process) against the shared local API server.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { SyncResult } from '../../lambda/reconcile/types.ts';
import { type CliRun, runDriftless } from '../support/driftless-cli.ts';

const exec = promisify(execFile);

export interface LocalRepo {
  dir: string;
  /** Writes (or with `null` deletes) files, commits, and returns the commit SHA. */
  commit(files: Record<string, string | null>): Promise<string>;
}

export async function localRepo(dir: string): Promise<LocalRepo> {
  await exec('git', ['init', '--quiet', '--initial-branch=main', dir]);
  const git = (...args: string[]) => exec('git', ['-C', dir, ...args]);
  return {
    dir,
    async commit(files) {
      for (const [file, content] of Object.entries(files)) {
        const path = join(dir, file);
        if (content === null) await rm(path, { force: true });
        else {
          await mkdir(dirname(path), { recursive: true });
          await writeFile(path, content);
        }
      }
      await git('add', '-A');
      await git(
        '-c',
        'user.name=t',
        '-c',
        'user.email=t@driftless.dev',
        'commit',
        '--quiet',
        '--allow-empty',
        '-m',
        'change',
      );
      return (await git('rev-parse', 'HEAD')).stdout.trim();
    },
  };
}

export interface JsonRun extends CliRun {
  result: SyncResult;
}

/** Runs the CLI with `--output json` and parses its one result object. */
export async function driftlessJson(workDir: string, args: string[]): Promise<JsonRun> {
  const run = await runDriftless([...args, '--output', 'json'], {
    DRIFTLESS_CACHE_DIR: join(workDir, 'cache'),
  });
  const lines = run.stdout.trim().split('\n');
  if (lines.length !== 1)
    throw new Error(`expected one JSON line, got:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return { ...run, result: JSON.parse(lines[0] ?? '') as SyncResult };
}

/** `action Kind name` of every object in a result, for readable assertions. */
export function actions(result: SyncResult): string[] {
  return result.resources.map((r) => `${r.action} ${r.kind} ${r.name}`);
}

export function resourceOf(result: SyncResult, kind: string, name: string) {
  return result.resources.find((r) => r.kind === kind && r.name === name);
}

export const namespaceYaml = (name: string, annotations = '') =>
  `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n${annotations}`;
export const configMapYaml = (namespace: string, name: string, text: string, annotations = '') =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\n${annotations}data:\n  text: ${text}\n`;
