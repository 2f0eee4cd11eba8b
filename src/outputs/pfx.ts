/**
 * PKCS#12 (RFC 7292) encoding: the PFX structure, password-based encryption and the MAC.
 *
 * node-forge supplies the ASN.1 encoder and the PKCS#12 key derivation (RFC 7292 B.2). Its own
 * `pkcs12.toPkcs12Asn1` is not used: it leaves certificates unencrypted, always MACs with SHA-1,
 * only takes forge (RSA) key objects and cannot add the attributes Java needs on trusted
 * certificates. Here every piece is built from forge.asn1, so any PKCS#8 key fits, and the
 * symmetric work (PBKDF2, AES, 3DES, HMAC) runs on node:crypto (forge's PBKDF2 is pure JS).
 */
import { createCipheriv, createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

type Asn1 = forge.asn1.Asn1;
const { asn1 } = forge;
const UNIVERSAL = forge.asn1.Class.UNIVERSAL;
const CONTEXT = forge.asn1.Class.CONTEXT_SPECIFIC;
const T = forge.asn1.Type;

export const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
  /** Oracle's "trusted key usage": makes Java read a certificate bag as a trustedCertEntry. */
  javaTrustedKeyUsage: '2.16.840.1.113894.746875.1.1',
  anyExtendedKeyUsage: '2.5.29.37.0',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSHA256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  pbeWithSHAAnd3KeyTripleDESCBC: '1.2.840.113549.1.12.1.3',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
} as const;

// ---------------------------------------------------------------------------------------------
// ASN.1 helpers (forge works on "binary" strings: one char per byte)

export const seq = (...items: Asn1[]): Asn1 => asn1.create(UNIVERSAL, T.SEQUENCE, true, items);
export const set = (...items: Asn1[]): Asn1 => asn1.create(UNIVERSAL, T.SET, true, items);
export const oid = (value: string): Asn1 => asn1.create(UNIVERSAL, T.OID, false, asn1.oidToDer(value).getBytes());
export const octets = (b: Buffer): Asn1 => asn1.create(UNIVERSAL, T.OCTETSTRING, false, b.toString('binary'));
export const int = (n: number): Asn1 => asn1.create(UNIVERSAL, T.INTEGER, false, asn1.integerToDer(n).getBytes());
export const bmp = (s: string): Asn1 => asn1.create(UNIVERSAL, T.BMPSTRING, false, s);
const nul = (): Asn1 => asn1.create(UNIVERSAL, T.NULL, false, '');
/** [0] EXPLICIT */
export const explicit0 = (inner: Asn1): Asn1 => asn1.create(CONTEXT, 0, true, [inner]);
export const toDer = (a: Asn1): Buffer => Buffer.from(asn1.toDer(a).getBytes(), 'binary');
export const fromDer = (b: Buffer): Asn1 => asn1.fromDer(b.toString('binary'));

export function attribute(type: string, ...values: Asn1[]): Asn1 {
  return seq(oid(type), set(...values));
}

// ---------------------------------------------------------------------------------------------
// Key derivation and encryption

export type MacHash = 'sha1' | 'sha256';

/** RFC 7292 B.2 (forge): id 1 key, 2 IV, 3 MAC key. The password as a BMPString, NUL-terminated. */
function pkcs12Kdf(password: string, salt: Buffer, id: number, iterations: number, n: number, hash: MacHash): Buffer {
  const md = hash === 'sha256' ? forge.md.sha256.create() : forge.md.sha1.create();
  const out = forge.pkcs12.generateKey(password, forge.util.createBuffer(salt.toString('binary')), id, iterations, n, md);
  return Buffer.from(out.getBytes(), 'binary');
}

/** An encryption algorithm identifier and the ciphertext it produced. */
export interface Encrypted {
  algorithm: Asn1;
  ciphertext: Buffer;
}

export type Encryptor = (plain: Buffer, password: string) => Encrypted;

