/**
 * PKI engine throughput: certificates per second on one core (sequential, one at a time).
 *   npm exec -- node bench/pki.ts            print a table
 *   PKI_BENCH_SECONDS=1 npm exec -- ...      shorter runs
 * node-forge RSA-2048 signing is measured in the same run for comparison, and so is issuance
 * through @peculiar/x509's X509CertificateGenerator (the reference encoder issueLeaf replaced).
 * Keys are generated and certificates signed on libuv's thread pool (WebCrypto); for a strict
 * single core run: UV_THREADPOOL_SIZE=1 taskset -c 0 npm exec -- node bench/pki.ts
 */
import { fileURLToPath } from 'node:url';
import forge from 'node-forge';
import type { KeyParams, LeafRequest, SigningCA } from '../src/pki/index.ts';
import { generateRootCA, issueLeaf, loadSigningCA } from '../src/pki/index.ts';
import { issueLeafWith } from '../src/pki/leaf.ts';
import { referenceLeafDer } from '../src/pki/leaf-reference.ts';

export interface BenchResult {
  name: string;
  perSecond: number;
}

const SECONDS = Number(process.env.PKI_BENCH_SECONDS ?? 3);

async function measure(name: string, once: () => Promise<unknown> | unknown): Promise<BenchResult> {
  for (let i = 0; i < 3; i++) await once(); // warm-up
  const deadline = performance.now() + SECONDS * 1000;
  const start = performance.now();
  let n = 0;
  while (performance.now() < deadline) {
    await once();
    n++;
  }
  return { name, perSecond: n / ((performance.now() - start) / 1000) };
}

function request(key: KeyParams, now: Date, reuseKeyPem?: string): LeafRequest {
  return {
    dnsNames: ['web.default.svc', 'web.default.svc.cluster.local'],
    ipAddresses: ['10.0.0.7'],
    uris: ['spiffe://cluster.local/ns/default/sa/web'],
    durationMs: 24 * 3600_000,
    usages: ['digital signature', 'key encipherment', 'server auth', 'client auth'],
    key,
    encoding: 'PKCS8',
    now,
    ...(reuseKeyPem ? { reuseKeyPem } : {}),
  };
}

/** node-forge: build and sign (SHA-256) an RSA-2048 leaf with a pre-generated forge key. */
function forgeSigner(): () => void {
  const caKeys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const leafKeys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const issuer = [{ name: 'commonName', value: 'forge bench CA' }];
  let serial = 1;
  return () => {
    const cert = forge.pki.createCertificate();
    cert.publicKey = leafKeys.publicKey;
    cert.serialNumber = (0x10000000 + serial++).toString(16);
    cert.validity.notBefore = new Date();
    cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
    cert.setSubject([{ name: 'commonName', value: 'web' }]);
    cert.setIssuer(issuer);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 6, value: 'spiffe://cluster.local/ns/default/sa/web' }] },
    ]);
    cert.sign(caKeys.privateKey, forge.md.sha256.create());
    forge.pki.certificateToPem(cert);
  };
}

export async function runPkiBench(): Promise<BenchResult[]> {
  const now = new Date();
  const ca: SigningCA = await loadSigningCA(await generateRootCA({ now }), now);
  const p256: KeyParams = { algorithm: 'ECDSA', size: 256 };
  const reused = (await issueLeaf(ca, request(p256, now))).keyPem;
  const results: BenchResult[] = [];
  results.push(await measure('ECDSA P-256 (keygen + sign)', () => issueLeaf(ca, request(p256, now))));
  results.push(
    await measure('Ed25519 (keygen + sign)', () => issueLeaf(ca, request({ algorithm: 'Ed25519', size: 0 }, now))),
  );
  results.push(
    await measure('RSA-2048 (keygen + sign)', () => issueLeaf(ca, request({ algorithm: 'RSA', size: 2048 }, now))),
  );
  results.push(await measure('ECDSA P-256 (sign only, reused key)', () => issueLeaf(ca, request(p256, now, reused))));
  results.push(
    await measure('ECDSA P-256 via X509CertificateGenerator (keygen + sign)', () =>
      issueLeafWith(referenceLeafDer, ca, request(p256, now)),
    ),
  );
  results.push(await measure('node-forge RSA-2048 (sign only)', forgeSigner()));
  return results;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const results = await runPkiBench();
  const width = Math.max(...results.map((r) => r.name.length));
  console.log(`${'issuance (CA: ECDSA P-256)'.padEnd(width)}  certs/s`);
  for (const r of results) console.log(`${r.name.padEnd(width)}  ${r.perSecond.toFixed(1).padStart(8)}`);
}
