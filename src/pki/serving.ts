/**
 * A self-signed TLS serving certificate for the operator's own metrics endpoint, made at start (as
 * controller-runtime's metrics server does when given no certificate): ECDSA P-256, serverAuth, the given DNS
 * names. Clients (Prometheus) either skip verification or pin this certificate; the protection of /metrics is the
 * bearer token's TokenReview and SubjectAccessReview, not this certificate.
 */
import { keyIdOfSpki } from './der.ts';
import { generateKey, keyObjectOf, privateKeyPem, signingKeyOf, spkiOf } from './keys.ts';
import { toPem } from './pem.ts';
import { commonNameOf, randomSerial, signCertificate, wholeSeconds } from './sign.ts';
import { x509 } from './x509.ts';

export async function selfSignedServingCert(o: { dnsNames: string[]; now: Date; validityDays?: number }): Promise<{ certPem: string; keyPem: string }> {
  const pair = await generateKey({ algorithm: 'ECDSA', size: 256 });
  const key = keyObjectOf(pair.privateKey);
  const spki = spkiOf(key);
  const signer = await signingKeyOf(key);
  if (!signer) throw new Error('cannot sign with the generated key');
  const name = commonNameOf(o.dnsNames[0] ?? 'mtls-operator');
  const der = await signCertificate({
    serialNumber: randomSerial(),
    issuer: name,
    subject: name,
    spki,
    notBefore: wholeSeconds(o.now.getTime() - 3_600_000),
    notAfter: wholeSeconds(o.now.getTime() + (o.validityDays ?? 365) * 86_400_000),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectKeyIdentifierExtension(keyIdOfSpki(spki)),
      new x509.SubjectAlternativeNameExtension(o.dnsNames.map((value) => ({ type: 'dns' as const, value })), false),
    ],
    signingKey: signer.privateKey,
    signingAlgorithm: signer.signingAlgorithm,
  });
  return { certPem: toPem(der, 'CERTIFICATE'), keyPem: privateKeyPem(key, 'PKCS8') };
}
