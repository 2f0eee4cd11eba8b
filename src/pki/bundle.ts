/** Trust bundles: sets of root certificates, merged without duplicates, in a stable order. */
import { X509Certificate } from 'node:crypto';
import { certPem, fingerprintOf, pemBlocks } from './pem.ts';

/** The certificates of several bundles, each once (by SHA-256 fingerprint), first seen first. */
export function mergeBundles(...bundles: string[]): string {
  const seen = new Set<string>();
  let out = '';
  for (const bundle of bundles) {
    for (const block of pemBlocks(bundle)) {
      if (block.label !== 'CERTIFICATE') continue;
      const cert = new X509Certificate(block.der);
      const fp = fingerprintOf(cert);
      if (seen.has(fp)) continue;
      seen.add(fp);
      out += certPem(cert);
    }
  }
  return out;
}

/** Fingerprints of a bundle's certificates. */
export function bundleFingerprints(bundle: string): string[] {
  return pemBlocks(bundle)
    .filter((b) => b.label === 'CERTIFICATE')
    .map((b) => fingerprintOf(new X509Certificate(b.der)));
}
