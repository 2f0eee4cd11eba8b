/**
 * What an issued Secret holds, checked: the chain, the key, the trust bundle. Used by
 * `inspect secret` and `status`. Never throws: every problem is a line in `problems`.
 */
import { X509Certificate } from 'node:crypto';
import { CA_CRT, TLS_CRT, TLS_KEY, type Secret } from '../api/types.ts';
import { fingerprintOf, inspectIssued, isIssuedBy, isSelfSigned, sanOf, type SubjectAltNames } from '../pki/index.ts';
import { pemBlocks } from '../pki/pem.ts';

export interface CertSummary {
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  /** SHA-256 of the DER, lowercase hex with colons (as openssl and keytool print it). */
  sha256: string;
  isCA: boolean;
  sans: SubjectAltNames;
  spiffeId?: string;
}

export interface SecretAnalysis {
  namespace: string;
  name: string;
  type: string;
  keys: { present: string[]; missing: string[]; extra: string[] };
  chain: CertSummary[];
  bundle: CertSummary[];
  key?: { algorithm: string; size?: number; encoding?: string };
  keyMatchesCert?: boolean;
  /** Every link of tls.crt verifies, and its top is in or issued by a root of ca.crt. */
  chainVerifies?: boolean;
  /** Every certificate of tls.crt is valid now. */
  validNow?: boolean;
  problems: string[];
}

const oneLine = (dn: string | undefined): string => (dn ?? '').split('\n').join(', ');
const colons = (hex: string): string => (hex.match(/../g) ?? []).join(':').toUpperCase();

export function summarize(cert: X509Certificate): CertSummary {
  const sans = sanOf(cert);
  const spiffeId = sans.uris.find((u) => u.startsWith('spiffe://'));
  return {
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    serial: cert.serialNumber.toLowerCase(),
    notBefore: cert.validFromDate.toISOString(),
    notAfter: cert.validToDate.toISOString(),
    sha256: colons(fingerprintOf(cert)),
    isCA: cert.ca,
    sans,
    ...(spiffeId ? { spiffeId } : {}),
  };
}

function decode(secret: Secret, key: string): string | undefined {
  const v = secret.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

/** Certificates of a PEM text; a block that does not parse is a problem, not an exception. */
function certsOf(pem: string | undefined, what: string, problems: string[]): X509Certificate[] {
  if (pem === undefined) return [];
  const blocks = pemBlocks(pem).filter((b) => b.label === 'CERTIFICATE');
  if (blocks.length === 0) problems.push(`${what} holds no PEM certificate`);
  const out: X509Certificate[] = [];
  blocks.forEach((b, i) => {
    try {
      out.push(new X509Certificate(b.der));
    } catch {
      problems.push(`${what}: certificate ${i + 1} does not parse`);
    }
  });
  return out;
}

/** Why the chain does not verify up to a root of the bundle, or undefined when it does. */
export function chainProblem(chain: X509Certificate[], bundle: X509Certificate[]): string | undefined {
  if (chain.length === 0) return 'tls.crt holds no certificate';
  if (bundle.length === 0) return 'ca.crt holds no certificate: nothing to verify against';
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!isIssuedBy(chain[i]!, chain[i + 1]!)) return `tls.crt certificate ${i + 1} was not issued by certificate ${i + 2}`;
  }
  const top = chain[chain.length - 1]!;
  const fp = fingerprintOf(top);
  const anchor = bundle.find((b) => fingerprintOf(b) === fp) ?? bundle.find((b) => isIssuedBy(top, b));
  if (!anchor) return `the chain does not verify against ca.crt: "${oneLine(top.issuer)}" signed its top certificate and is not in ca.crt`;
  if (!isSelfSigned(anchor)) return 'the certificate of ca.crt that anchors the chain is not a self-signed root';
  return undefined;
}

export function analyzeSecret(secret: Secret, now: Date): SecretAnalysis {
  const problems: string[] = [];
  const present = Object.keys(secret.data ?? {}).sort();
  const wanted = [TLS_CRT, TLS_KEY, CA_CRT];
  const missing = wanted.filter((k) => !present.includes(k));
  for (const k of missing) problems.push(`${k} is missing`);
  const certPem = decode(secret, TLS_CRT);
  const keyPem = decode(secret, TLS_KEY);
  const chain = certsOf(certPem, TLS_CRT, problems);
  const bundle = certsOf(decode(secret, CA_CRT), CA_CRT, problems);
  const out: SecretAnalysis = {
    namespace: secret.metadata.namespace ?? '',
    name: secret.metadata.name,
    type: secret.type ?? '',
    keys: { present, missing, extra: present.filter((k) => !wanted.includes(k)) },
    chain: chain.map(summarize),
    bundle: bundle.map(summarize),
    problems,
  };
  if (keyPem !== undefined) {
    const inspection = inspectIssued({ ...(certPem ? { certPem } : {}), keyPem });
    if (inspection.key) out.key = { algorithm: inspection.key.algorithm, ...(inspection.key.size ? { size: inspection.key.size } : {}), ...(inspection.keyEncoding ? { encoding: inspection.keyEncoding } : {}) };
    if (inspection.keyMatchesCert !== undefined) out.keyMatchesCert = inspection.keyMatchesCert;
    if (inspection.problem && !inspection.problem.startsWith('tls.crt')) problems.push(inspection.problem);
  }
  if (chain.length > 0 && bundle.length > 0) {
    const why = chainProblem(chain, bundle);
    out.chainVerifies = why === undefined;
    if (why) problems.push(why);
  }
  if (chain.length > 0) {
    const bad = chain.find((c) => now < c.validFromDate || now > c.validToDate);
    out.validNow = bad === undefined;
    if (bad) problems.push(`"${oneLine(bad.subject) || oneLine(bad.issuer)}" is ${now < bad.validFromDate ? 'not valid yet' : 'expired'} (valid ${bad.validFromDate.toISOString()} to ${bad.validToDate.toISOString()})`);
  }
  return out;
}

/** SANs as one line: "URI:spiffe://..., DNS:a, IP:10.0.0.1". */
export function sanText(s: SubjectAltNames): string {
  return [...s.uris.map((u) => `URI:${u}`), ...s.dnsNames.map((d) => `DNS:${d}`), ...s.ipAddresses.map((i) => `IP:${i}`)].join(', ');
}

export const yesNo = (v: boolean | undefined): string => (v === undefined ? 'unknown' : v ? 'yes' : 'NO');
