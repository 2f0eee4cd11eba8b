/**
 * A minimal DER writer for the fixed shapes of leaf certificates (see leaf-der.ts). Every
 * encoding here is cross-checked byte for byte against @peculiar/x509 in test/pki/der.test.ts.
 */

function lengthOf(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** tag || length || content. */
export function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  const body = content.length === 1 ? (content[0] as Uint8Array) : Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), lengthOf(body.length), body]);
}

export const seq = (...content: Uint8Array[]): Buffer => tlv(0x30, ...content);
export const set = (...content: Uint8Array[]): Buffer => tlv(0x31, ...content);
export const octets = (content: Uint8Array): Buffer => tlv(0x04, content);
/** BIT STRING with no unused bits. */
export const bits = (content: Uint8Array): Buffer => tlv(0x03, Buffer.from([0]), content);
export const TRUE = Buffer.from([0x01, 0x01, 0xff]);
export const NULL = Buffer.from([0x05, 0x00]);

/** INTEGER from unsigned big-endian magnitude: minimal, with 0x00 when the high bit is set. */
export function uint(magnitude: Uint8Array): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  const pad = m.length === 0 || (m[0] ?? 0) & 0x80 ? Buffer.from([0]) : Buffer.alloc(0);
  return tlv(0x02, pad, m);
}

export function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const out: number[] = [a * 40 + b];
  for (const arc of rest) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5); whole seconds. */
export function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z';
  const year = d.getUTCFullYear();
  return year < 2050
    ? tlv(0x17, Buffer.from(digits.slice(2), 'latin1'))
    : tlv(0x18, Buffer.from(digits, 'latin1'));
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** A Name with one RDN holding the commonName (PrintableString when possible, else UTF8String). */
export function commonNameDer(cn: string): Buffer {
  const value = PRINTABLE.test(cn) ? tlv(0x13, Buffer.from(cn, 'latin1')) : tlv(0x0c, Buffer.from(cn, 'utf8'));
  return seq(set(seq(oid('2.5.4.3'), value)));
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }. */
export function extension(id: string, critical: boolean, value: Uint8Array): Buffer {
  return critical ? seq(oid(id), TRUE, octets(value)) : seq(oid(id), octets(value));
}

/**
 * KeyUsage BIT STRING from @peculiar/x509 KeyUsageFlags (bit 0 = digitalSignature = 1), in
 * DER: trailing zero bits dropped and counted as unused.
 */
export function keyUsageBits(flags: number): Buffer {
  let bytes = 0;
  let value = 0; // bit i of flags -> bit (15 - i) of a big-endian 16-bit value
  for (let i = 0; i < 9; i++) if (flags & (1 << i)) value |= 1 << (15 - i);
  if (value === 0) return tlv(0x03, Buffer.from([0]));
  const buf = Buffer.from([value >> 8, value & 0xff]);
  bytes = buf[1] ? 2 : 1;
  const last = buf[bytes - 1] ?? 0;
  let unused = 0;
  while (!(last & (1 << unused))) unused++;
  return tlv(0x03, Buffer.from([unused]), buf.subarray(0, bytes));
}

/** WebCrypto ECDSA signature (r || s, fixed width) to DER Ecdsa-Sig-Value. */
export function ecdsaSignatureDer(p1363: Uint8Array): Buffer {
  const half = p1363.length / 2;
  return seq(uint(p1363.subarray(0, half)), uint(p1363.subarray(half)));
}
