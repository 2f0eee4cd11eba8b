/** issueLeaf: a leaf (end-entity) certificate and its key, signed by a loaded CA. */
import { createPrivateKey, KeyObject } from 'node:crypto';
import type { KeyUsage } from '../api/types.ts';
import { normalizeIp } from './certs.ts';
import { keyIdOfSpki } from './der.ts';
import { generateKey, privateKeyPem, spkiOf } from './keys.ts';
import { leafTbsDer, signTbs, type LeafPlan } from './leaf-der.ts';
import { toPem } from './pem.ts';
import { prepare } from './prepared.ts';
import { randomSerial, wholeSeconds } from './sign.ts';
import type { IssuedCertificate, LeafRequest, SigningCA } from './types.ts';

export const DEFAULT_BACKDATE_MS = 5 * 60_000;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
/** @peculiar/x509 KeyUsageFlags values. */
const DIGITAL_SIGNATURE = 1;
const KEY_ENCIPHERMENT = 4;

function ia5(value: string, what: string): string {
  if (!/^[\x21-\x7e]+$/.test(value)) throw new Error(`${what} SAN ${JSON.stringify(value)} is not printable ASCII`);
  return value;
}

/** URI SANs (the SPIFFE ID first), then DNS names, then IP addresses (canonical form). */
function subjectAltNames(req: LeafRequest): LeafPlan['sans'] {
  return [
    ...req.uris.map((value) => ({ type: 'url' as const, value: ia5(value, 'URI') })),
    ...req.dnsNames.map((value) => ({ type: 'dns' as const, value: ia5(value, 'DNS') })),
    ...req.ipAddresses.map((ip) => {
      const value = normalizeIp(ip);
      if (!value) throw new Error(`IP SAN ${JSON.stringify(ip)} is not an IPv4 or IPv6 address`);
      return { type: 'ip' as const, value };
    }),
  ];
}

/**
 * Key usage and extended key usage. The X.509-SVID profile: when extended key usage is present it
 * carries both id-kp-serverAuth and id-kp-clientAuth, so either usage in the spec sets both (a
 * SPIFFE peer checks the other side's SVID for both roles; issue 19, point 9).
 */
function usagesOf(usages: readonly KeyUsage[]): Pick<LeafPlan, 'keyUsage' | 'extKeyUsage'> {
  const eku = usages.includes('server auth') || usages.includes('client auth');
  return {
    keyUsage:
      (usages.includes('digital signature') ? DIGITAL_SIGNATURE : 0) |
      (usages.includes('key encipherment') ? KEY_ENCIPHERMENT : 0),
    extKeyUsage: eku ? [SERVER_AUTH, CLIENT_AUTH] : [],
  };
}

/** The leaf's key: reuseKeyPem parsed, or a new WebCrypto key pair. PEM per `encoding`. */
async function leafKey(req: LeafRequest): Promise<{ keyPem: string; spki: Buffer }> {
  if (req.reuseKeyPem !== undefined) {
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: req.reuseKeyPem, format: 'pem' });
    } catch {
      throw new Error('reuseKeyPem does not decode as a private key');
    }
    return { keyPem: privateKeyPem(key, req.encoding), spki: spkiOf(key) };
  }
  const pair = await generateKey(req.key);
  return {
    keyPem: privateKeyPem(KeyObject.from(pair.privateKey), req.encoding),
    spki: spkiOf(KeyObject.from(pair.publicKey)),
  };
}

/**
 * Decides the content of a leaf for `req`, the key aside: serial, validity (notBefore = now -
 * backdate, never before the CA's notBefore; notAfter = notBefore + duration, cut to the CA's
 * notAfter), usages and SANs. Throws on a request that cannot be issued.
 */
