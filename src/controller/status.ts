/**
 * An identity's status, built from what is true now: pure functions of the identity, the
 * certificate and the clock. Conditions keep their lastTransitionTime unless their status moves.
 */
import type { MutualTLSIdentity, MutualTLSIdentityStatus } from '../api/types.ts';
import type { ResolvedSpec } from '../api/spec.ts';
import type { IssuanceNeed } from '../decide/issuance.ts';
import { isCutToCA, renewalTime } from '../decide/renewal.ts';
import { getCondition, jsonEqual, setCondition, type ConditionInput } from './conditions.ts';

export interface CertificateFacts {
  notBefore: Date;
  notAfter: Date;
  serial: string;
  revision: number;
  /** The Issuing condition to set alongside Ready=True. */
  issuing: ConditionInput;
  workloadsRestartedFor: string | undefined;
  workloadsTrustBundle: string | undefined;
  /** The signing CA's notAfter: a certificate cut to it says so, and what to do. */
  caNotAfter?: Date;
  /** Further conditions to set (ServiceAccountFound). */
  conditions?: ConditionInput[];
}

/** The Secret holds a valid certificate for the current spec. */
export function readyStatus(identity: MutualTLSIdentity, spec: ResolvedSpec, cert: CertificateFacts, now: Date): MutualTLSIdentityStatus {
  const generation = identity.metadata.generation ?? 0;
  const renewal = renewalTime(cert.notBefore, cert.notAfter, spec.renewBeforeMs, cert.caNotAfter);
  const message = isCutToCA(cert.notAfter, cert.caNotAfter)
    ? `certificate is valid until ${cert.notAfter.toISOString()}, shorter than its duration: the CA expires then and no longer certificate can be issued from it; it is not renewed before then. Rotate the root (kubectl mtls rotate-root) or replace the CA Secret with a CA that lives longer`
    : `certificate is valid until ${cert.notAfter.toISOString()} and renews at ${renewal.toISOString()}`;
  let conditions = setCondition(identity.status?.conditions, {
    type: 'Ready', status: 'True', reason: 'Ready', message,
  }, generation, now);
  conditions = setCondition(conditions, cert.issuing, generation, now);
  for (const c of cert.conditions ?? []) conditions = setCondition(conditions, c, generation, now);
  return {
    ...identity.status,
    conditions,
    observedGeneration: generation,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    renewalTime: renewal.toISOString(),
    serialNumber: cert.serial,
    spiffeID: spec.spiffeId,
    secretName: spec.secretName,
    revision: cert.revision,
    failedIssuanceAttempts: 0,
    lastFailureTime: undefined,
    workloadsRestartedFor: cert.workloadsRestartedFor,
    workloadsTrustBundle: cert.workloadsTrustBundle,
  };
}

/** The Issuing condition when nothing was issued: the last one if it ended, else UpToDate. */
export function settledIssuing(identity: MutualTLSIdentity): ConditionInput {
  const prev = getCondition(identity.status, 'Issuing');
  return prev && prev.status === 'False'
    ? { type: 'Issuing', status: 'False', reason: prev.reason, message: prev.message }
    : { type: 'Issuing', status: 'False', reason: 'UpToDate', message: 'the Secret holds a valid certificate' };
}

/** Ready=False for a reason that no retry fixes (the spec, the policy, the CA, a conflict). */
export function notReadyStatus(identity: MutualTLSIdentity, reason: string, message: string, now: Date, also: ConditionInput[] = []): MutualTLSIdentityStatus {
  const generation = identity.metadata.generation ?? 0;
  let conditions = setCondition(identity.status?.conditions, { type: 'Ready', status: 'False', reason, message }, generation, now);
  for (const c of also) conditions = setCondition(conditions, c, generation, now);
  return {
    ...identity.status,
    observedGeneration: generation,
    conditions,
  };
}

/**
 * An issuance attempt failed: Issuing=True with the reason; Ready=False unless a still valid
 * certificate is merely due for renewal.
 */
export function failedStatus(identity: MutualTLSIdentity, need: IssuanceNeed, message: string, now: Date): MutualTLSIdentityStatus {
  const generation = identity.metadata.generation ?? 0;
  let conditions = setCondition(identity.status?.conditions, { type: 'Issuing', status: 'True', reason: need.reason, message }, generation, now);
  if (!getCondition(identity.status, 'Ready') || need.reason !== 'RenewalTimeReached') {
    conditions = setCondition(conditions, { type: 'Ready', status: 'False', reason: 'IssuanceFailed', message }, generation, now);
  }
  return {
    ...identity.status,
    observedGeneration: generation,
    conditions,
    failedIssuanceAttempts: (identity.status?.failedIssuanceAttempts ?? 0) + 1,
    lastFailureTime: now.toISOString(),
  };
}

/**
 * The merge patch that turns the identity's status into `status`, or undefined when they are
 * equal (then nothing is written). A merge patch removes a field only when it is sent as null.
 */
export function statusPatch(identity: MutualTLSIdentity, status: MutualTLSIdentityStatus): Record<string, unknown> | undefined {
  const clean = JSON.parse(JSON.stringify(status)) as Record<string, unknown>;
  if (jsonEqual(clean, identity.status ?? {})) return undefined;
  const patch: Record<string, unknown> = { ...clean };
  for (const k of Object.keys(identity.status ?? {})) if (!(k in clean)) patch[k] = null;
  return patch;
}
