/** Certificate assembly and signing with @peculiar/x509, shared by CA generation and leaves. */
import { randomBytes } from 'node:crypto';
import type { CryptoKey, SigningAlgorithm } from './types.ts';
import { x509 } from './x509.ts';

export interface CertificateSpec {
  /** Lowercase hex of a positive INTEGER (first byte < 0x80). */
  serialNumber: string;
  issuer: InstanceType<typeof x509.Name>;
  /** Absent: an empty subject (SPIFFE X.509-SVID style). */
  subject?: InstanceType<typeof x509.Name>;
  /** DER SubjectPublicKeyInfo of the certified key. */
  spki: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  extensions: InstanceType<typeof x509.Extension>[];
  signingKey: CryptoKey;
  signingAlgorithm: SigningAlgorithm;
}

/** Signs the certificate; returns its DER. */
export async function signCertificate(spec: CertificateSpec): Promise<Buffer> {
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: spec.serialNumber,
    issuer: spec.issuer,
    ...(spec.subject ? { subject: spec.subject } : {}),
    publicKey: spec.spki,
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    extensions: spec.extensions,
    signingKey: spec.signingKey,
    signingAlgorithm: spec.signingAlgorithm,
  });
  return Buffer.from(cert.rawData);
}

/** A random positive 128-bit serial: 16 bytes, first byte nonzero with its high bit clear. */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f || 0x01;
  return bytes.toString('hex');
}

/** A Name holding one CN, encoded as PrintableString when possible, else UTF8String. */
export function commonNameOf(cn: string): InstanceType<typeof x509.Name> {
  const value = x509.Name.isPrintableString(cn) ? { printableString: cn } : { utf8String: cn };
  return new x509.Name([{ '2.5.4.3': [value] }]);
}

/** X.509 times carry whole seconds: drop the milliseconds. */
export function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}
