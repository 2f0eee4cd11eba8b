/** Generation of CA material: a self-signed root, and intermediates signed by a loaded CA. */
import { keyIdOfSpki } from './der.ts';
import { generateKey, keyObjectOf, privateKeyPem, signingKeyOf, spkiOf } from './keys.ts';
import { toPem } from './pem.ts';
import { prepare } from './prepared.ts';
import { commonNameOf, randomSerial, signCertificate, wholeSeconds } from './sign.ts';
import type { CAMaterial, IntermediateCAOptions, KeyParams, RootCAOptions, SigningCA } from './types.ts';
import { x509 } from './x509.ts';

const DAY_MS = 86_400_000;
/** CA certificates are backdated by an hour to tolerate clock skew between machines. */
const CA_BACKDATE_MS = 3_600_000;
const DEFAULT_CA_KEY: KeyParams = { algorithm: 'ECDSA', size: 256 };
const { KeyUsageFlags: KU } = x509;

function caExtensions(keyId: string, pathLength?: number): InstanceType<typeof x509.Extension>[] {
  return [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    // X.509-SVID signing certificates: keyCertSign and cRLSign only (the profile's table).
    new x509.KeyUsagesExtension(KU.keyCertSign | KU.cRLSign, true),
    new x509.SubjectKeyIdentifierExtension(keyId),
  ];
}

async function newCAKey(params: KeyParams | undefined) {
  const pair = await generateKey(params ?? DEFAULT_CA_KEY);
  const privateObject = keyObjectOf(pair.privateKey);
  const spki = spkiOf(privateObject);
  return { pair, privateObject, spki, keyId: keyIdOfSpki(spki) };
}

/** A new self-signed root CA (ECDSA P-256 unless `key` says otherwise); tls.key is PKCS#8. */
export async function generateRootCA(options: RootCAOptions): Promise<CAMaterial> {
  const { commonName = 'mtls-operator root CA', validityDays = 3650, now } = options;
  if (!(validityDays > 0)) throw new Error(`validityDays must be positive, got ${validityDays}`);
  const key = await newCAKey(options.key);
  const signer = await signingKeyOf(key.privateObject);
  if (!signer) throw new Error('cannot sign with the generated key');
  const name = commonNameOf(commonName);
  const notBefore = wholeSeconds(now.getTime() - CA_BACKDATE_MS);
  const der = await signCertificate({
    serialNumber: randomSerial(),
    issuer: name,
    subject: name,
    spki: key.spki,
    notBefore,
    notAfter: wholeSeconds(now.getTime() + validityDays * DAY_MS),
    extensions: caExtensions(key.keyId),
    signingKey: signer.privateKey,
    signingAlgorithm: signer.signingAlgorithm,
  });
  const pem = toPem(der, 'CERTIFICATE');
  return { certPem: pem, keyPem: privateKeyPem(key.privateObject, 'PKCS8'), bundlePem: pem };
}

/**
 * A new intermediate CA signed by `parent`, valid at most until the parent's notAfter.
 * certPem is the intermediate followed by the parent's chain; bundlePem is the parent's bundle.
 */
export async function generateIntermediateCA(
  parent: SigningCA,
  options: IntermediateCAOptions,
): Promise<CAMaterial> {
  const { commonName, validityDays, now, pathLength } = options;
  if (!(validityDays > 0)) throw new Error(`validityDays must be positive, got ${validityDays}`);
  const key = await newCAKey(options.key);
  const notBefore = wholeSeconds(Math.max(now.getTime() - CA_BACKDATE_MS, parent.notBefore.getTime()));
  const notAfter = wholeSeconds(Math.min(now.getTime() + validityDays * DAY_MS, parent.notAfter.getTime()));
  const der = await signCertificate({
    serialNumber: randomSerial(),
    issuer: prepare(parent).issuer,
    subject: commonNameOf(commonName),
    spki: key.spki,
    notBefore,
    notAfter,
    extensions: [
      ...caExtensions(key.keyId, pathLength),
      new x509.AuthorityKeyIdentifierExtension(prepare(parent).keyId),
    ],
    signingKey: parent.privateKey,
    signingAlgorithm: parent.signingAlgorithm,
  });
  return {
    certPem: toPem(der, 'CERTIFICATE') + parent.chainPem,
    keyPem: privateKeyPem(key.privateObject, 'PKCS8'),
    bundlePem: parent.bundlePem,
  };
}
