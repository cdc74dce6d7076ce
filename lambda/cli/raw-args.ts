/**
 * Option values read from the raw command-line words, for when commander rejected the command
 * line and parsed nothing usable: `--output json` must still get its one JSON object on stdout.
 */

/**
 * The last value given for an option (`--name v`, `--name=v`, `-n v`, `-nv`), or undefined.
 * Words after `--` are operands, not options.
 */
export function rawOptionValue(words: string[], long: string, short?: string): string | undefined {
  let value: string | undefined;
  for (let index = 0; index < words.length; index++) {
    const word = words[index] ?? '';
    if (word === '--') break;
    if (word === long || (short !== undefined && word === short)) {
      value = words[index + 1];
      index++;
    } else if (word.startsWith(`${long}=`)) {
      value = word.slice(long.length + 1);
    } else if (short !== undefined && word.startsWith(short) && !word.startsWith('--')) {
      value = word.slice(short.length);
    }
  }
  return value;
}
