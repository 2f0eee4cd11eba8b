/**
 * The PKI engine's contract. pki/ knows nothing of Kubernetes: it turns PEM text into checked
 * CA material and issues leaf certificates. Implementations live beside this file and are
 * re-exported from ./index.ts.
 *
 *   loadSigningCA(material, now)      -> SigningCA                (throws CAError)
 *   generateRootCA(options)           -> CAMaterial               (self-signed, ECDSA P-256 default)
 *   generateIntermediateCA(ca, opts)  -> CAMaterial               (signed by a loaded CA)
 *   generateKey(params)               -> CryptoKeyPair            (async, native, never blocks)
 *   issueLeaf(ca, request)            -> IssuedCertificate
 *   inspectIssued(material)           -> Inspection               (never throws)
 *   isIssuedBy / sanOf / fingerprintOf / normalizeIp                (certificate helpers)
 */
import type { X509Certificate, webcrypto } from 'node:crypto';
import type { KeyAlgorithm, KeyEncoding, KeyUsage } from '../api/types.ts';

/** WebCrypto types (node:crypto's; the DOM lib is not loaded). */
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
/** Signature algorithm parameters for @peculiar/x509 matching a CA key type. */
export type SigningAlgorithm =
  | webcrypto.Algorithm
  | webcrypto.EcdsaParams
  | webcrypto.RsaHashedImportParams;

export interface KeyParams {
  algorithm: KeyAlgorithm;
  /** ECDSA: 256 | 384. RSA: 2048 | 3072 | 4096. Ed25519: 0. */
  size: number;
}

/** PEM text as stored in a CA Secret. */
export interface CAMaterial {
  /** The signing certificate first, then intermediates up to (optionally) the root. */
  certPem: string;
  keyPem: string;
  /** Roots to trust. When absent: the self-signed last certificate of certPem. */
  bundlePem?: string;
}

/** A CA that was checked and can sign. */
export interface SigningCA {
  /** The signing certificate. */
  certificate: X509Certificate;
  /**
   * Signing cert then intermediates, PEM, in order, without self-signed roots: what a leaf
   * sends after itself. Empty when the signing certificate is itself the (self-signed) root.
   */
  chainPem: string;
  /** The trust bundle (root certificates), PEM. */
  bundlePem: string;
  /** SHA-256 fingerprint of the signing certificate, lowercase hex without colons. */
  fingerprint: string;
  /** The signing certificate's notBefore. */
  notBefore: Date;
  /**
   * The signing certificate's notAfter, or earlier when a certificate above it (intermediate
   * or root) expires first: no leaf is issued past it.
   */
  notAfter: Date;
  /** Private key (WebCrypto) used to sign. Never logged, never serialised. */
  privateKey: CryptoKey;
  /** Signature algorithm parameters for @peculiar/x509 matching the CA key type. */
  signingAlgorithm: SigningAlgorithm;
}

/** generateRootCA options. */
export interface RootCAOptions {
  commonName?: string;
  /** Default 3650. */
  validityDays?: number;
  /** notBefore = now - 1 hour (clock skew). */
  now: Date;
  /** CA key type. Default ECDSA P-256. */
  key?: KeyParams;
}

/** generateIntermediateCA options. */
export interface IntermediateCAOptions {
  commonName: string;
  /** Clamped to the parent's notAfter. */
  validityDays: number;
  now: Date;
  /** basicConstraints pathLenConstraint; absent: none. */
  pathLength?: number;
  /** CA key type. Default ECDSA P-256. */
  key?: KeyParams;
}

/** Thrown by loadSigningCA with a message a human can act on (never key material). */
export class CAError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CAError';
  }
}

export interface LeafRequest {
  commonName?: string;
  dnsNames: string[];
  ipAddresses: string[];
  /** URI SANs, the SPIFFE ID first. */
  uris: string[];
  /** Requested lifetime in milliseconds (notAfter = notBefore + duration, clamped to the CA). */
  durationMs: number;
  usages: KeyUsage[];
  key: KeyParams;
  encoding: KeyEncoding;
  /** Issue time (injected clock). notBefore is backdated by `backdateMs` (default 5 minutes). */
  now: Date;
  backdateMs?: number;
  /** rotationPolicy Never: reuse this private key (PEM, PKCS#8 or PKCS#1) instead of generating. */
  reuseKeyPem?: string;
}

export interface IssuedCertificate {
  /** Leaf PEM followed by the CA chain PEM: the Secret's tls.crt. */
  certChainPem: string;
  /** Private key PEM in the requested encoding: the Secret's tls.key. */
  keyPem: string;
  /** Trust bundle PEM: the Secret's ca.crt. */
  caPem: string;
  /** Lowercase hex, no colons. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** true when notAfter was cut to the CA's notAfter. */
  clamped: boolean;
}

/** What is in an issued Secret, checked. Never throws: problems are reported in `problem`. */
/**
 * What a decision reads of an issued leaf: plain values, no parsed certificate (issue 11: kept per
 * identity, so they must be small; a native X509Certificate or the PEM would be ten times more).
 */
export interface LeafFacts {
  /** Lowercase hex, as X509Certificate.serialNumber lowercased. */
  serialNumber: string;
  /** notBefore and notAfter, ms since the epoch. */
  notBefore: number;
  notAfter: number;
  /** sanKey() of the leaf's DNS, IP and URI SANs: equal keys, equal sets. */
  sans: string;
  /** The authorityKeyIdentifier's keyIdentifier, lowercase hex: a CA whose SKI differs did not sign it. */
  authorityKeyId?: string;
}

export interface Inspection {
  /** Why the material is unusable, or undefined when it is a well-formed matching pair. */
  problem?: string;
  leaf?: LeafFacts;
  /**
   * CA fingerprint256 -> whether that CA signed the leaf, for each CA the inspection was asked
   * about (isIssuedBy); absent when the leaf did not parse.
   */
  signedBy?: Map<string, boolean>;
  /** Algorithm and size of the private key in tls.key. */
  key?: KeyParams;
  keyEncoding?: KeyEncoding;
  /** tls.key's public half matches the leaf. */
  keyMatchesCert?: boolean;
}
