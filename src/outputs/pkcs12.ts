/**
 * Extra output formats of an issued Secret, built from its PEM material: PKCS#12 keystores for
 * Java (and anything else that wants a .p12) and a combined PEM. Pure: no Kubernetes, no clock.
 *
 *   keystore.p12    the private key and its certificate chain (leaf first, then intermediates)
 *                   as one PrivateKeyEntry under `alias` (default 'mtls').
 *   truststore.p12  every certificate of the trust bundle as a trustedCertEntry ('ca', 'ca-1', ...).
 *
 * Profiles (both readable by keytool 17 and OpenSSL 3 without -legacy):
 *   modern  key and certificates: PBES2, PBKDF2-HMAC-SHA-256, AES-256-CBC; MAC HMAC-SHA-256.
 *           The defaults of OpenSSL 3 `pkcs12 -export` and cert-manager's Modern2023; Java 8u301+, 11.0.12+, 17+.
 *   legacy  key and certificates: pbeWithSHAAnd3-KeyTripleDES-CBC; MAC HMAC-SHA-1. For old JVMs
 *           (Java 8 before 8u301) and other readers without PBES2.
 * 2048 iterations each (OpenSSL 3's and Modern2023's count). The password gives no secrecy beyond
 * the Secret's own: tls.key sits unencrypted next to the keystores.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { parseCertificates, pemBlocks } from '../pki/pem.ts';
import {
  attribute, bmp, certBag, encryptedContent, localKeyIdOf, octets, oid, OID, pbeSha1TripleDes, pbes2Aes256, pfx,
  plainContent, shroudedKeyBag, type Encryptor, type MacOptions,
} from './pfx.ts';

export type Pkcs12Profile = 'modern' | 'legacy';
export const PKCS12_PROFILES: readonly Pkcs12Profile[] = ['modern', 'legacy'];
export const DEFAULT_KEYSTORE_ALIAS = 'mtls';
export const PKCS12_ITERATIONS = 2048;

export interface KeystoreInput {
  /** The private key, PEM (PKCS#8, PKCS#1 RSA or SEC1 EC): RSA, ECDSA or Ed25519. */
  keyPem: string;
  /** The leaf then its intermediates, PEM (the Secret's tls.crt). */
  certChainPem: string;
  /** The trust bundle, PEM (the Secret's ca.crt). */
  caPem: string;
  password: string;
  profile: Pkcs12Profile;
  /** friendlyName of the key entry; default 'mtls'. */
  alias?: string;
}

export interface Keystores {
  keystore: Buffer;
  truststore: Buffer;
}

/** Thrown when the material cannot become a keystore; the message names the problem. */
export class KeystoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeystoreError';
  }
}

const SUPPORTED_KEYS = ['rsa', 'ec', 'ed25519'];

interface ProfileParams {
  encrypt: Encryptor;
  mac: MacOptions;
}

function profileParams(profile: Pkcs12Profile): ProfileParams {
  if (profile === 'modern') return { encrypt: pbes2Aes256(PKCS12_ITERATIONS), mac: { hash: 'sha256', iterations: PKCS12_ITERATIONS } };
  if (profile === 'legacy') return { encrypt: pbeSha1TripleDes(PKCS12_ITERATIONS), mac: { hash: 'sha1', iterations: PKCS12_ITERATIONS } };
  throw new KeystoreError(`unknown PKCS#12 profile ${JSON.stringify(profile)}: use ${PKCS12_PROFILES.join(' or ')}`);
}

function parseKey(keyPem: string): KeyObject {
  if (!pemBlocks(keyPem).length) throw new KeystoreError('the private key is not PEM');
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: keyPem, format: 'pem' });
  } catch {
    throw new KeystoreError('the private key does not decode (expected unencrypted PKCS#8, PKCS#1 or SEC1 PEM)');
  }
  if (!SUPPORTED_KEYS.includes(key.asymmetricKeyType ?? '')) {
    throw new KeystoreError(`a ${key.asymmetricKeyType ?? 'unknown'} key cannot go into a keystore: RSA, ECDSA and Ed25519 are supported`);
  }
  return key;
}

