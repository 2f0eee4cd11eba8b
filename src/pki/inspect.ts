/** inspectIssued: what an issued Secret holds, checked. Never throws. */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { KeyEncoding } from '../api/types.ts';
import { isIssuedBy, sanKey, sanOf } from './certs.ts';
import { keyIdentifiers } from './der.ts';
import { keyParamsOf } from './keys.ts';
import { pemBlocks } from './pem.ts';
import type { IssuedCertificate, Inspection, KeyParams, LeafFacts } from './types.ts';

function encodingOf(keyPem: string): KeyEncoding | undefined {
  const label = pemBlocks(keyPem)[0]?.label;
  if (label === 'RSA PRIVATE KEY') return 'PKCS1';
  if (label === 'PRIVATE KEY') return 'PKCS8';
  return undefined; // SEC1 ("EC PRIVATE KEY") and others: neither requested encoding
}

function parseLeaf(cert: string | Uint8Array): X509Certificate | undefined {
  const der = typeof cert === 'string' ? pemBlocks(cert).find((b) => b.label === 'CERTIFICATE')?.der : cert;
  if (!der) return undefined;
  try {
    return new X509Certificate(der);
  } catch {
    return undefined;
  }
}

function parseKey(keyPem: string): KeyObject | undefined {
  if (pemBlocks(keyPem).length === 0) return undefined;
  try {
    return createPrivateKey({ key: keyPem, format: 'pem' });
  } catch {
    return undefined;
  }
}

/** What decisions read of a parsed leaf. */
export function leafFactsOf(leaf: X509Certificate): LeafFacts {
  const aki = keyIdentifiers(leaf.raw).authority;
  return {
    serialNumber: leaf.serialNumber.toLowerCase(),
    notBefore: new Date(leaf.validFrom).getTime(),
    notAfter: new Date(leaf.validTo).getTime(),
    sans: sanKey(sanOf(leaf)),
    ...(aki ? { authorityKeyId: aki } : {}),
  };
}

/**
 * Whether `ca` cannot have signed a leaf with these facts, without the leaf: both carry key
 * identifiers and they differ (isIssuedBy would refuse it: X509_check_issued compares them). false
 * means only "cannot tell": the leaf must be checked.
 */
const skis = new WeakMap<X509Certificate, string | null>();
export function cannotHaveSigned(leaf: LeafFacts, ca: X509Certificate): boolean {
  let ski = skis.get(ca);
  if (ski === undefined) skis.set(ca, (ski = keyIdentifiers(ca.raw).subject ?? null));
  return leaf.authorityKeyId !== undefined && ski !== null && ski !== leaf.authorityKeyId;
}

function verdicts(leaf: X509Certificate, cas: readonly X509Certificate[]): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const ca of cas) out.set(ca.fingerprint256, isIssuedBy(leaf, ca));
  return out;
}

/**
 * Whether each of `cas` signed the leaf (fingerprint256 -> verdict): the first certificate of a PEM chain, or a
 * leaf's DER (inspectIssuedDeferred's leafDer). undefined if no leaf parses.
 */
export function leafSignedBy(cert: string | Uint8Array, cas: readonly X509Certificate[]): Map<string, boolean> | undefined {
  const leaf = parseLeaf(cert);
  return leaf ? verdicts(leaf, cas) : undefined;
}

/**
 * Checks tls.crt (first certificate: the leaf) and tls.key of an issued Secret, and whether each of
 * `cas` signed the leaf. `problem` names the first thing that makes the pair unusable; everything
 * that could be read is filled. Neither the parsed certificate, nor the key, nor either PEM is kept
 * in the answer: it is made to be remembered.
 */
export function inspectIssued(material: { certPem?: string; keyPem?: string }, cas: readonly X509Certificate[] = []): Inspection {
  return inspect(material, cas, false).inspection;
}

/**
 * inspectIssued with a verdict for each of `cas`; when there are none (no CA known yet: signedBy empty), with the leaf's
 * DER to ask CAs later (leafSignedBy): what a cache can keep of a Secret instead of its PEMs, ~0.5 KB against ~1.4 KB
 * of base64, until the first verdicts are in.
 */
export function inspectIssuedDeferred(material: { certPem?: string; keyPem?: string }, cas: readonly X509Certificate[] = []): { inspection: Inspection; leafDer?: Uint8Array } {
  return inspect(material, cas, cas.length === 0);
}

function inspect(material: { certPem?: string; keyPem?: string }, cas: readonly X509Certificate[], keepDer: boolean): { inspection: Inspection; leafDer?: Uint8Array } {
  const out: Inspection = {};
  let leafDer: Uint8Array | undefined;
  const problems: string[] = [];
  const { certPem, keyPem } = material;
  let leaf: X509Certificate | undefined;
  try {
    if (!certPem?.trim()) problems.push('tls.crt is missing');
    else {
      leaf = parseLeaf(certPem);
      if (leaf) {
        out.leaf = leafFactsOf(leaf);
        out.signedBy = verdicts(leaf, cas);
        if (keepDer) leafDer = leaf.raw; // a copy of exactly the DER (not a slice of the PEM's)
      } else problems.push('tls.crt does not decode as a PEM certificate');
    }
    if (!keyPem?.trim()) problems.push('tls.key is missing');
    else {
      const key = parseKey(keyPem);
      if (!key) problems.push('tls.key does not decode as a private key');
      else {
        const params = keyParamsOf(key);
        if (params) out.key = params;
        else problems.push(`tls.key holds an unsupported key type (${key.asymmetricKeyType ?? 'unknown'})`);
        const encoding = encodingOf(keyPem);
        if (encoding) out.keyEncoding = encoding;
        if (leaf) {
          out.keyMatchesCert = leaf.checkPrivateKey(key);
          if (!out.keyMatchesCert) problems.push('tls.key does not match the certificate in tls.crt');
        }
      }
    }
  } catch {
    problems.push('tls.crt and tls.key could not be inspected');
  }
  if (problems.length) out.problem = problems[0];
  return leafDer ? { inspection: out, leafDer } : { inspection: out };
}

/**
 * The inspection of a leaf this operator has just issued with `key` and signed by `ca`, without
 * the checks its making already proves (the key is the one it was issued for, the CA signed it):
 * one certificate parse instead of a parse, a key parse, a key check and a signature check.
 */
export function issuedInspection(issued: Pick<IssuedCertificate, 'certChainPem' | 'keyPem'>, key: KeyParams, ca: X509Certificate): Inspection {
  const leaf = parseLeaf(issued.certChainPem);
  if (!leaf) return inspectIssued(issued, [ca]);
  const encoding = encodingOf(issued.keyPem);
  return {
    leaf: leafFactsOf(leaf),
    signedBy: new Map([[ca.fingerprint256, true]]),
    key,
    ...(encoding ? { keyEncoding: encoding } : {}),
    keyMatchesCert: true,
  };
}
