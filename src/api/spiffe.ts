/**
 * SPIFFE IDs: the URI SAN every identity's certificate carries,
 * spiffe://<trust domain>/ns/<namespace>/sa/<service account>.
 *
 * Pure: no I/O.
 */

const TRUST_DOMAIN_RE = /^[a-z0-9._-]+$/;
const SPIFFE_SEGMENT_RE = /^[A-Za-z0-9._-]+$/;

/**
 * spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>. Throws an Error (not an
 * InvalidSpecError: a bad trust domain is the operator's configuration, not the user's spec)
 * when a part would make an invalid SPIFFE ID.
 */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  if (!TRUST_DOMAIN_RE.test(trustDomain) || trustDomain.length > 255) {
    throw new Error(
      `invalid SPIFFE trust domain "${trustDomain}": use lowercase letters, digits, '.', '-' and '_' (at most 255)`,
    );
  }
  for (const [what, seg] of [['namespace', namespace], ['service account', serviceAccount]] as const) {
    if (!SPIFFE_SEGMENT_RE.test(seg) || seg === '.' || seg === '..') {
      throw new Error(`invalid ${what} "${seg}" for a SPIFFE ID path segment`);
    }
  }
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}
