/**
 * Writing results to stdout the way a pipeline expects: `driftless history | head` ends quietly
 * with the command's own exit code. A reader that closed the pipe (EPIPE) wants no more output;
 * that is not an error of the command, so the write counts as done and later writes are dropped.
 */

let readerGone = false;

/** True once the reader of stdout closed the pipe. */
export function stdoutClosed(): boolean {
  return readerGone;
}

function isBrokenPipe(error: unknown): boolean {
  return (error as { code?: string } | undefined)?.code === 'EPIPE';
}

/**
 * Swallows EPIPE on stdout for the rest of the process (Node emits it as an `error` event, which
 * unhandled prints a stack trace and exits 1). Call once at start.
 */
export function quietBrokenPipe(stream: NodeJS.WriteStream = process.stdout): void {
  stream.on('error', (error) => {
    if (isBrokenPipe(error)) {
      readerGone = true;
      return;
    }
    throw error;
  });
}

/** Writes `text` to stdout and waits until it is flushed (or the reader has gone). */
export function writeStdout(text: string): Promise<void> {
  if (readerGone || text === '') return Promise.resolve();
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (error) => {
      if (!error) resolve();
      else if (isBrokenPipe(error)) {
        readerGone = true;
        resolve();
      } else reject(error);
    });
  });
}
