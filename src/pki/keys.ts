/**
 * Key pairs: generation through WebCrypto (async, native, off the event loop), conversions
 * between PEM, KeyObject and CryptoKey, and the signature algorithm a CA key signs with.
 */
import { KeyObject, createPublicKey, webcrypto } from 'node:crypto';
import type { KeyEncoding } from '../api/types.ts';
import type { CryptoKey, CryptoKeyPair, KeyParams, SigningAlgorithm } from './types.ts';

const RSA_SIZES = [2048, 3072, 4096];
const EC_CURVES: Record<number, string> = { 256: 'P-256', 384: 'P-384' };
const CURVE_SIZES: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };
const HASH_FOR_CURVE: Record<number, string> = { 256: 'SHA-256', 384: 'SHA-384', 521: 'SHA-512' };

type GenParams = webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams | webcrypto.Algorithm;

/** The WebCrypto generation parameters for `params`; throws on an unsupported size. */
export function keyGenParams(params: KeyParams): GenParams {
  switch (params.algorithm) {
    case 'ECDSA': {
      const namedCurve = EC_CURVES[params.size];
      if (!namedCurve) throw new Error(`unsupported ECDSA key size ${params.size} (use 256 or 384)`);
      return { name: 'ECDSA', namedCurve };
    }
    case 'RSA':
      if (!RSA_SIZES.includes(params.size)) {
        throw new Error(`unsupported RSA key size ${params.size} (use 2048, 3072 or 4096)`);
      }
      return {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: params.size,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      };
    case 'Ed25519':
      return { name: 'Ed25519' };
    default:
      throw new Error(`unsupported key algorithm ${String(params.algorithm)}`);
  }
}

/** A new extractable key pair. Runs on libuv's thread pool: never blocks the event loop. */
export async function generateKey(params: KeyParams): Promise<CryptoKeyPair> {
  const alg = keyGenParams(params);
  return (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
}

/** Algorithm and size of a key (private or public), or undefined for types we do not issue. */
export function keyParamsOf(key: KeyObject): KeyParams | undefined {
  const d = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const size = CURVE_SIZES[d.namedCurve ?? ''];
      return size ? { algorithm: 'ECDSA', size } : undefined;
    }
    case 'rsa':
      return d.modulusLength ? { algorithm: 'RSA', size: d.modulusLength } : undefined;
    case 'ed25519':
      return { algorithm: 'Ed25519', size: 0 };
    default:
      return undefined;
  }
}

/** PEM of a private key: PKCS8 ("BEGIN PRIVATE KEY") or PKCS1 (RSA only). */
export function privateKeyPem(key: KeyObject, encoding: KeyEncoding): string {
  if (encoding === 'PKCS1') {
    if (key.asymmetricKeyType !== 'rsa') {
      throw new Error(`PKCS1 key encoding is only possible for RSA keys, not ${describeKey(key)}`);
    }
    return key.export({ type: 'pkcs1', format: 'pem' }) as string;
  }
  if (encoding !== 'PKCS8') throw new Error(`unsupported key encoding ${String(encoding)}`);
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** DER SubjectPublicKeyInfo of a key (a private key gives its public half). */
export function spkiOf(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'der' });
}

export function describeKey(key: KeyObject): string {
  const p = keyParamsOf(key);
  if (!p) return key.asymmetricKeyType ?? key.type;
  return p.algorithm === 'Ed25519' ? 'Ed25519' : `${p.algorithm} ${p.size}`;
}

export interface SigningKey {
  privateKey: CryptoKey;
  signingAlgorithm: SigningAlgorithm;
}

/**
 * A CA private key as a non-extractable WebCrypto signing key, with the signature algorithm
 * it produces: ECDSA with SHA-256/384/512 by curve, RSA PKCS#1 v1.5 with SHA-256, Ed25519.
 * Returns undefined for a key type that cannot sign certificates here.
 */
export async function signingKeyOf(key: KeyObject): Promise<SigningKey | undefined> {
  const p = keyParamsOf(key);
  if (!p) return undefined;
  let importAlg: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams | webcrypto.Algorithm;
  let signingAlgorithm: SigningAlgorithm;
  if (p.algorithm === 'ECDSA') {
    importAlg = { name: 'ECDSA', namedCurve: `P-${p.size}` };
    signingAlgorithm = { name: 'ECDSA', hash: HASH_FOR_CURVE[p.size] ?? 'SHA-256' };
  } else if (p.algorithm === 'RSA') {
    importAlg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    signingAlgorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as SigningAlgorithm;
  } else {
    importAlg = { name: 'Ed25519' };
    signingAlgorithm = { name: 'Ed25519' };
  }
  const privateKey = key.toCryptoKey(importAlg, false, ['sign']);
  return { privateKey, signingAlgorithm };
}

/** The KeyObject of a WebCrypto key. */
export function keyObjectOf(key: CryptoKey): KeyObject {
  return KeyObject.from(key);
}
