/** The leaf request for an identity's resolved names and key parameters. */
import type { KeyEncoding, KeyUsage } from '../api/types.ts';
import type { KeyParams, LeafRequest } from './types.ts';

/** What a leaf request needs of a resolved identity spec (src/api/spec.ts ResolvedSpec). */
export interface LeafSpec {
  commonName?: string;
  dnsNames: string[];
  ipAddresses: string[];
  /** The SPIFFE ID: the leaf's only URI SAN. */
  spiffeId: string;
  durationMs: number;
  usages: KeyUsage[];
  key: KeyParams;
  encoding: KeyEncoding;
}

export function leafRequestFor(spec: LeafSpec, now: Date, reuseKeyPem?: string): LeafRequest {
  return {
    ...(spec.commonName ? { commonName: spec.commonName } : {}),
    dnsNames: spec.dnsNames,
    ipAddresses: spec.ipAddresses,
    uris: [spec.spiffeId],
    durationMs: spec.durationMs,
    usages: spec.usages,
    key: spec.key,
    encoding: spec.encoding,
    now,
    ...(reuseKeyPem ? { reuseKeyPem } : {}),
  };
}
