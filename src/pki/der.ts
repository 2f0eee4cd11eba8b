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
