/**
 * The public key a PodCertificateRequest asks a certificate for, and what we do with it.
 *
 * certificates.k8s.io/v1 carries `stubPKCS10Request` (DER PKCS#10 made by the kubelet with the
 * pod's key; kube-apiserver verified its signature at admission, so it is not verified again);
 * v1beta1 objects of 1.34/1.35 carried `pkixPublicKey` + `proofOfPossession` instead (also
 * verified by the API server). Either way only the SubjectPublicKeyInfo is used: the subject,
 * extensions and attributes of the stub request are ignored, never copied into a certificate.
 */
import { createPublicKey, KeyObject } from 'node:crypto';
import type { KeyParams } from './types.ts';
import { keyParamsOf, spkiOf } from './keys.ts';
import { x509 } from './x509.ts';

/** Key types the signer issues to (the ones the operator issues for Secrets). */
export const SUPPORTED_POD_KEYS = 'ECDSA P-256 or P-384, Ed25519, RSA 3072 or 4096';

export type RequestedKey =
  | { ok: true; spki: Buffer; key: KeyParams }
  | { ok: false; message: string };

function describe(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') return `ECDSA ${d.namedCurve ?? 'unknown curve'}`;
  if (key.asymmetricKeyType === 'rsa') return `RSA ${d.modulusLength ?? '?'}`;
  return String(key.asymmetricKeyType ?? 'unknown');
}

/** Whether we issue to keys of these parameters (kube-apiserver also admits P-521, which we do not). */
export function supportedPodKey(p: KeyParams): boolean {
  if (p.algorithm === 'ECDSA') return p.size === 256 || p.size === 384;
  if (p.algorithm === 'RSA') return p.size === 3072 || p.size === 4096;
  return p.algorithm === 'Ed25519';
}

/**
 * The key of a request: from the stub PKCS#10 request when present, else from the PKIX public
 * key. `ok: false` with a message naming the key when it cannot be used (unsupported type, or
 * bytes that do not parse, which the API server would not have admitted).
 */
export function requestedKey(stubPkcs10Der: Buffer | undefined, pkixDer: Buffer | undefined): RequestedKey {
  let key: KeyObject;
  try {
    if (stubPkcs10Der && stubPkcs10Der.length > 0) {
      const csr = new x509.Pkcs10CertificateRequest(new Uint8Array(stubPkcs10Der));
      key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
    } else if (pkixDer && pkixDer.length > 0) {
      key = createPublicKey({ key: pkixDer, format: 'der', type: 'spki' });
    } else {
      return { ok: false, message: 'the request carries neither stubPKCS10Request nor pkixPublicKey' };
    }
  } catch {
    return { ok: false, message: 'the public key of the request does not parse' };
  }
  const params = keyParamsOf(key);
  if (!params || !supportedPodKey(params)) {
    return { ok: false, message: `key type ${describe(key)} is not issued by this signer; use ${SUPPORTED_POD_KEYS} (e.g. keyType: ECDSAP256 in the podCertificate volume)` };
  }
  return { ok: true, spki: spkiOf(key), key: params };
}
