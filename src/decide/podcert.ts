/**
 * "What does the signer answer to this PodCertificateRequest, and why?" Pure: the caller reads
 * the request, the identities of its namespace and the CA, and passes the time.
 *
 * The answer is one of:
 *   Issue  — a certificate for the SPIFFE ID of the request's namespace and ServiceAccount, with the
 *            DNS names and IP addresses of the one MutualTLSIdentity of that namespace that runs as
 *            that ServiceAccount and opts in (spec.podCertificates: true), or SPIFFE-only without one;
 *   Denied — what policy forbids (terminal: the kubelet makes a new request later);
 *   Failed — what the signer cannot do now (the CA is not ready or ends too soon).
 *
 * Lifetime: the shortest of the request's maxExpirationSeconds, the identity's duration (without
 * one, the default duration, 24h) and what the CA has left; at least one hour or Failed.
 *
 * unverifiedUserAnnotations never widen what is issued: the signer knows no keys, so a request
 * carrying any is denied (InvalidUnverifiedUserAnnotations), as the API's documentation asks.
 */
import type { KeyParams } from '../pki/types.ts';
import { spiffeId } from '../api/spiffe.ts';
import { renewalTime } from './renewal.ts';

/** The API server refuses certificates shorter than this, and beginRefreshAt closer than REFRESH_MARGIN_MS to either end. */
export const MIN_POD_CERT_LIFETIME_MS = 3_600_000;
export const REFRESH_MARGIN_MS = 10 * 60_000;
/** notBefore backdate: the API server wants it within 5 minutes of its own clock. */
export const POD_CERT_BACKDATE_MS = 60_000;

/** One MutualTLSIdentity of the request's namespace that runs as the request's ServiceAccount. */
export interface IdentityCandidate {
  name: string;
  /** spec.podCertificates */
  optedIn: boolean;
  /** Why its spec does not resolve (InvalidSpec), if it does not. */
  invalid?: string;
  /** Why the name policy refuses its names, if it does. */
  violation?: string;
  dnsNames: string[];
  ipAddresses: string[];
  durationMs: number;
  renewBeforeMs?: number;
}

export interface PodCertInput {
  now: Date;
  trustDomain: string;
  namespace: string;
  serviceAccountName: string;
  /** spec.maxExpirationSeconds (the API server defaults it to 86400). */
  maxExpirationSeconds: number;
  /** The lifetime cap without an identity (an identity's default duration, 24h). */
  defaultDurationMs: number;
  /** The request's key: usable, or why not. */
  key: { ok: true; key: KeyParams } | { ok: false; message: string };
  /** Keys of spec.unverifiedUserAnnotations. */
  userAnnotationKeys: string[];
  /** The CA: its notAfter (and notBefore), or why it is not ready. */
  ca: { ok: true; notBefore: Date; notAfter: Date } | { ok: false; message: string };
  /** Identities of the namespace whose serviceAccountName is the request's. */
  identities: IdentityCandidate[];
}

export type PodCertDecision =
  | {
      kind: 'Issue';
      uris: string[];
      dnsNames: string[];
      ipAddresses: string[];
      durationMs: number;
      /** Renew-before of the identity, if any (for beginRefreshAt). */
      renewBeforeMs?: number;
      /** The identity whose names are issued, if any. */
      identity?: string;
      message: string;
    }
  | { kind: 'Denied' | 'Failed'; reason: string; message: string };

export function decidePodCertificate(i: PodCertInput): PodCertDecision {
  if (!i.key.ok) return { kind: 'Denied', reason: 'UnsupportedKeyType', message: i.key.message };
  if (i.userAnnotationKeys.length > 0) {
    return {
      kind: 'Denied',
      reason: 'InvalidUnverifiedUserAnnotations',
      message: `signer mtls.dev/identity recognises no unverifiedUserAnnotations; remove ${[...i.userAnnotationKeys].sort().join(', ')}`,
    };
  }
  const opted = i.identities.filter((c) => c.optedIn);
  if (opted.length > 1) {
    return {
      kind: 'Denied',
      reason: 'AmbiguousIdentity',
      message: `MutualTLSIdentities ${opted.map((c) => c.name).sort().join(', ')} in namespace ${i.namespace} all run as ServiceAccount ${i.serviceAccountName} with podCertificates: true; leave it on one`,
    };
  }
  const identity = opted[0];
  if (identity?.invalid) {
    return { kind: 'Denied', reason: 'InvalidIdentity', message: `MutualTLSIdentity ${i.namespace}/${identity.name}: ${identity.invalid}` };
  }
  if (identity?.violation) {
    return { kind: 'Denied', reason: 'PolicyViolation', message: `MutualTLSIdentity ${i.namespace}/${identity.name}: ${identity.violation}` };
  }
  if (!i.ca.ok) return { kind: 'Failed', reason: 'CANotReady', message: i.ca.message };
  const notBefore = Math.max(i.now.getTime() - POD_CERT_BACKDATE_MS, i.ca.notBefore.getTime());
  const byCa = i.ca.notAfter.getTime() - notBefore;
  const durationMs = Math.min(i.maxExpirationSeconds * 1000, identity ? identity.durationMs : i.defaultDurationMs, byCa);
  if (durationMs < MIN_POD_CERT_LIFETIME_MS) {
    const why = byCa === durationMs ? `the CA expires at ${i.ca.notAfter.toISOString()}` : `MutualTLSIdentity ${i.namespace}/${identity?.name} asks for a duration of ${Math.round(durationMs / 1000)} s`;
    return { kind: 'Failed', reason: byCa === durationMs ? 'CAExpiresSoon' : 'LifetimeTooShort', message: `${why}: pod certificates live at least one hour` };
  }
  const uris = [spiffeId(i.trustDomain, i.namespace, i.serviceAccountName)];
  return {
    kind: 'Issue',
    uris,
    dnsNames: identity?.dnsNames ?? [],
    ipAddresses: identity?.ipAddresses ?? [],
    durationMs,
    ...(identity?.renewBeforeMs !== undefined ? { renewBeforeMs: identity.renewBeforeMs } : {}),
    ...(identity ? { identity: identity.name } : {}),
    message: identity ? `names of MutualTLSIdentity ${i.namespace}/${identity.name}` : `SPIFFE ID only (no MutualTLSIdentity for ServiceAccount ${i.serviceAccountName} with podCertificates: true)`,
  };
}

/**
 * beginRefreshAt: the point of the lifetime at which a Secret would be renewed (renewBefore ahead
 * of notAfter, else one third of the lifetime ahead), kept inside [notBefore + 10 min, notAfter -
 * 10 min] as the API server requires. A certificate cut to the CA's end is refreshed all the same
 * (the kubelet's next request may find a renewed CA), unlike a Secret.
 */
export function beginRefreshAt(notBefore: Date, notAfter: Date, renewBeforeMs?: number): Date {
  const at = renewalTime(notBefore, notAfter, renewBeforeMs).getTime();
  const lo = notBefore.getTime() + REFRESH_MARGIN_MS;
  const hi = notAfter.getTime() - REFRESH_MARGIN_MS;
  return new Date(Math.floor(Math.min(Math.max(at, lo), hi) / 1000) * 1000);
}
