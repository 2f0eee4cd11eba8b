/**
 * The same leaf as leaf-der.ts, built by @peculiar/x509's X509CertificateGenerator: the
 * reference the hand-written encoder is tested against, and the slow path the bench compares.
 */
import type { LeafPlan } from './leaf-der.ts';
import { prepare } from './prepared.ts';
import { commonNameOf, signCertificate } from './sign.ts';
import type { SigningCA } from './types.ts';
import { x509 } from './x509.ts';

export async function referenceLeafDer(ca: SigningCA, plan: LeafPlan): Promise<Buffer> {
  const prepared = prepare(ca);
  const extensions: InstanceType<typeof x509.Extension>[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
  ];
  if (plan.keyUsage) extensions.push(new x509.KeyUsagesExtension(plan.keyUsage, true));
  if (plan.extKeyUsage.length) extensions.push(new x509.ExtendedKeyUsageExtension(plan.extKeyUsage, false));
  extensions.push(new x509.SubjectKeyIdentifierExtension(plan.subjectKeyId));
  extensions.push(new x509.AuthorityKeyIdentifierExtension(prepared.keyId));
  if (plan.sans.length) {
    extensions.push(new x509.SubjectAlternativeNameExtension(plan.sans, !plan.commonName));
  }
  return signCertificate({
    serialNumber: plan.serialNumber,
    issuer: prepared.issuer,
    ...(plan.commonName ? { subject: commonNameOf(plan.commonName) } : {}),
    spki: plan.spki,
    notBefore: plan.notBefore,
    notAfter: plan.notAfter,
    extensions,
    signingKey: ca.privateKey,
    signingAlgorithm: ca.signingAlgorithm,
  });
}
