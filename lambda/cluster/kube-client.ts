/**
 * The one way driftless talks to a Kubernetes API server: raw JSON over `node:https`.
 *
 * client-node's typed APIs serialise built-in kinds through generated models and drop unknown
 * fields (e.g. a CRD's `x-kubernetes-preserve-unknown-fields`), so apply bodies must go out as
 * the user wrote them. client-node is still used for what it does well: reading kubeconfigs,
 * including exec credential plugins (`kubeClientFromKubeConfig`).
 */
import { Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeConnectionBrokenError } from './api-errors.ts';
import { type RateLimit, type TakeToken, tokenBucket } from './rate-limit.ts';
import { DEFAULT_RETRY, isRetryableStatus, nextDelay, type RetryPolicy, retryAfterMs } from './retry.ts';
import { type RunDeadline, untilDeadline } from './run-deadline.ts';
import { ServerHealth } from './server-health.ts';

export { KubeConnectionBrokenError, KubeUnreachableError } from './api-errors.ts';

/** Sent with every request, so API server audit logs tell driftless apart from other clients. */
export const USER_AGENT = 'driftless/0.1';

export type KubeMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface KubeRequest {
  method: KubeMethod;
  /** API path, e.g. `/api/v1/namespaces/default/configmaps/x`. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** Sent as JSON (objects) or as is (strings). */
  body?: unknown;
  /** @default 'application/json' when there is a body */
  contentType?: string;
  /** @default 'application/json' */
  accept?: string;
  /** @default the client's `timeoutMs` */
  timeoutMs?: number;
  /** No attempt starts past it, and one in flight is cut at it (`RunDeadlineError`). @default none */
  deadline?: RunDeadline;
}

export interface KubeResponse<T = unknown> {
  status: number;
  /** Parsed JSON when the server answered JSON, else the text. */
  body: T;
  /** `Retry-After` of a 429 or 5xx, in milliseconds. */
  retryAfterMs?: number;
  /** The texts of the answer's `Warning` headers (deprecations, unknown or duplicate fields). */
  warnings?: string[];
}

/** What the reconcile engine needs from a cluster. Tests and the benchmark may wrap it. */
export interface KubeClient {
  /** The API server URL, for messages. */
  readonly server: string;
  /** Requests sent so far (the benchmark counts them). */
  readonly requestCount: number;
  /**
   * Sends one request, retried within bounds on a 429, a 5xx or a broken connection. Never throws
   * for an HTTP status (ask `isNotFound(res)` and friends from `api-errors.ts`). Throws
   * `KubeConnectionBrokenError` when this request's connection kept breaking while the server
   * answers others, `KubeUnreachableError` when the server does not answer at all (then the
   * client has tripped: this and every later request fail at once with that one error, see
   * `server-health.ts`), and `RunDeadlineError` past the request's deadline.
   */
  request<T = unknown>(req: KubeRequest): Promise<KubeResponse<T>>;
}

export interface KubeConnection {
  /** `https://host:port` */
  server: string;
  /** CA bundle (PEM) that signs the server's certificate. */
  caPem?: string;
  clientCertPem?: string;
  clientKeyPem?: string;
  /** @default false */
  insecureSkipTlsVerify?: boolean;
  /** Returns the `Authorization` header value for the next request (e.g. a fresh bearer token). */
  authorization?: () => Promise<string | undefined>;
  /** @default 30_000 */
  timeoutMs?: number;
  /** @default 32 sockets */
  maxSockets?: number;
  /**
   * Requests per second this client sends at most, after a burst (client-go's QPS/burst). The
   * burst covers a cold sync of 1,000 objects unthrottled (a dry run and an apply each, about
   * 2,200 requests); past it, a very large app or a retry storm is held to 200 requests a second.
   * @default { qps: 200, burst: 2500 }
   */
  rateLimit?: RateLimit;
  /** @default DEFAULT_RETRY: 5 attempts within 30 s, backoff from 200 ms */
  retry?: Partial<RetryPolicy>;
  /**
   * How long requests may keep failing at the connection level with no answer at all before the
   * client stops sending (the server is taken for dead). @default 10_000
   */
  silenceMs?: number;
}

