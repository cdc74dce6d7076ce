/**
 * Whether the API server still answers, for one client: a circuit breaker. Per-object retries
 * are right while the server answers others (one object's connection breaks); they are wrong when
 * the server is gone, where 2,000 objects each retrying on their own kept a run alive for many
 * minutes. So the client trips when requests keep failing at the connection level and nothing
 * answers for a while (or when a request's own retries and a `/version` probe all got no answer):
 * every queued and later request then fails at once with one error naming the server.
 */
import { KubeUnreachableError } from './api-errors.ts';

export interface ServerHealthOptions {
  /** The API server URL, for the message. */
  server: string;
  /**
   * How long requests may go unanswered, while they keep failing at the connection level, before
   * the client trips. The clock runs only while a request is outstanding. @default 10_000
   */
  silenceMs?: number;
  /** Connection-level failures needed within that silence (one broken socket is not an outage). @default 3 */
  minFailures?: number;
  /** @default Date.now */
  now?: () => number;
}

export const DEFAULT_SILENCE_MS = 10_000;
const DEFAULT_MIN_FAILURES = 3;

export class ServerHealth {
  /** Aborted when the client trips; its reason is the error every request then fails with. */
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private readonly server: string;
  private readonly silenceMs: number;
  private readonly minFailures: number;
  private readonly now: () => number;
  private outstanding = 0;
  /** The last answer, or when requests became outstanding after a quiet spell. */
  private progressAt: number;
  private failures = 0;

  constructor(options: ServerHealthOptions) {
    this.server = options.server;
    this.silenceMs = options.silenceMs ?? DEFAULT_SILENCE_MS;
    this.minFailures = options.minFailures ?? DEFAULT_MIN_FAILURES;
    this.now = options.now ?? Date.now;
    this.progressAt = this.now();
    this.signal = this.controller.signal;
  }

  /** The error every request fails with once tripped; undefined while the server answers. */
  get tripped(): KubeUnreachableError | undefined {
    return this.signal.aborted ? (this.signal.reason as KubeUnreachableError) : undefined;
  }

  /** A request is outstanding (retries and backoff included) until the returned function is called. */
  begin(): () => void {
    if (this.outstanding === 0) this.restart();
    this.outstanding += 1;
    return () => {
      this.outstanding -= 1;
    };
  }

  /** The server answered (any status): it is alive. */
  answered(): void {
    this.restart();
  }

  /** An attempt got no answer (refused, reset, timed out); trips when the silence rule holds. */
  failed(cause: string): void {
    if (this.tripped) return;
    this.failures += 1;
    const silent = this.now() - this.progressAt;
    if (this.failures >= this.minFailures && silent >= this.silenceMs) {
      this.trip(
        `no answer for ${Math.round(silent / 1000)} s while ${this.failures} requests failed to connect; last: ${cause}`,
      );
    }
  }

  /** Stops the client: every outstanding and later request fails with one error naming the server. */
  trip(why: string): KubeUnreachableError {
    if (!this.tripped) {
      this.controller.abort(
        new KubeUnreachableError(
          `API server unreachable: ${this.server} stopped answering (${why}); no further request was sent to it`,
        ),
      );
    }
    return this.tripped as KubeUnreachableError;
  }

  private restart(): void {
    this.progressAt = this.now();
    this.failures = 0;
  }
}