/** PBES2: PBKDF2 with HMAC-SHA-256 (password as UTF-8), AES-256-CBC. */
export function pbes2Aes256(iterations: number): Encryptor {
  return (plain, password) => {
    const salt = randomBytes(16);
    const iv = randomBytes(16);
    const key = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
    const cipher = createCipheriv('aes-256-cbc', key, iv);
    const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
    const algorithm = seq(
      oid(OID.pbes2),
      seq(
        seq(oid(OID.pbkdf2), seq(octets(salt), int(iterations), int(32), seq(oid(OID.hmacWithSHA256), nul()))),
        seq(oid(OID.aes256Cbc), octets(iv)),
      ),
    );
    return { algorithm, ciphertext };
  };
}

/** pbeWithSHAAnd3-KeyTripleDES-CBC (PKCS#12 PBE): what every JVM and OpenSSL reads. */
export function pbeSha1TripleDes(iterations: number): Encryptor {
  return (plain, password) => {
    const salt = randomBytes(8);
    const key = pkcs12Kdf(password, salt, 1, iterations, 24, 'sha1');
    const iv = pkcs12Kdf(password, salt, 2, iterations, 8, 'sha1');
    const cipher = createCipheriv('des-ede3-cbc', key, iv);
    const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
    return { algorithm: seq(oid(OID.pbeWithSHAAnd3KeyTripleDESCBC), seq(octets(salt), int(iterations))), ciphertext };
  };
}

// ---------------------------------------------------------------------------------------------
// Bags and the PFX

/** A certBag holding an X.509 certificate (DER), with optional attributes. */
export function certBag(certDer: Buffer, attributes: Asn1[]): Asn1 {
  const value = explicit0(seq(oid(OID.x509Certificate), explicit0(octets(certDer))));
  return attributes.length ? seq(oid(OID.certBag), value, set(...attributes)) : seq(oid(OID.certBag), value);
}

/** A pkcs8ShroudedKeyBag: the PKCS#8 PrivateKeyInfo (any algorithm) encrypted with `encrypt`. */
export function shroudedKeyBag(pkcs8Der: Buffer, password: string, encrypt: Encryptor, attributes: Asn1[]): Asn1 {
  const { algorithm, ciphertext } = encrypt(pkcs8Der, password);
  return seq(oid(OID.shroudedKeyBag), explicit0(seq(algorithm, octets(ciphertext))), set(...attributes));
}

/** ContentInfo of type data holding SafeContents in the clear (the key bag is encrypted itself). */
export function plainContent(bags: Asn1[]): Asn1 {
  return seq(oid(OID.data), explicit0(octets(toDer(seq(...bags)))));
}

/** ContentInfo of type encryptedData: the SafeContents encrypted as a whole (certificates). */
export function encryptedContent(bags: Asn1[], password: string, encrypt: Encryptor): Asn1 {
  const { algorithm, ciphertext } = encrypt(toDer(seq(...bags)), password);
  const encryptedContentInfo = seq(
    oid(OID.data),
    algorithm,
    asn1.create(CONTEXT, 0, false, ciphertext.toString('binary')), // [0] IMPLICIT OCTET STRING
  );
  return seq(oid(OID.encryptedData), explicit0(seq(int(0), encryptedContentInfo)));
}

export interface MacOptions {
  hash: MacHash;
  iterations: number;
}

/** The PFX: version 3, the AuthenticatedSafe, and an HMAC over it keyed by the PKCS#12 KDF. */
export function pfx(contents: Asn1[], password: string, mac: MacOptions): Buffer {
  const authSafe = toDer(seq(...contents));
  const salt = randomBytes(mac.hash === 'sha256' ? 16 : 8);
  const size = mac.hash === 'sha256' ? 32 : 20;
  const key = pkcs12Kdf(password, salt, 3, mac.iterations, size, mac.hash);
  const digest = createHmac(mac.hash, key).update(authSafe).digest();
  const macData = seq(
    seq(seq(oid(mac.hash === 'sha256' ? OID.sha256 : OID.sha1), nul()), octets(digest)),
    octets(salt),
    int(mac.iterations),
  );
  return toDer(seq(int(3), seq(oid(OID.data), explicit0(octets(authSafe))), macData));
}

/** SHA-1 of a certificate's DER: the localKeyId that pairs a key with its certificate (as OpenSSL does). */
export function localKeyIdOf(certDer: Buffer): Buffer {
  return createHash('sha1').update(certDer).digest();
}
