/** A minimal DER reader: just enough to reach fields the parsers do not expose. */
import { createHash } from 'node:crypto';

export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
}

export function readTlv(buf: Uint8Array, offset: number): Tlv {
  const tag = buf[offset];
  let len = buf[offset + 1];
  if (tag === undefined || len === undefined) throw new Error('DER: truncated');
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error('DER: unsupported length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[pos++] ?? 0);
  }
  const end = pos + len;
  if (end > buf.length) throw new Error('DER: truncated');
  return { tag, start: offset, contentStart: pos, end };
}

/** The TLVs inside a constructed TLV. */
export function childrenOf(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = parent.contentStart; pos < parent.end; ) {
    const t = readTlv(buf, pos);
    out.push(t);
    pos = t.end;
  }
  return out;
}

export function bytesOf(buf: Uint8Array, tlv: Tlv): Buffer {
  return Buffer.from(buf.subarray(tlv.start, tlv.end));
}

/** TBSCertificate fields of a DER certificate, by name (raw TLVs, tag included). */
export function tbsFields(certDer: Uint8Array): { issuer: Buffer; subject: Buffer; spki: Buffer } {
  const cert = readTlv(certDer, 0);
  const tbs = childrenOf(certDer, readTlv(certDer, cert.contentStart));
  const f = tbs[0]?.tag === 0xa0 ? tbs.slice(1) : tbs; // skip [0] version
  const [, , issuer, , subject, spki] = f;
  if (!issuer || !subject || !spki) throw new Error('DER: not a certificate');
  return { issuer: bytesOf(certDer, issuer), subject: bytesOf(certDer, subject), spki: bytesOf(certDer, spki) };
}

/**
 * Key identifier per RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING
 * (without tag, length and unused-bits byte) of a DER SubjectPublicKeyInfo. Lowercase hex.
 */
export function keyIdOfSpki(spkiDer: Uint8Array): string {
  const [, bits] = childrenOf(spkiDer, readTlv(spkiDer, 0));
  if (!bits || bits.tag !== 0x03) throw new Error('DER: not a SubjectPublicKeyInfo');
  return createHash('sha1').update(spkiDer.subarray(bits.contentStart + 1, bits.end)).digest('hex');
}

const OID_SKI = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x0e]);
const OID_AKI = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x23]);

/** The extnValue contents of a certificate's extension (its OID TLV given), or undefined. */
function extensionValue(certDer: Uint8Array, oidTlv: Uint8Array): Buffer | undefined {
  const cert = readTlv(certDer, 0);
  const tbs = childrenOf(certDer, readTlv(certDer, cert.contentStart));
  const exts = tbs.find((t) => t.tag === 0xa3);
  if (!exts) return undefined;
  const [list] = childrenOf(certDer, exts);
  if (!list) return undefined;
  for (const ext of childrenOf(certDer, list)) {
    const parts = childrenOf(certDer, ext);
    const id = parts[0];
    const value = parts.at(-1);
    if (id && value?.tag === 0x04 && Buffer.compare(bytesOf(certDer, id), oidTlv) === 0) return Buffer.from(certDer.subarray(value.contentStart, value.end));
  }
  return undefined;
}

/**
 * The keyIdentifiers that chain building compares (RFC 5280 4.2.1.1 and 4.2.1.2), lowercase hex:
 * a certificate's subjectKeyIdentifier and its authorityKeyIdentifier's keyIdentifier. undefined
 * when absent or unreadable. OpenSSL's X509_check_issued refuses an issuer whose SKI differs from
 * the leaf's AKI when both are present.
 */
export function keyIdentifiers(certDer: Uint8Array): { subject?: string; authority?: string } {
  const out: { subject?: string; authority?: string } = {};
  try {
    const ski = extensionValue(certDer, OID_SKI);
    if (ski) {
      const t = readTlv(ski, 0);
      if (t.tag === 0x04) out.subject = Buffer.from(ski.subarray(t.contentStart, t.end)).toString('hex');
    }
    const aki = extensionValue(certDer, OID_AKI);
    if (aki) {
      const id = childrenOf(aki, readTlv(aki, 0)).find((c) => c.tag === 0x80);
      if (id) out.authority = Buffer.from(aki.subarray(id.contentStart, id.end)).toString('hex');
    }
  } catch {
    // unreadable: no identifiers
  }
  return out;
}
