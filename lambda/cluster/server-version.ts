/** What the API server's version (`GET /version`) tells driftless about the requests it accepts. */
import type { KubeClient } from './kube-client.ts';

/**
 * Whether the server takes `fieldValidation=Strict` on writes (Kubernetes >= 1.25), so an unknown
 * or duplicate field fails the request naming the field instead of being dropped with a warning.
 * A server whose version cannot be read is treated as an old one.
 */
export async function supportsStrictFieldValidation(kube: KubeClient): Promise<boolean> {
  const res = await kube.request<{ major?: string; minor?: string }>({ method: 'GET', path: '/version' });
  if (res.status !== 200 || typeof res.body !== 'object') return false;
  // EKS reports minors such as "30+".
  const major = Number.parseInt(res.body.major ?? '', 10);
  const minor = Number.parseInt(res.body.minor ?? '', 10);
  return major > 1 || (major === 1 && minor >= 25);
}
