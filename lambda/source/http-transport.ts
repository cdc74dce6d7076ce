/**
 * The HTTP client isomorphic-git talks through: Node's `fetch` with an idle timeout, a download
 * bound and a request/byte count. Network failures become {@link SourceError}s naming the repo,
 * so a refused connection or a hung server reads the same in the log as in the CLI.
 * A Git server with a private CA is trusted the standard way (`NODE_EXTRA_CA_CERTS`, read by Node
 * at process start), or in process through the `ca` option.
 */
import { getCACertificates } from 'node:tls';
import type { GitHttpRequest, GitHttpResponse, HttpClient } from 'isomorphic-git';
import { SourceError } from './errors.ts';

export interface TransportStats {
  requests: number;
  /** Response body bytes received. */
  bytes: number;
}

export interface TransportOptions {
  /** Repo URL for messages, credentials already stripped. */
  repo: string;
  /** Abort a request when no data arrives for this long. */
  timeoutMs: number;
  /** Abort when one load downloads more than this. */
  maxBytes: number;
  /** Replaces `fetch` (tests, proxies). Gets the same timeout and bounds. */
  inner?: HttpClient;
  /** CA certificates (PEM) trusted for https:// besides Node's defaults. @default none */
  ca?: readonly string[];
}

export interface Transport {
  http: HttpClient;
  stats: TransportStats;
}

/**
 * Builds the client for one load. The first ref advertisement (`GET info/refs`) is remembered
 * and replayed once, so resolving the ref and then fetching costs one round trip, and the fetch
 * wants exactly the commit that was resolved.
 */
export function createTransport(options: TransportOptions): Transport {
  const stats: TransportStats = { requests: 0, bytes: 0 };
  const inner = options.inner ?? fetchClient(options.ca);
  const advertisements = new Map<string, { response: GitHttpResponse; body: Uint8Array[] }>();

  const request = async (req: GitHttpRequest): Promise<GitHttpResponse> => {
    const isAdvertisement = (req.method ?? 'GET') === 'GET' && req.url.includes('/info/refs?');
    const cached = isAdvertisement ? advertisements.get(req.url) : undefined;
    if (cached) {
      advertisements.delete(req.url);
      return { ...cached.response, body: iterate(cached.body) };
    }
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(), options.timeoutMs);
      // A body nobody drains must not keep the CLI process alive until the timer fires.
      timer.unref();
    };
    stats.requests += 1;
    arm();
    let response: GitHttpResponse;
    try {
      response = await inner.request({ ...req, signal: controller.signal });
    } catch (error) {
      clearTimeout(timer);
      throw networkError(options, error, controller.signal.aborted);
    }
    const source = response.body;
    const counted = async function* () {
      try {
        if (!source) return;
        for await (const chunk of source) {
          arm();
          stats.bytes += chunk.byteLength;
          if (stats.bytes > options.maxBytes) {
            controller.abort();
            throw new SourceError(
              `${options.repo}: download exceeds ${options.maxBytes} bytes (maxCacheBytes); the repository is too large for the cache`,
            );
          }
          yield chunk;
        }
      } catch (error) {
        if (error instanceof SourceError) throw error;
        throw networkError(options, error, controller.signal.aborted);
      } finally {
        clearTimeout(timer);
      }
    };
    if (!isAdvertisement || response.statusCode !== 200) return { ...response, body: counted() };
    const body: Uint8Array[] = [];
    for await (const chunk of counted()) body.push(chunk);
    advertisements.set(req.url, { response, body });
    return { ...response, body: iterate(body) };
  };
  return { http: { request }, stats };
}

async function* iterate(chunks: Uint8Array[]): AsyncIterableIterator<Uint8Array> {
  yield* chunks;
}

function networkError(options: TransportOptions, error: unknown, timedOut: boolean): SourceError {
  if (timedOut) {
    return new SourceError(
      `cannot fetch ${options.repo}: no response within ${options.timeoutMs} ms (timeoutMs)`,
    );
  }
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const reason = cause?.code ?? cause?.message ?? (error as Error).message;
  const hint = cause?.code && UNTRUSTED_CERTIFICATE.has(cause.code) ? UNTRUSTED_HINT : '';
  return new SourceError(`cannot reach ${options.repo}: ${reason}${hint}`);
}

/** Node's codes for a certificate no trusted CA signed: a private CA the user can add. */
const UNTRUSTED_CERTIFICATE = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);
const UNTRUSTED_HINT =
  ": the server's certificate is not signed by a trusted CA; for a private CA, point NODE_EXTRA_CA_CERTS at its PEM file";

/** isomorphic-git's `http/web` client in spirit, on fetch with an abort signal. */
function fetchClient(ca: readonly string[] | undefined): HttpClient {
  const send = ca?.length ? trustingFetch(ca) : fetch;
  return {
    async request({ url, method = 'GET', headers = {}, body, signal }) {
      const payload = body ? Buffer.concat(await collect(body)) : undefined;
      const res = await send(url, {
        method,
        headers,
        body: payload,
        signal: signal ?? null,
        redirect: 'follow',
      });
      const responseHeaders: Record<string, string> = {};
      res.headers.forEach((value, key) => {
        responseHeaders[key] = value;
      });
      return {
        url: res.url,
        method,
        statusCode: res.status,
        statusMessage: res.statusText,
        headers: responseHeaders,
        body: res.body ? (res.body as unknown as AsyncIterableIterator<Uint8Array>) : iterate([]),
      };
    },
  };
}

type Undici = typeof import('undici');

/** One connection pool per CA set, so repeated loads reuse their connections. */
const trustingAgents = new Map<
  string,
  Promise<{ agent: InstanceType<Undici['Agent']>; fetch: Undici['fetch'] }>
>();

/**
 * `fetch` that trusts `ca` besides Node's defaults: undici's own fetch (what Node's is built from,
 * already a dependency of the Kubernetes client) with its own agent, loaded only when a CA is given.
 */
function trustingFetch(ca: readonly string[]): typeof fetch {
  const key = ca.join('\n');
  let client = trustingAgents.get(key);
  if (!client) {
    client = import('undici').then(({ Agent, fetch: undiciFetch }) => ({
      agent: new Agent({ connect: { ca: [...getCACertificates('default'), ...ca] } }),
      fetch: undiciFetch,
    }));
    trustingAgents.set(key, client);
  }
  const ready = client;
  const send = async (url: string, init: RequestInit) => {
    const { agent, fetch: undiciFetch } = await ready;
    return undiciFetch(url, { ...(init as Parameters<Undici['fetch']>[1]), dispatcher: agent });
  };
  return send as unknown as typeof fetch;
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return chunks;
}
