/**
 * A run's deadline: past it, no request to the cluster starts, in-flight attempts are cut at it,
 * and the run ends `Failed` ("stopped at its deadline …") while there is still time to record it
 * (the Lambda passes its remaining time less a margin; the CLI has none unless given).
 */
import type { KubeClient } from './kube-client.ts';

export interface RunDeadline {
  /** Milliseconds since the epoch (the real clock). */
  at: number;
  /** Where it comes from, for the message, e.g. `30 s before the Lambda's timeout`. */
  reason: string;
}

/** The run reached its deadline: no further request was started. */
export class RunDeadlineError extends Error {
  override name = 'RunDeadlineError';
  constructor(deadline: RunDeadline, server: string) {
    super(
      `stopped at its deadline (${new Date(deadline.at).toISOString()}, ${deadline.reason}): no request to ${server} was started after it`,
    );
  }
}

/** `kube` with every request bound by `deadline` (the client itself cuts attempts and retries). */
export function withDeadline(kube: KubeClient, deadline: RunDeadline | undefined): KubeClient {
  if (!deadline) return kube;
  return {
    server: kube.server,
    get requestCount() {
      return kube.requestCount;
    },
    request(req) {
      if (Date.now() >= deadline.at) return Promise.reject(new RunDeadlineError(deadline, kube.server));
      return kube.request({ ...req, deadline: req.deadline ?? deadline });
    },
  };
}

/**
 * `signal`, also aborted (with a `RunDeadlineError`) when `deadline` passes; `dispose` clears its
 * timer. The client cuts retries, queued and in-flight attempts with it.
 */
export function untilDeadline(
  signal: AbortSignal,
  deadline: RunDeadline | undefined,
  server: string,
): { signal: AbortSignal; dispose(): void } {
  if (!deadline) return { signal, dispose: () => {} };
  const reached = new AbortController();
  const timer = setTimeout(
    () => reached.abort(new RunDeadlineError(deadline, server)),
    Math.max(0, deadline.at - Date.now()),
  );
  timer.unref();
  return { signal: AbortSignal.any([signal, reached.signal]), dispose: () => clearTimeout(timer) };
}
