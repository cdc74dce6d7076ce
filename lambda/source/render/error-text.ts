/**
 * What of a renderer's error output may leave the render. A chart decides what its error says
 * (`{{ fail (.Files.Get "x" | b64enc) }}`), and the run record, the log, the run event and the
 * notification all carry the message: so only its first lines go there, cut short, with Secret
 * values, URL credentials and every long hex or base64 run masked. The full text stays on the
 * error object for `driftless render` to show to the person running it.
 */
import { redactCredentialsIn } from '../errors.ts';

/** How many lines of the tool's standard error go into the run's error. */
const ERROR_LINES = 6;
const MAX_ERROR_LINE = 400;

/**
 * Runs of 32 or more characters of one encoding: hex, base64 (with its padding) and base64url.
 * A digest, a key or an encoded file; never a word, and rarely a path (dots and dashes break it).
 */
const ENCODED_RUNS = [/[0-9a-fA-F]{32,}/g, /[A-Za-z0-9+/]{32,}={0,2}/g, /[A-Za-z0-9_-]{32,}={0,2}/g];
/** Shorter tokens that mix digits, upper and lower case: a key or base64, not a file path or a commit. */
const MIXED_TOKEN = /[A-Za-z0-9+/_-]{24,}={0,2}/g;

/**
 * Lines that are not the error: Kustomize's deprecation warnings, Helm's log lines (`level=INFO`,
 * `INFO ...`, `walk.go:74: found symbolic link`) and its advice to rerun with `--debug`.
 */
const NOISE = [
  /^# Warning:/,
  /^(time=\S+\s+)?level=(DEBUG|INFO|WARN)\b/i,
  /^(\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\s+)?(DEBUG|INFO)\b/,
  /^[\w-]+\.go:\d+: /,
  /^Use --debug flag/,
];

/**
 * The first error lines, redacted, the tool's own error (`Error: ...`) first: log lines and
 * warnings would crowd it out.
 */
export function errorLines(stderr: string): string[] {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !NOISE.some((noise) => noise.test(line)));
  const errors = lines.filter((line) => /^error\b/i.test(line));
  return [...errors, ...lines.filter((line) => !errors.includes(line))]
    .slice(0, ERROR_LINES)
    .map((line) => redactToolLine(line).slice(0, MAX_ERROR_LINE));
}

/**
 * A renderer's error may quote the object it choked on, or whatever a template put in it.
 * Credentials in URLs, anything after a `data`/`stringData` key (Secret values), long encoded
 * runs and opaque tokens are masked.
 */
export function redactToolLine(line: string): string {
  let out = redactCredentialsIn(line).replace(
    /\b(stringData|data)\b(["']?\s*[:=]|:map\[|":\{)(.*)$/,
    '$1$2 ***',
  );
  for (const run of ENCODED_RUNS) out = out.replace(run, '***');
  return out.replace(MIXED_TOKEN, (token) => (isOpaque(token) ? '***' : token));
}

function isOpaque(token: string): boolean {
  return /\d/.test(token) && /[A-Z]/.test(token) && /[a-z]/.test(token);
}