/** Per client, so per run: each run connects anew. */
export const DEFAULT_RATE_LIMIT: RateLimit = { qps: 200, burst: 2500 };

/** A request whose connection failed: the cause, for the message. */
class NoAnswer extends Error {}

export function createKubeClient(connection: KubeConnection): KubeClient {
  const url = new URL(connection.server);
  const agent = new Agent({
    keepAlive: true,
    maxSockets: connection.maxSockets ?? 32,
    ca: connection.caPem,
    cert: connection.clientCertPem,
    key: connection.clientKeyPem,
    rejectUnauthorized: !connection.insecureSkipTlsVerify,
  });
  const defaultTimeout = connection.timeoutMs ?? 30_000;
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...connection.retry };
  const takeToken: TakeToken = tokenBucket(connection.rateLimit ?? DEFAULT_RATE_LIMIT);
  const health = new ServerHealth({ server: connection.server, silenceMs: connection.silenceMs });
  let requestCount = 0;

  return {
    server: connection.server,
    get requestCount() {
      return requestCount;
    },
    async request<T>(req: KubeRequest): Promise<KubeResponse<T>> {
      const end = health.begin();
      const stop = untilDeadline(health.signal, req.deadline, connection.server);
      try {
        return await attempts<T>(req, stop.signal);
      } finally {
        end();
        stop.dispose();
      }
    },
  };

  async function attempts<T>(req: KubeRequest, stop: AbortSignal): Promise<KubeResponse<T>> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      stop.throwIfAborted();
      await takeToken(stop);
      requestCount += 1;
      let res: KubeResponse<T> | undefined;
      let failure: Error | undefined;
      try {
        res = await send<T>(req, stop);
        health.answered();
      } catch (error) {
        if (!(error instanceof NoAnswer)) throw error;
        // Tripped or past the deadline: that one error, not this attempt's.
        stop.throwIfAborted();
        failure = error;
        health.failed(error.message);
        stop.throwIfAborted();
      }
      // A create must not be sent twice: its answer may have been lost after the server acted.
      const retryable = res ? isRetryableStatus(res.status) : req.method !== 'POST';
      const delay = retryable
        ? nextDelay(retry, attempt, Date.now() - started, res?.retryAfterMs)
        : undefined;
      if (delay === undefined) {
        if (res) return res;
        throw await noAnswerError(req, failure as Error, attempt, stop);
      }
      await sleep(delay, undefined, { signal: stop }).catch(() => stop.throwIfAborted());
    }
  }

  /**
   * Only this request is broken while the server answers a `/version` probe; when that gets no
   * answer either, the server is gone: the client trips.
   */
  async function noAnswerError(
    req: KubeRequest,
    failure: Error,
    attempts: number,
    stop: AbortSignal,
  ): Promise<Error> {
    const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
    const alive = await send({ method: 'GET', path: '/version', timeoutMs: 5_000 }, stop).then(
      () => true,
      () => false,
    );
    stop.throwIfAborted();
    if (alive) {
      return new KubeConnectionBrokenError(
        `${req.method} ${connection.server}${req.path}: the connection broke${tries} (${failure.message}) while the API server answers other requests`,
      );
    }
    return health.trip(
      `${req.method} ${req.path} got no answer${tries}, last: ${failure.message}; GET /version got none either`,
    );
  }

  /** One attempt; rejects with `NoAnswer` when no complete answer came (or `stop` was aborted). */
  function send<T>(req: KubeRequest, stop: AbortSignal): Promise<KubeResponse<T>> {
    return (async () => {
      const search = new URLSearchParams();
      for (const [key, value] of Object.entries(req.query ?? {})) {
        if (value !== undefined) search.set(key, String(value));
      }
      const basePath = url.pathname.replace(/\/$/, '');
      const path = `${basePath}${req.path}${search.size ? `?${search}` : ''}`;
      const headers: Record<string, string> = {
        accept: req.accept ?? 'application/json',
        'user-agent': USER_AGENT,
      };
      const auth = await connection.authorization?.();
      if (auth) headers.authorization = auth;
      let payload: Buffer | undefined;
      if (req.body !== undefined) {
        payload = Buffer.from(typeof req.body === 'string' ? req.body : JSON.stringify(req.body));
        headers['content-type'] = req.contentType ?? 'application/json';
        headers['content-length'] = String(payload.length);
      }
      const options: RequestOptions = {
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port || 443,
        method: req.method,
        path,
        headers,
        agent,
      };
      const timeoutMs = req.timeoutMs ?? defaultTimeout;
      return new Promise<KubeResponse<T>>((resolve, reject) => {
        const outgoing = httpsRequest(options, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (error) => reject(new NoAnswer(error.message)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const isJson = (res.headers['content-type'] ?? '').includes('json');
            let body: unknown = text;
            if (isJson && text) {
              try {
                body = JSON.parse(text);
              } catch {
                body = text;
              }
            }
            const status = res.statusCode ?? 0;
            const retryAfter = isRetryableStatus(status)
              ? retryAfterMs(res.headers['retry-after'])
              : undefined;
            const warnings = warningTexts(res.rawHeaders);
            resolve({
              status,
              body: body as T,
              ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}),
              ...(warnings.length ? { warnings } : {}),
            });
          });
        });
        outgoing.setTimeout(timeoutMs, () => {
          outgoing.destroy(new Error(`no answer within ${timeoutMs} ms`));
        });
        // A tripped client or a passed deadline cuts what is in flight, so the run ends now.
        const cut = () => outgoing.destroy(new Error('stopped'));
        stop.addEventListener('abort', cut, { once: true });
        outgoing.on('close', () => stop.removeEventListener('abort', cut));
        outgoing.on('error', (error) => reject(new NoAnswer(error.message)));
        if (stop.aborted) cut();
        else outgoing.end(payload);
      });
    })();
  }
}

