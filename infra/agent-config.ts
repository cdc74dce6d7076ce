/**
 * The config a `PullAgent` deploys: a file (`configFile`) or a typed object (`config`, for CDK
 * apps that build their app list in code). Either way it is validated at synth with errors that
 * name the setting, and it reaches the function as one file in its package.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { z } from 'zod';
import {
  ConfigError,
  type configSchema,
  type DriftlessConfig,
  parseConfig,
  parseConfigText,
} from '../lambda/config.ts';

/** The config as a CDK app writes it: defaults may be left out (`path`, `schedule`, `prune` ...). */
export type DriftlessConfigInput = z.input<typeof configSchema>;

export interface AgentConfig {
  config: DriftlessConfig;
  /** The file copied into the function package. */
  file: string;
  /** Names the config in errors: `config file PATH` or `PullAgent config`. */
  source: string;
}

/** Validates the config given to a `PullAgent`: exactly one of `configFile` and `config`. */
export function agentConfig(
  props: { configFile?: string; config?: DriftlessConfigInput },
  /** Where the file of a config object is written: the cloud assembly folder. @default the OS temp folder */
  outdir?: string,
): AgentConfig {
  if (props.config !== undefined && props.configFile !== undefined) {
    throw new ConfigError('PullAgent: give configFile or config, not both');
  }
  if (props.config !== undefined) {
    const config = parseConfig(props.config, 'PullAgent config');
    // The validated config, defaults filled in, as the file the handler reads (JSON is YAML).
    const text = `${JSON.stringify(config, null, 2)}\n`;
    const folder = outdir ?? mkdtempSync(join(tmpdir(), 'driftless-config-'));
    mkdirSync(folder, { recursive: true });
    const file = join(
      folder,
      `driftless.config.${createHash('sha256').update(text).digest('hex').slice(0, 12)}.json`,
    );
    writeFileSync(file, text);
    return { config, file, source: 'PullAgent config' };
  }
  if (props.configFile === undefined) {
    throw new ConfigError('PullAgent: give configFile (a YAML file) or config (an object)');
  }
  const file = resolve(props.configFile);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`);
  }
  return { config: parseConfigText(text, file), file, source: `config file ${file}` };
}
