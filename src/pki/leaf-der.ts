/**
 * DER encoding and signing of leaf certificates. Hand-written because @peculiar/x509's
 * generator costs over 1 ms of main-thread ASN.1 work per certificate; its output is the
 * reference this encoder is tested against byte for byte (test/pki/der.test.ts).
 */
import { webcrypto } from 'node:crypto';
import {
  bits,
  commonNameDer,
  ecdsaSignatureDer,
  extension,
  keyUsageBits,
  octets,
  oid,
  seq,
  time,
  tlv,
  uint,
} from './asn1.ts';
import type { Prepared } from './prepared.ts';
import type { SigningCA } from './types.ts';

export type SanType = 'dns' | 'ip' | 'url';

/** Everything that goes into a leaf certificate, decided (see leaf.ts). */
export interface LeafPlan {
  /** Lowercase hex of a positive INTEGER. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** Absent: empty subject and critical SAN extension. */
  commonName?: string;
  /** DER SubjectPublicKeyInfo. */
  spki: Uint8Array;
  /** Hex. */
  subjectKeyId: string;
  /** @peculiar/x509 KeyUsageFlags bits; 0: no keyUsage extension. */
  keyUsage: number;
  /** extKeyUsage OIDs; empty: no extension. */
  extKeyUsage: string[];
  /** In order. `ip` values are canonical IP text. */
  sans: Array<{ type: SanType; value: string }>;
}

const BASIC_CONSTRAINTS_LEAF = extension('2.5.29.19', true, seq()); // CA:FALSE (DEFAULT, omitted)
const EMPTY_NAME = seq();
const SAN_TAGS: Record<SanType, number> = { dns: 0x82, url: 0x86, ip: 0x87 };

function ipBytes(ip: string): Buffer {
  if (!ip.includes(':')) return Buffer.from(ip.split('.').map(Number));
  const [head = '', tail = ''] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = ip.includes('::') && tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function extensionsDer(plan: LeafPlan, prepared: Prepared): Buffer {
  const exts = [BASIC_CONSTRAINTS_LEAF];
  if (plan.keyUsage) exts.push(extension('2.5.29.15', true, keyUsageBits(plan.keyUsage)));
  if (plan.extKeyUsage.length) exts.push(extension('2.5.29.37', false, seq(...plan.extKeyUsage.map(oid))));
  exts.push(extension('2.5.29.14', false, octets(Buffer.from(plan.subjectKeyId, 'hex'))));
  exts.push(prepared.akiDer);
  if (plan.sans.length) {
    const names = plan.sans.map((s) =>
      tlv(SAN_TAGS[s.type], s.type === 'ip' ? ipBytes(s.value) : Buffer.from(s.value, 'latin1')),
    );
    exts.push(extension('2.5.29.17', !plan.commonName, seq(...names)));
  }
  return tlv(0xa3, seq(...exts));
}

/** The TBSCertificate of a leaf, DER. */
export function leafTbsDer(plan: LeafPlan, prepared: Prepared): Buffer {
  return seq(
    tlv(0xa0, Buffer.from([0x02, 0x01, 0x02])), // version v3
    uint(Buffer.from(plan.serialNumber, 'hex')),
    prepared.signatureAlgorithmDer,
    prepared.issuerDer,
    seq(time(plan.notBefore), time(plan.notAfter)),
    plan.commonName ? commonNameDer(plan.commonName) : EMPTY_NAME,
    plan.spki,
    extensionsDer(plan, prepared),
  );
}

/** Signs a TBSCertificate with the CA key (WebCrypto, off the event loop): the certificate DER. */
export async function signTbs(ca: SigningCA, prepared: Prepared, tbs: Buffer): Promise<Buffer> {
  const raw = new Uint8Array(await webcrypto.subtle.sign(ca.signingAlgorithm, ca.privateKey, tbs));
  const value = ca.privateKey.algorithm.name === 'ECDSA' ? ecdsaSignatureDer(raw) : raw;
  return seq(tbs, prepared.signatureAlgorithmDer, bits(value));
}