/** `Warning: 299 - "unknown field \"spec.replica\""` -> `unknown field "spec.replica"`, one per header. */
function warningTexts(rawHeaders: string[]): string[] {
  const texts: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() !== 'warning') continue;
    const match = /^\d{3} \S+ "((?:[^"\\]|\\.)*)"/.exec(rawHeaders[i + 1] ?? '');
    texts.push(match?.[1] ? match[1].replace(/\\(.)/g, '$1') : (rawHeaders[i + 1] ?? ''));
  }
  return texts;
}

/**
 * A client for the current (or named) context of a kubeconfig. Credentials are resolved per
 * request through client-node, so exec plugins and token files refresh as they expire.
 */
export async function kubeClientFromKubeConfig(
  kc: KubeConfig,
  options: { timeoutMs?: number } = {},
): Promise<KubeClient> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`kubeconfig context "${kc.getCurrentContext()}" names no cluster`);
  const tls: RequestOptions = {};
  await kc.applyToHTTPSOptions(tls);
  return createKubeClient({
    server: cluster.server,
    caPem: tls.ca?.toString(),
    clientCertPem: tls.cert?.toString(),
    clientKeyPem: tls.key?.toString(),
    insecureSkipTlsVerify: cluster.skipTLSVerify,
    timeoutMs: options.timeoutMs,
    authorization: async () => {
      const opts: RequestOptions = { headers: {} };
      await kc.applyToHTTPSOptions(opts);
      const header = (opts.headers as Record<string, string | undefined>)?.Authorization;
      return header ?? (opts.headers as Record<string, string | undefined>)?.authorization;
    },
  });
}
