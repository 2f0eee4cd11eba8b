/** inspectIssued: what an issued Secret holds, checked. Never throws. */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { KeyEncoding } from '../api/types.ts';
import { keyParamsOf } from './keys.ts';
import { pemBlocks } from './pem.ts';
import type { Inspection } from './types.ts';

function encodingOf(keyPem: string): KeyEncoding | undefined {
  const label = pemBlocks(keyPem)[0]?.label;
  if (label === 'RSA PRIVATE KEY') return 'PKCS1';
  if (label === 'PRIVATE KEY') return 'PKCS8';
  return undefined; // SEC1 ("EC PRIVATE KEY") and others: neither requested encoding
}

function parseLeaf(certPem: string): X509Certificate | undefined {
  const block = pemBlocks(certPem).find((b) => b.label === 'CERTIFICATE');
  if (!block) return undefined;
  try {
    return new X509Certificate(block.der);
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

/**
 * Checks tls.crt (first certificate: the leaf) and tls.key of an issued Secret. `problem`
 * names the first thing that makes the pair unusable; everything that could be read is filled.
 */
export function inspectIssued(material: { certPem?: string; keyPem?: string }): Inspection {
  const out: Inspection = {};
  const problems: string[] = [];
  const { certPem, keyPem } = material;
  try {
    if (!certPem?.trim()) problems.push('tls.crt is missing');
    else {
      const leaf = parseLeaf(certPem);
      if (leaf) out.leaf = leaf;
      else problems.push('tls.crt does not decode as a PEM certificate');
    }
    if (!keyPem?.trim()) problems.push('tls.key is missing');
    else {
      out.keyPem = keyPem;
      const key = parseKey(keyPem);
      if (!key) problems.push('tls.key does not decode as a private key');
      else {
        const params = keyParamsOf(key);
        if (params) out.key = params;
        else problems.push(`tls.key holds an unsupported key type (${key.asymmetricKeyType ?? 'unknown'})`);
        const encoding = encodingOf(keyPem);
        if (encoding) out.keyEncoding = encoding;
        if (out.leaf) {
          out.keyMatchesCert = out.leaf.checkPrivateKey(key);
          if (!out.keyMatchesCert) problems.push('tls.key does not match the certificate in tls.crt');
        }
      }
    }
  } catch {
    problems.push('tls.crt and tls.key could not be inspected');
  }
  if (problems.length) out.problem = problems[0];
  return out;
}
