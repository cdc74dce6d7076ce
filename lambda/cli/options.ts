/** Options several commands share, so they read and validate the same everywhere. */
import { InvalidArgumentError, Option } from 'commander';
import { stringify } from 'yaml';

export type OutputFormat = 'text' | 'json' | 'yaml';

/** `-o, --output text|json|yaml`, as kubectl spells it. */
export function outputOption(): Option {
  return new Option('-o, --output <format>', 'text for people, json or yaml for machines')
    .choices(['text', 'json', 'yaml'])
    .default('text');
}

export function historyOption(): Option {
  return new Option(
    '--history <spec>',
    'sqlite:PATH or dynamodb:TABLE (default: sqlite:$XDG_STATE_HOME/driftless/history.db, else ~/.local/state/driftless/history.db)',
  );
}

/** `--app NAME`, required: every control names the app it acts on. */
export function appOption(): Option {
  return new Option('--app <name>', 'app name').makeOptionMandatory();
}

export function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('must be a positive integer');
  return parsed;
}

/** Objects for machines: one JSON object per line, or one YAML document each. */
export function formatObjects(objects: unknown[], output: 'json' | 'yaml'): string {
  if (output === 'json') return objects.map((object) => `${JSON.stringify(object)}\n`).join('');
  return objects.map((object) => `---\n${stringify(object)}`).join('');
}
