/**
 * Which roots a rotation keeps, drops, or finds again: pure functions over PEM bundles, no
 * Kubernetes. A rotation replaces the old CA's root; other roots an admin kept in the old bundle
 * stay; the old root is worth keeping until the last of the replaced roots expires.
 */
import { X509Certificate } from 'node:crypto';
import { certPem, fingerprintOf, pemBlocks } from './pem.ts';
import { isIssuedBy } from './certs.ts';
import type { SigningCA } from './types.ts';

function certificates(bundle: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const block of pemBlocks(bundle)) {
    if (block.label !== 'CERTIFICATE') continue;
    try {
      out.push(new X509Certificate(block.der));
    } catch {
      // not a certificate: a bundle read from a tenant's object may hold anything
    }
  }
  return out;
}

/** The latest notAfter of the old bundle's roots that are not kept: after it the old root verifies nothing. */
export function latestExpiry(oldBundlePem: string, keptPem: string | undefined): Date | undefined {
  const kept = new Set(keptPem ? certificates(keptPem).map(fingerprintOf) : []);
  let latest = 0;
  for (const cert of certificates(oldBundlePem)) {
    if (kept.has(fingerprintOf(cert))) continue;
    latest = Math.max(latest, new Date(cert.validTo).getTime());
  }
  return latest ? new Date(latest) : undefined;
}

/**
 * Roots of the old bundle that the rotation does not replace: every root except the ones the old
 * CA's chain ends at (the old root), and except those already in the new bundle. Unstaged (no
 * old CA given): the old CA is gone from the CA Secret, so every old root is the one replaced.
 */
export function keptRoots(oldBundlePem: string, newBundlePem: string, old?: SigningCA): string {
  const chainTop = old ? topOfChain(old) : undefined;
  const inNew = new Set(certificates(newBundlePem).map(fingerprintOf));
  let out = '';
  for (const cert of certificates(oldBundlePem)) {
    const fp = fingerprintOf(cert);
    if (inNew.has(fp)) continue;
    if (!chainTop || fingerprintOf(chainTop) === fp || isIssuedBy(chainTop, cert)) continue;
    out += certPem(cert);
  }
  return out;
}

/**
 * The certificates with these fingerprints, found in bundles of any origin: a fingerprint from a
 * trusted place authenticates a PEM read from an untrusted one (nobody can forge a certificate
 * with a given SHA-256 fingerprint). Each once, in the order of `fingerprints`.
 */
export function certificatesWithFingerprints(bundles: Iterable<string>, fingerprints: readonly string[]): { pem: string; missing: string[] } {
  const wanted = new Set(fingerprints);
  const found = new Map<string, string>();
  for (const bundle of bundles) {
    for (const cert of certificates(bundle)) {
      const fp = fingerprintOf(cert);
      if (wanted.has(fp) && !found.has(fp)) found.set(fp, certPem(cert));
    }
    if (found.size === wanted.size) break;
  }
  return { pem: fingerprints.filter((f) => found.has(f)).map((f) => found.get(f)!).join(''), missing: fingerprints.filter((f) => !found.has(f)) };
}

function topOfChain(ca: SigningCA): X509Certificate {
  const chain = certificates(ca.chainPem);
  return chain.length > 0 ? chain[chain.length - 1]! : ca.certificate;
}
