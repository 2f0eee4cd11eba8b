/** PEM text <-> DER, and certificate lists from PEM bundles. */
import { X509Certificate, createHash } from 'node:crypto';

export interface PemBlock {
  label: string;
  der: Buffer;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

/** Every PEM block in `text`, in order. Blocks with headers (e.g. Proc-Type) keep label, no DER. */
export function pemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const label = m[1] ?? '';
    const body = (m[2] ?? '').replace(/\s+/g, '');
    const der = /^[A-Za-z0-9+/]*={0,2}$/.test(body) ? Buffer.from(body, 'base64') : Buffer.alloc(0);
    out.push({ label, der });
  }
  return out;
}

export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** A certificate as PEM (one block, trailing newline). */
export function certPem(cert: X509Certificate): string {
  return toPem(cert.raw, 'CERTIFICATE');
}

export type CertParse = { ok: true; certs: X509Certificate[] } | { ok: false; reason: string };

/**
 * Parses every CERTIFICATE block of `text`. `what` names the source in messages ("tls.crt").
 * Fails when there is no certificate block or one of them is not a valid X.509 certificate.
 */
export function parseCertificates(text: string | undefined, what: string): CertParse {
  if (!text || !text.trim()) return { ok: false, reason: `${what} is empty` };
  const blocks = pemBlocks(text).filter((b) => b.label === 'CERTIFICATE');
  if (blocks.length === 0) return { ok: false, reason: `${what} contains no PEM certificate` };
  const certs: X509Certificate[] = [];
  for (const [i, b] of blocks.entries()) {
    try {
      certs.push(new X509Certificate(b.der));
    } catch {
      const n = blocks.length > 1 ? ` ${i + 1}` : '';
      return { ok: false, reason: `${what}: certificate${n} is not a valid X.509 certificate` };
    }
  }
  return { ok: true, certs };
}

/** SHA-256 of the DER certificate, lowercase hex without colons. */
export function fingerprintOf(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('hex');
}

/** Subject as one line ("CN=x, O=y"), or "(empty subject)". For messages. */
export function describeCert(cert: X509Certificate): string {
  const s = cert.subject?.split('\n').join(', ');
  return s ? `"${s}"` : '(empty subject)';
}
