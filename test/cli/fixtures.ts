/** An identity, its issued Secret and its CA, made by the operator's own code. */
import { resolveSpec } from '../../src/api/spec.ts';
import type { MutualTLSIdentity, Secret } from '../../src/api/types.ts';
import { buildSecret } from '../../src/controller/secret.ts';
import { generateRootCA, issueLeaf, loadSigningCA, type CAMaterial, type IssuedCertificate, type SigningCA } from '../../src/pki/index.ts';

export interface Fixture {
  caMaterial: CAMaterial;
  ca: SigningCA;
  identity: MutualTLSIdentity;
  issued: IssuedCertificate;
  secret: Secret;
}

export function identity(namespace: string, name: string, labels: Record<string, string> = {}): MutualTLSIdentity {
  return {
    apiVersion: 'mtls.dev/v1alpha1',
    kind: 'MutualTLSIdentity',
    metadata: { name, namespace, uid: `uid-${name}`, generation: 1, labels },
    spec: { serviceAccountName: 'web', dnsNames: ['web.team-a.svc'], ipAddresses: ['10.0.0.7'] },
  };
}

export async function fixture(now: Date, name = 'web'): Promise<Fixture> {
  const caMaterial = await generateRootCA({ now, commonName: 'cli test root' });
  const ca = await loadSigningCA(caMaterial, now);
  const id = identity('team-a', name);
  const spec = resolveSpec(id, { trustDomain: 'cluster.local' });
  const issued = await issueLeaf(ca, {
    dnsNames: spec.dnsNames, ipAddresses: spec.ipAddresses, uris: [spec.spiffeId], durationMs: spec.durationMs,
    usages: spec.usages, key: spec.key, encoding: spec.encoding, now,
  });
  const secret = buildSecret(id, spec, issued, {
    serialNumber: issued.serialNumber, notAfter: issued.notAfter, spiffeId: spec.spiffeId, caFingerprint: ca.fingerprint,
    specHash: 'h', revision: 1,
  });
  id.status = {
    conditions: [
      { type: 'Ready', status: 'True', reason: 'Ready', message: `certificate valid until ${issued.notAfter.toISOString()}`, lastTransitionTime: now.toISOString() },
      { type: 'Issuing', status: 'False', reason: 'Initial', message: `issued serial ${issued.serialNumber}`, lastTransitionTime: now.toISOString() },
    ],
    notBefore: issued.notBefore.toISOString(),
    notAfter: issued.notAfter.toISOString(),
    renewalTime: new Date(issued.notAfter.getTime() - 8 * 3_600_000).toISOString(),
    serialNumber: issued.serialNumber,
    spiffeID: spec.spiffeId,
    secretName: spec.secretName,
  };
  return { caMaterial, ca, identity: id, issued, secret };
}

/** A copy of a Secret with one data entry replaced (PEM text). */
export function withData(secret: Secret, key: string, pem: string | undefined): Secret {
  const copy = structuredClone(secret);
  if (pem === undefined) delete copy.data![key];
  else copy.data![key] = Buffer.from(pem).toString('base64');
  return copy;
}
