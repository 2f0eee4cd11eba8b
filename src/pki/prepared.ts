/**
 * Per-CA values every issuance needs (issuer name, key identifier, AKI, signature algorithm),
 * computed once per SigningCA object and cached: issuing never re-parses the CA certificate.
 */
import { extension, NULL, oid, seq, tlv } from './asn1.ts';
import { keyIdOfSpki, tbsFields } from './der.ts';
import type { SigningCA } from './types.ts';
import { x509 } from './x509.ts';

export interface Prepared {
  /** The CA's subject exactly as encoded in its certificate: the issuer of what it signs. */
  issuerDer: Buffer;
  issuer: InstanceType<typeof x509.Name>;
  /** The CA's subject key identifier (its SKI extension, else RFC 5280 method 1), hex. */
  keyId: string;
  /** authorityKeyIdentifier extension (keyIdentifier only), DER. */
  akiDer: Buffer;
  /** AlgorithmIdentifier of the signatures the CA key makes, DER. */
  signatureAlgorithmDer: Buffer;
}

/**
 * Keyed by the CA's certificate object, not the SigningCA: a rotation hands out copies of one CA with another
 * trust bundle ({ ...ca, bundlePem }), and each copy must not parse the certificate again (it did, 1.7 ms per
 * re-issue during a CA change: issue 11).
 */
const cache = new WeakMap<object, Prepared>();

function hashOf(alg: unknown): string {
  const h = (alg as { hash?: string | { name: string } }).hash;
  return (typeof h === 'string' ? h : h?.name ?? 'SHA-256').toUpperCase();
}

const ECDSA_OIDS: Record<string, string> = {
  'SHA-256': '1.2.840.10045.4.3.2',
  'SHA-384': '1.2.840.10045.4.3.3',
  'SHA-512': '1.2.840.10045.4.3.4',
};
const RSA_OIDS: Record<string, string> = {
  'SHA-256': '1.2.840.113549.1.1.11',
  'SHA-384': '1.2.840.113549.1.1.12',
  'SHA-512': '1.2.840.113549.1.1.13',
};

/** ecdsa-with-SHA256/384/512 (no parameters), sha256/384/512WithRSAEncryption (NULL), Ed25519. */
function signatureAlgorithmDer(ca: SigningCA): Buffer {
  const name = ca.privateKey.algorithm.name;
  if (name === 'ECDSA') {
    const id = ECDSA_OIDS[hashOf(ca.signingAlgorithm)];
    if (id) return seq(oid(id));
  } else if (name === 'RSASSA-PKCS1-v1_5') {
    const id = RSA_OIDS[hashOf(ca.privateKey.algorithm)];
    if (id) return seq(oid(id), NULL);
  } else if (name === 'Ed25519') {
    return seq(oid('1.3.101.112'));
  }
  throw new Error(`unsupported CA signing key ${name} ${hashOf(ca.signingAlgorithm)}`);
}

export function prepare(ca: SigningCA): Prepared {
  let p = cache.get(ca.certificate);
  if (!p) {
    const der = ca.certificate.raw;
    const fields = tbsFields(der);
    const ski = new x509.X509Certificate(der).getExtension(x509.SubjectKeyIdentifierExtension);
    const keyId = ski?.keyId ?? keyIdOfSpki(fields.spki);
    p = {
      issuerDer: fields.subject,
      issuer: new x509.Name(fields.subject),
      keyId,
      akiDer: extension('2.5.29.35', false, seq(tlv(0x80, Buffer.from(keyId, 'hex')))),
      signatureAlgorithmDer: signatureAlgorithmDer(ca),
    };
    cache.set(ca.certificate, p);
  }
  return p;
}
