/** Checks of issued leaves shared by the leaf tests: every property, and openssl verify. */
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { IssuedCertificate, LeafRequest } from '../../src/pki/index.ts';
import { isIssuedBy, keyParamsOf, sanOf } from '../../src/pki/index.ts';
import { keyIdOfSpki, tbsFields } from '../../src/pki/der.ts';
import { x509 } from '../../src/pki/x509.ts';
import type { CAFixture } from './helpers.ts';
import { opensslVerify, splitPem, tempDir } from './helpers.ts';

export type Tmp = Awaited<ReturnType<typeof tempDir>>;
const EKU_SERVER = '1.3.6.1.5.5.7.3.1';
const EKU_CLIENT = '1.3.6.1.5.5.7.3.2';

function peculiar(cert: X509Certificate) {
  const p = new x509.X509Certificate(cert.raw);
  return {
    p,
    bc: p.getExtension(x509.BasicConstraintsExtension),
    ku: p.getExtension(x509.KeyUsagesExtension),
    eku: p.getExtension(x509.ExtendedKeyUsageExtension),
    ski: p.getExtension(x509.SubjectKeyIdentifierExtension),
    aki: p.getExtension(x509.AuthorityKeyIdentifierExtension),
    san: p.getExtension(x509.SubjectAlternativeNameExtension),
  };
}

/** Every property of an issued leaf, checked with node:crypto (and @peculiar/x509 for extensions). */
export function checkLeaf(f: CAFixture, req: LeafRequest, issued: IssuedCertificate): X509Certificate {
  const certs = splitPem(issued.certChainPem);
  const leaf = new X509Certificate(certs[0] ?? '');
  // chain: leaf, then the CA chain without the root; ca.crt is the root
  assert.equal(certs.slice(1).join(''), f.ca.chainPem);
  const rootFp = new X509Certificate(f.rootPem).fingerprint256;
  assert.ok(certs.every((c) => new X509Certificate(c).fingerprint256 !== rootFp), 'tls.crt does not carry the root');
  assert.equal(issued.caPem, f.ca.bundlePem);
  assert.ok(isIssuedBy(leaf, f.ca.certificate), 'leaf is signed by the CA');
  assert.ok(tbsFields(leaf.raw).issuer.equals(tbsFields(f.ca.certificate.raw).subject), 'issuer bytes = CA subject bytes');

  // SANs
  const san = sanOf(leaf);
  assert.deepEqual(san.uris, req.uris);
  assert.deepEqual(san.dnsNames, req.dnsNames);
  assert.deepEqual(san.ipAddresses, req.ipAddresses); // the fixtures use canonical IP text
  // subject: CN or empty (then SAN critical)
  const ext = peculiar(leaf);
  if (req.commonName) assert.equal(leaf.subject, `CN=${req.commonName}`);
  else assert.equal(leaf.subject, undefined);
  assert.equal(ext.san?.critical, !req.commonName);

  // extensions
  assert.equal(leaf.ca, false);
  assert.ok(ext.bc?.critical, 'basicConstraints critical');
  assert.equal(ext.bc?.ca, false);
  assert.ok(ext.ku?.critical, 'keyUsage critical');
  const F = x509.KeyUsageFlags;
  const wantKu =
    (req.usages.includes('digital signature') ? F.digitalSignature : 0) |
    (req.usages.includes('key encipherment') ? F.keyEncipherment : 0);
  assert.equal(ext.ku?.usages, wantKu);
  // X.509-SVID: extended key usage, when present, carries both serverAuth and clientAuth.
  const anyEku = req.usages.includes('server auth') || req.usages.includes('client auth');
  assert.deepEqual(leaf.keyUsage ?? [], anyEku ? [EKU_SERVER, EKU_CLIENT] : []);
  const spki = leaf.publicKey.export({ type: 'spki', format: 'der' });
  assert.equal(ext.ski?.keyId, keyIdOfSpki(spki));
  assert.equal(ext.aki?.keyId, peculiar(f.ca.certificate).ski?.keyId);
  assert.ok(ext.aki?.keyId, 'AKI carries the CA key id');

  // validity: backdated, whole seconds, clamped to the CA
  const backdate = req.backdateMs ?? 5 * 60_000;
  const nb = Math.max(Math.floor((req.now.getTime() - backdate) / 1000) * 1000, f.ca.notBefore.getTime());
  assert.equal(leaf.validFromDate.getTime(), nb);
  assert.equal(issued.notBefore.getTime(), nb);
  const wanted = Math.floor((nb + req.durationMs) / 1000) * 1000;
  assert.equal(issued.clamped, wanted > f.ca.notAfter.getTime());
  assert.equal(leaf.validToDate.getTime(), Math.min(wanted, f.ca.notAfter.getTime()));
  assert.equal(issued.notAfter.getTime(), leaf.validToDate.getTime());

  // serial: positive, 128 bits, as reported
  assert.equal(leaf.serialNumber.toLowerCase(), issued.serialNumber);
  assert.match(issued.serialNumber, /^[0-7][0-9a-f]{31}$/);
  assert.notEqual(issued.serialNumber.slice(0, 2), '00');

  // key: encoding, type, matches
  const key = createPrivateKey(issued.keyPem);
  assert.ok(leaf.checkPrivateKey(key), 'tls.key matches tls.crt');
  if (req.reuseKeyPem === undefined) assert.deepEqual(keyParamsOf(key), req.key);
  const header = req.encoding === 'PKCS1' ? 'RSA PRIVATE KEY' : 'PRIVATE KEY';
  assert.ok(issued.keyPem.startsWith(`-----BEGIN ${header}-----\n`), `tls.key is ${header}`);
  return leaf;
}

export async function assertVerifies(tmp: Tmp, id: string, f: CAFixture, issued: IssuedCertificate): Promise<void> {
  for (const purpose of ['sslserver', 'sslclient'] as const) {
    const r = await opensslVerify(tmp, `${id}-${purpose}`, issued.certChainPem, f.rootPem, purpose);
    assert.equal(r.code, 0, `openssl verify -purpose ${purpose}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /: OK\n$/);
  }
}
