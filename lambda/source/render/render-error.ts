/**
 * The error of a render: the renderer failed, passed a limit, or could not start (no tool, no
 * cluster capabilities, a values file outside the repository). A run reports it as a render
 * error, not as a fetch error: the commit was fetched, what it holds did not render.
 */
import { SourceError } from '../errors.ts';

/**
 * A render that failed. The message is safe to store, log and send (first lines, long encoded
 * runs masked); `detail` is the renderer's full error output, for `driftless render` to show its
 * user. `detail` is not enumerable: no logger, JSON or record copies it.
 */
export class RenderError extends SourceError {
  override name = 'RenderError';
  declare readonly detail?: string;
  constructor(message: string, detail?: string, options?: ErrorOptions) {
    super(message, options);
    Object.defineProperty(this, 'detail', { value: detail || undefined, enumerable: false });
  }
}

/** The render error behind `error` (itself or one of its causes: a fetch wraps what it loaded). */
export function renderFailure(error: unknown): RenderError | undefined {
  for (let at = error; at instanceof Error; at = at.cause) if (at instanceof RenderError) return at;
  return undefined;
}

/** The full renderer output behind an error (or one of its causes), when a render failed. */
export function renderErrorDetail(error: unknown): string | undefined {
  return renderFailure(error)?.detail;
}
