/**
 * The one way driftless talks to a Kubernetes API server: raw JSON over `node:https`.
 *
 * client-node's typed APIs serialise built-in kinds through generated models and drop unknown
 * fields (e.g. a CRD's `x-kubernetes-preserve-unknown-fields`), so apply bodies must go out as
 * the user wrote them. client-node is still used for what it does well: reading kubeconfigs,
 * including exec credential plugins (`kubeClientFromKubeConfig`).
 */
import { Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

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
  /** @default the client's `timeoutMs` */
  timeoutMs?: number;
}

export interface KubeResponse<T = unknown> {
  status: number;
  /** Parsed JSON when the server answered JSON, else the text. */
  body: T;
  /** The texts of the answer's `Warning` headers (deprecations, unknown or duplicate fields). */
  warnings?: string[];
}

/** What the reconcile engine needs from a cluster. Tests and the benchmark may wrap it. */
export interface KubeClient {
  /** The API server URL, for messages. */
  readonly server: string;
  /** Requests sent so far (the benchmark counts them). */
  readonly requestCount: number;
  /** Sends one request. Never throws for an HTTP status; throws `KubeUnreachableError` when no answer came. */
  request<T = unknown>(req: KubeRequest): Promise<KubeResponse<T>>;
}

export class KubeUnreachableError extends Error {
  override name = 'KubeUnreachableError';
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
}

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
  let requestCount = 0;

  return {
    server: connection.server,
    get requestCount() {
      return requestCount;
    },
    async request<T>(req: KubeRequest): Promise<KubeResponse<T>> {
      const search = new URLSearchParams();
      for (const [key, value] of Object.entries(req.query ?? {})) {
        if (value !== undefined) search.set(key, String(value));
      }
      const basePath = url.pathname.replace(/\/$/, '');
      const path = `${basePath}${req.path}${search.size ? `?${search}` : ''}`;
      const headers: Record<string, string> = { accept: 'application/json', 'user-agent': USER_AGENT };
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
      requestCount += 1;
      const timeoutMs = req.timeoutMs ?? defaultTimeout;
      return new Promise<KubeResponse<T>>((resolve, reject) => {
        const outgoing = httpsRequest(options, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (error) =>
            reject(
              new KubeUnreachableError(`${req.method} ${connection.server}${req.path}: ${error.message}`),
            ),
          );
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
            const warnings = warningTexts(res.rawHeaders);
            resolve({
              status: res.statusCode ?? 0,
              body: body as T,
              ...(warnings.length ? { warnings } : {}),
            });
          });
        });
        outgoing.setTimeout(timeoutMs, () => {
          outgoing.destroy(new Error(`no answer within ${timeoutMs} ms`));
        });
        outgoing.on('error', (error) =>
          reject(
            new KubeUnreachableError(
              `${req.method} ${connection.server}${req.path}: API server unreachable (${error.message})`,
            ),
          ),
        );
        outgoing.end(payload);
      });
    },
  };
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