export function planLeaf(ca: SigningCA, req: LeafRequest): Omit<LeafPlan, 'spki' | 'subjectKeyId'> & { clamped: boolean } {
  if (!(req.durationMs > 0)) throw new Error(`durationMs must be positive, got ${req.durationMs}`);
  const sans = subjectAltNames(req);
  if (!req.commonName && sans.length === 0) {
    throw new Error('a leaf certificate needs a commonName or at least one SAN');
  }
  const notBefore = wholeSeconds(
    Math.max(req.now.getTime() - (req.backdateMs ?? DEFAULT_BACKDATE_MS), ca.notBefore.getTime()),
  );
  const caNotAfter = wholeSeconds(ca.notAfter.getTime());
  const wanted = wholeSeconds(notBefore.getTime() + req.durationMs);
  const clamped = wanted > caNotAfter;
  const notAfter = clamped ? caNotAfter : wanted;
  if (notAfter <= req.now) {
    throw new Error(`the CA expires at ${caNotAfter.toISOString()}: cannot issue a certificate valid after now`);
  }
  return {
    serialNumber: randomSerial(),
    notBefore,
    notAfter,
    clamped,
    ...(req.commonName ? { commonName: req.commonName } : {}),
    ...usagesOf(req.usages),
    sans,
  };
}

/**
 * Issues a leaf for `req`: new key (or reuseKeyPem), random 128-bit serial, CA:false,
 * keyUsage (critical) and extKeyUsage from `usages`, SKI, AKI = the CA's SKI, SANs. Without
 * commonName the subject is empty and the SAN extension critical (RFC 5280 4.2.1.6).
 */
export async function issueLeaf(ca: SigningCA, req: LeafRequest): Promise<IssuedCertificate> {
  return issueLeafWith(encodeLeaf, ca, req);
}

/** Builds and signs the certificate of a decided plan, returning its DER. */
export type LeafEncoder = (ca: SigningCA, plan: LeafPlan) => Promise<Buffer>;

const encodeLeaf: LeafEncoder = (ca, plan) => {
  const prepared = prepare(ca);
  return signTbs(ca, prepared, leafTbsDer(plan, prepared));
};

/** issueLeaf with another encoder (tests and bench use leaf-reference.ts's). */
export async function issueLeafWith(encode: LeafEncoder, ca: SigningCA, req: LeafRequest): Promise<IssuedCertificate> {
  if (req.encoding === 'PKCS1' && req.reuseKeyPem === undefined && req.key.algorithm !== 'RSA') {
    throw new Error(`PKCS1 key encoding is only possible for RSA keys, not ${req.key.algorithm}`);
  }
  const decided = planLeaf(ca, req); // before the (possibly slow) key generation
  const { keyPem, spki } = await leafKey(req);
  const plan = { ...decided, spki, subjectKeyId: keyIdOfSpki(spki) };
  const der = await encode(ca, plan);
  return {
    certChainPem: toPem(der, 'CERTIFICATE') + ca.chainPem,
    keyPem,
    caPem: ca.bundlePem,
    serialNumber: plan.serialNumber,
    notBefore: plan.notBefore,
    notAfter: plan.notAfter,
    clamped: plan.clamped,
  };
}

/** A leaf for a public key we do not hold (a PodCertificateRequest's): no key is made or returned. */
export interface KeyedLeafRequest extends Omit<LeafRequest, 'key' | 'encoding' | 'reuseKeyPem'> {
  /** DER SubjectPublicKeyInfo of the subject's key. */
  spki: Buffer;
}

/** Issues a leaf to `req.spki` (same plan as issueLeaf): the chain, serial and validity; no key. */
export async function issueLeafForKey(ca: SigningCA, req: KeyedLeafRequest): Promise<Omit<IssuedCertificate, 'keyPem'>> {
  const { spki, ...rest } = req;
  const decided = planLeaf(ca, { ...rest, key: { algorithm: 'ECDSA', size: 256 }, encoding: 'PKCS8' });
  const der = await encodeLeaf(ca, { ...decided, spki, subjectKeyId: keyIdOfSpki(spki) });
  return {
    certChainPem: toPem(der, 'CERTIFICATE') + ca.chainPem,
    caPem: ca.bundlePem,
    serialNumber: decided.serialNumber,
    notBefore: decided.notBefore,
    notAfter: decided.notAfter,
    clamped: decided.clamped,
  };
}
