/**
 * "Does this identity need a certificate, and why?" A chain of small pure checks, each of which
 * returns a reason or nothing; the first reason wins. Time comes from the caller.
 */
import type { Inspection, LeafFacts } from '../pki/types.ts';
import { sanKey } from '../pki/index.ts';
import { renewalTime } from './renewal.ts';

export type IssuanceReason =
  | 'SecretMissing'
  | 'KeyPairMissing'
  | 'InvalidKeyPair'
  | 'KeyMismatch'
  | 'IncorrectIssuer'
  | 'SpecChanged'
  | 'ManuallyTriggered'
  | 'Expired'
  | 'RenewalTimeReached';

export interface IssuanceNeed {
  reason: IssuanceReason;
  message: string;
}

/** Everything a decision looks at, already read and parsed. */
export interface IssuanceInput {
  now: Date;
  /** Whether the target Secret exists at all. */
  secretExists: boolean;
  /** Which of tls.crt and tls.key hold anything. */
  hasCert: boolean;
  hasKey: boolean;
  /** tls.crt / tls.key checked by the PKI engine. */
  inspection: Inspection;
  /** Hash of the issuance-relevant spec now, and the one the Secret was issued for. */
  specHash: string;
  issuedSpecHash?: string;
  /** SANs the spec asks for. */
  wanted: { dnsNames: string[]; ipAddresses: string[]; uris: string[] };
  renewBeforeMs?: number;
  /** The signing CA's notAfter: a leaf already cut to it is not renewed early (decide/renewal.ts). */
  caNotAfter?: Date;
  /** Whether the current signing CA signed the leaf (the caller looked it up: inspection.signedBy). */
  issuedByCurrentCA(leaf: LeafFacts): boolean;
  /** A renewal asked for by a person (annotation value), and the one last honoured. */
  renewRequest?: string;
  honouredRenewRequest?: string;
}

export type Check = (input: IssuanceInput) => IssuanceNeed | undefined;

export const secretMissing: Check = (i) =>
  i.secretExists ? undefined : { reason: 'SecretMissing', message: 'the Secret does not exist' };

export const keyPairMissing: Check = (i) => {
  const missing = [i.hasCert ? '' : 'tls.crt', i.hasKey ? '' : 'tls.key'].filter(Boolean);
  return missing.length > 0
    ? { reason: 'KeyPairMissing', message: `the Secret has no ${missing.join(' and no ')}` }
    : undefined;
};

export const invalidKeyPair: Check = (i) => {
  const p = i.inspection.problem;
  if (p === undefined || i.inspection.keyMatchesCert === false) return undefined;
  return { reason: 'InvalidKeyPair', message: p };
};

export const keyMismatch: Check = (i) =>
  i.inspection.keyMatchesCert === false
    ? { reason: 'KeyMismatch', message: 'tls.key does not match the certificate in tls.crt' }
    : undefined;

export const incorrectIssuer: Check = (i) =>
  i.inspection.leaf && !i.issuedByCurrentCA(i.inspection.leaf)
    ? { reason: 'IncorrectIssuer', message: 'the certificate was not signed by the current CA' }
    : undefined;

export const specChanged: Check = (i) => {
  if (i.issuedSpecHash !== i.specHash) {
    return { reason: 'SpecChanged', message: 'the identity spec changed since the certificate was issued' };
  }
  const leaf = i.inspection.leaf;
  if (!leaf) return undefined;
  if (leaf.sans !== sanKey(i.wanted)) {
    return { reason: 'SpecChanged', message: "the certificate's names differ from the spec" };
  }
  return undefined;
};

export const manuallyTriggered: Check = (i) =>
  i.renewRequest !== undefined && i.renewRequest !== '' && i.renewRequest !== i.honouredRenewRequest
    ? { reason: 'ManuallyTriggered', message: `renewal requested (${i.renewRequest})` }
    : undefined;

export const expired: Check = (i) => {
  const leaf = i.inspection.leaf;
  return leaf && i.now.getTime() >= leaf.notAfter
    ? { reason: 'Expired', message: `the certificate expired at ${new Date(leaf.notAfter).toISOString()}` }
    : undefined;
};

export const renewalDue: Check = (i) => {
  const leaf = i.inspection.leaf;
  if (!leaf) return undefined;
  const at = renewalTime(new Date(leaf.notBefore), new Date(leaf.notAfter), i.renewBeforeMs, i.caNotAfter);
  return i.now.getTime() >= at.getTime()
    ? { reason: 'RenewalTimeReached', message: `renewal time ${at.toISOString()} reached` }
    : undefined;
};

/** The checks in the order they are asked. */
export const checks: readonly Check[] = [
  secretMissing,
  keyPairMissing,
  invalidKeyPair,
  keyMismatch,
  incorrectIssuer,
  specChanged,
  manuallyTriggered,
  expired,
  renewalDue,
];

export function needsIssuance(input: IssuanceInput): IssuanceNeed | undefined {
  for (const check of checks) {
    const need = check(input);
    if (need) return need;
  }
  return undefined;
}
