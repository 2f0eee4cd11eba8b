/** loadSigningCA: turns a CA Secret's PEM text into a checked SigningCA, or a CAError. */
import { createPrivateKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { isIssuedBy, isSelfSigned } from './certs.ts';
import { signingKeyOf } from './keys.ts';
import { certPem, describeCert, fingerprintOf, parseCertificates, pemBlocks } from './pem.ts';
import { CAError, type CAMaterial, type SigningCA } from './types.ts';
import { x509 } from './x509.ts';

/** What a certificate is called in messages: "signing certificate" or "certificate 2 in tls.crt". */
function nameOf(index: number, cert: X509Certificate): string {
  const role = index === 0 ? 'signing certificate' : `certificate ${index + 1} in tls.crt`;
  return `${role} ${describeCert(cert)}`;
}

function checkTime(cert: X509Certificate, label: string, now: Date): void {
  if (now < cert.validFromDate) {
    throw new CAError(`${label} is not valid yet (notBefore ${cert.validFromDate.toISOString()})`);
  }
  if (now > cert.validToDate) {
    throw new CAError(`${label} has expired (notAfter ${cert.validToDate.toISOString()})`);
  }
}

/** basicConstraints CA:true and keyUsage keyCertSign, as RFC 5280 and OpenSSL's strict mode want. */
function checkIsCA(cert: X509Certificate, label: string): void {
  const parsed = new x509.X509Certificate(cert.raw);
  if (!parsed.getExtension(x509.BasicConstraintsExtension)?.ca) {
    throw new CAError(`${label} is not a CA: basicConstraints CA:true is missing`);
  }
  const ku = parsed.getExtension(x509.KeyUsagesExtension);
  if (!ku) throw new CAError(`${label} has no keyUsage extension; a CA needs keyUsage keyCertSign`);
  if (!(ku.usages & x509.KeyUsageFlags.keyCertSign)) {
    throw new CAError(`${label} cannot sign certificates: keyUsage lacks keyCertSign`);
  }
}

function parsePrivateKey(keyPem: string): KeyObject {
  if (!keyPem.trim()) throw new CAError('tls.key is empty');
  const labels = pemBlocks(keyPem).map((b) => b.label);
  if (labels.includes('ENCRYPTED PRIVATE KEY') || /Proc-Type:\s*4,ENCRYPTED/.test(keyPem)) {
    throw new CAError('tls.key is encrypted; store the CA key unencrypted (PKCS#8, PKCS#1 or SEC1 PEM)');
  }
  try {
    return createPrivateKey({ key: keyPem, format: 'pem' });
  } catch {
    throw new CAError('tls.key does not decode as a private key (expected PEM: PKCS#8, PKCS#1 RSA or SEC1 EC)');
  }
}

/** Finds the trust anchor for the top of the chain; returns it (already checked) or throws. */
function anchorOf(top: X509Certificate, topLabel: string, material: CAMaterial, now: Date): X509Certificate {
  if (material.bundlePem === undefined) {
    if (!isSelfSigned(top)) {
      throw new CAError(
        `ca.crt is absent and the last certificate of tls.crt (${topLabel}) is not a self-signed root: ` +
          'put the root in ca.crt or append it to tls.crt',
      );
    }
    return top;
  }
  const parsed = parseCertificates(material.bundlePem, 'ca.crt');
  if (!parsed.ok) throw new CAError(parsed.reason);
  const fp = fingerprintOf(top);
  const bundle = parsed.certs;
  const anchor =
    bundle.find((b) => fingerprintOf(b) === fp) ?? bundle.find((b) => isIssuedBy(top, b));
  if (!anchor) {
    throw new CAError(
      `the chain in tls.crt does not verify up to a root in ca.crt: ${topLabel} is neither in ca.crt nor signed by a certificate there`,
    );
  }
  if (!isSelfSigned(anchor)) {
    throw new CAError(`the certificate in ca.crt that issued ${topLabel} is not a self-signed root`);
  }
  checkTime(anchor, `root ${describeCert(anchor)} in ca.crt`, now);
  return anchor;
}

/**
 * Parses and checks CA material: the signing certificate (first of tls.crt) must be a CA with
 * keyCertSign whose key is tls.key, every certificate must be valid at `now`, each must be
 * issued by the next, and the chain must end at a root: in ca.crt when given, else the
 * self-signed last certificate of tls.crt. Throws CAError with a message naming the problem.
 */
export async function loadSigningCA(material: CAMaterial, now: Date): Promise<SigningCA> {
  const parsed = parseCertificates(material.certPem, 'tls.crt');
  if (!parsed.ok) throw new CAError(parsed.reason);
  const chain = parsed.certs;
  const signing = chain[0] as X509Certificate;
  const key = parsePrivateKey(material.keyPem ?? '');

  chain.forEach((cert, i) => checkIsCA(cert, nameOf(i, cert)));
  if (!signing.checkPrivateKey(key)) {
    throw new CAError('tls.key does not match the signing certificate (the first certificate in tls.crt)');
  }
  const signingKey = await signingKeyOf(key);
  if (!signingKey) {
    throw new CAError(
      `tls.key holds an unsupported key type (${key.asymmetricKeyType ?? 'unknown'}): use ECDSA P-256/P-384, RSA or Ed25519`,
    );
  }
  chain.forEach((cert, i) => checkTime(cert, nameOf(i, cert), now));
  for (let i = 0; i + 1 < chain.length; i++) {
    const cert = chain[i] as X509Certificate;
    const next = chain[i + 1] as X509Certificate;
    if (!isIssuedBy(cert, next)) {
      throw new CAError(
        `the chain in tls.crt does not link: ${nameOf(i, cert)} was not issued by ${nameOf(i + 1, next)}`,
      );
    }
  }
  const top = chain[chain.length - 1] as X509Certificate;
  const anchor = anchorOf(top, nameOf(chain.length - 1, top), material, now);

  const notAfter = [...chain, anchor].reduce(
    (min, c) => (c.validToDate < min ? c.validToDate : min),
    signing.validToDate,
  );
  const chainPem = chain.filter((c) => !isSelfSigned(c)).map(certPem).join('');
  return {
    certificate: signing,
    chainPem,
    bundlePem: material.bundlePem ?? certPem(anchor),
    fingerprint: fingerprintOf(signing),
    notBefore: signing.validFromDate,
    notAfter,
    privateKey: signingKey.privateKey,
    signingAlgorithm: signingKey.signingAlgorithm,
  };
}