function certificates(pem: string, what: string): X509Certificate[] {
  const parsed = parseCertificates(pem, what);
  if (!parsed.ok) throw new KeystoreError(parsed.reason);
  return parsed.certs;
}

/** A friendlyName: printable, no control characters, at most 64 characters. */
function checkAlias(alias: string): string {
  if (alias === '' || alias.length > 64 || /[\u0000-\u001f\u007f]/.test(alias)) {
    throw new KeystoreError(`alias ${JSON.stringify(alias)} must be 1 to 64 characters without control characters`);
  }
  return alias;
}

/**
 * Java opens PKCS#12 files only with printable ASCII passwords (its PBE keys refuse anything else:
 * "Password is not ASCII"), so others are refused here rather than producing a keystore Java
 * cannot read. A trailing newline (`echo pw | kubectl create secret ...`) is the usual culprit.
 */
/**
 * Longest keystore password (issue 19): the KDF's cost grows with its length (a 1,000,000-character
 * password took 1 s in the Modern profile, 4.7 s in the Legacy one); Java tools need nothing longer.
 */
export const KEYSTORE_PASSWORD_MAX_LENGTH = 128;

export function checkPassword(password: string): void {
  if (typeof password !== 'string' || password === '') throw new KeystoreError('the keystore password is empty');
  if (password.length > KEYSTORE_PASSWORD_MAX_LENGTH) {
    throw new KeystoreError(`the keystore password is longer than ${KEYSTORE_PASSWORD_MAX_LENGTH} characters`);
  }
  for (let i = 0; i < password.length; i++) {
    const c = password.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) continue;
    const what = c === 0x0a ? 'it contains a newline' : `character ${i + 1} is not`;
    throw new KeystoreError(`the keystore password must be printable ASCII (Java cannot open a PKCS#12 file with another password): ${what}`);
  }
}

/** Aliases of the truststore entries: 'ca', then 'ca-1', 'ca-2', ... in bundle order. */
export function truststoreAliases(count: number): string[] {
  return Array.from({ length: count }, (_, i) => (i === 0 ? 'ca' : `ca-${i}`));
}

/**
 * keystore.p12 (key + chain under `alias`) and truststore.p12 (the bundle as trusted entries),
 * both under `password` with the profile's algorithms. Throws KeystoreError on unusable input:
 * no password, a key that does not match the leaf, an unsupported key type, no CA certificate.
 */
export function buildKeystores(input: KeystoreInput): Keystores {
  const { password } = input;
  checkPassword(password);
  const params = profileParams(input.profile);
  const alias = checkAlias(input.alias ?? DEFAULT_KEYSTORE_ALIAS);
  const key = parseKey(input.keyPem);
  const chain = certificates(input.certChainPem, 'the certificate chain');
  const leaf = chain[0]!;
  if (!leaf.checkPrivateKey(key)) throw new KeystoreError('the private key does not match the leaf certificate');
  const bundle = certificates(input.caPem, 'the CA bundle');

  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  const keyAttributes = [attribute(OID.localKeyId, octets(localKeyIdOf(leaf.raw))), attribute(OID.friendlyName, bmp(alias))];
  const chainBags = chain.map((cert, i) => certBag(cert.raw, i === 0 ? keyAttributes : []));
  const keystore = pfx(
    [
      encryptedContent(chainBags, password, params.encrypt),
      plainContent([shroudedKeyBag(pkcs8, password, params.encrypt, keyAttributes)]),
    ],
    password,
    params.mac,
  );

  const aliases = truststoreAliases(bundle.length);
  const trustedBags = bundle.map((cert, i) =>
    certBag(cert.raw, [
      attribute(OID.friendlyName, bmp(aliases[i]!)),
      attribute(OID.javaTrustedKeyUsage, oid(OID.anyExtendedKeyUsage)),
    ]));
  const truststore = pfx([encryptedContent(trustedBags, password, params.encrypt)], password, params.mac);
  return { keystore, truststore };
}

/** The private key then the certificate chain in one PEM (HAProxy, some proxies): cert-manager's CombinedPEM. */
export function combinedPem(keyPem: string, certChainPem: string): string {
  const block = (text: string) => {
    const t = text.trim();
    return t === '' ? '' : `${t}\n`;
  };
  return block(keyPem) + block(certChainPem);
}
