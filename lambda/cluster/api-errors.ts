/**
 * What went wrong with a Kubernetes API request, as a kind rather than a status number (like
 * apimachinery's `k8s.io/apimachinery/pkg/api/errors`): ask `isNotFound(res)`, not
 * `res.status === 404`. Each question takes a response (a rejection the server answered) or a
 * thrown error (no answer: unreachable, or the connection broke).
 */
import type { KubeResponse } from './kube-client.ts';

/** The kinds of failure the engine tells apart. */
export type ApiErrorKind =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'Gone'
  | 'TooManyRequests'
  | 'Forbidden'
  | 'Unauthorized'
  | 'ServerError'
  | 'Other';

/** The `Status` object an API server sends with a rejection (only the fields read here). */
export interface ApiStatus {
  kind?: string;
  message?: string;
  reason?: string;
  details?: { causes?: { field?: string; message?: string; reason?: string }[] };
}

/** The API server answered, and refused. `status` is the HTTP status, `reason` the Status reason. */
export class KubeApiError extends Error {
  override name = 'KubeApiError';
  readonly kind: ApiErrorKind;
  readonly status: number;
  /** The server's answer, usually a `Status`. */
  readonly body: unknown;
  constructor(status: number, body: unknown) {
    super(statusOf(body).message ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.kind = kindOf(status, statusOf(body).reason);
  }
  /** The Status `reason` (`NotFound`, `Invalid`, ...), when the server gave one. */
  get reason(): string | undefined {
    return statusOf(this.body).reason;
  }
}

/** No answer came from the API server at all (refused, timed out, DNS): the run cannot go on. */
export class KubeUnreachableError extends Error {
  override name = 'KubeUnreachableError';
}

/**
 * This one request's connection kept breaking while the API server answers others (the 1.20
 * server panics on an APIService apply): a failure of that object, not of the run.
 */
export class KubeConnectionBrokenError extends Error {
  override name = 'KubeConnectionBrokenError';
}

function statusOf(body: unknown): ApiStatus {
  return (body && typeof body === 'object' ? body : {}) as ApiStatus;
}

function kindOf(status: number, reason: string | undefined): ApiErrorKind {
  if (status === 404) return 'NotFound';
  if (status === 409) return reason === 'AlreadyExists' ? 'AlreadyExists' : 'Conflict';
  if (status === 422) return 'Invalid';
  if (status === 410) return 'Gone';
  if (status === 429) return 'TooManyRequests';
  if (status === 403) return 'Forbidden';
  if (status === 401) return 'Unauthorized';
  if (status >= 500) return 'ServerError';
  return 'Other';
}

/** The answer was a success (2xx). */
export function isSuccess(res: Pick<KubeResponse, 'status'>): boolean {
  return res.status >= 200 && res.status < 300;
}

/** The rejection carried by `res` (undefined for a success), or `err` itself when it is one. */
export function apiError(value: unknown): KubeApiError | undefined {
  if (value instanceof KubeApiError) return value;
  if (value && typeof value === 'object' && 'status' in value && typeof value.status === 'number') {
    const res = value as KubeResponse;
    return isSuccess(res) ? undefined : new KubeApiError(res.status, res.body);
  }
  return undefined;
}

const is = (kind: ApiErrorKind) => (value: unknown) => apiError(value)?.kind === kind;

export const isNotFound = is('NotFound');
export const isAlreadyExists = is('AlreadyExists');
export const isConflict = is('Conflict');
export const isInvalid = is('Invalid');
export const isGone = is('Gone');
export const isTooManyRequests = is('TooManyRequests');
export const isForbidden = is('Forbidden');
export const isUnauthorized = is('Unauthorized');
export const isServerError = is('ServerError');

/** How API servers say a field cannot change (Flux's `IsImmutableError` matches the first). */
const IMMUTABLE = /is immutable|immutable field|may not change once set/i;

/** An Invalid rejection because a field may not change after creation: the immutable fields. */
export function immutableFields(value: unknown): string[] | undefined {
  const error = apiError(value);
  if (!error || (error.kind !== 'Invalid' && error.kind !== 'Other')) return undefined;
  const causes = statusOf(error.body).details?.causes ?? [];
  const immutable = causes.filter((c) => IMMUTABLE.test(c.message ?? ''));
  if (immutable.length === 0 && !IMMUTABLE.test(error.message)) return undefined;
  return immutable.map((c) => c.field).filter((f): f is string => Boolean(f));
}

export const isImmutable = (value: unknown): boolean => immutableFields(value) !== undefined;

/** The request got no answer and the API server is unreachable. */
export const isUnreachable = (value: unknown): boolean => value instanceof KubeUnreachableError;
/** The request's connection kept breaking while the server answers other requests. */
export const isConnectionBroken = (value: unknown): boolean => value instanceof KubeConnectionBrokenError;
