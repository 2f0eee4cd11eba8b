import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { issueLeaf, sanOf } from '../../src/pki/index.ts';
import { checkLeaf, type Tmp } from './check.ts';
import { DAY, ED25519, HOUR, intermediateCA, leafRequest, NOW, openssl, opensslVerify, P256, P384, RSA2048, rootCA, tempDir } from './helpers.ts';

describe('issueLeaf options and refusals', function () {
  let tmp: Tmp;
  before(async () => {
    tmp = await tempDir();
  });
  after(() => tmp.cleanup());

  it('puts a commonName in the subject and keeps the SAN extension non-critical', async () => {
    const f = await intermediateCA();
    const req = leafRequest({ commonName: 'web.prod.svc' });
    const issued = await issueLeaf(f.ca, req);
    const leaf = checkLeaf(f, req, issued);
    assert.equal(leaf.subject, 'CN=web.prod.svc');
    const file = await tmp.file('cn.pem', issued.certChainPem);
    const text = (await openssl(['x509', '-in', file, '-noout', '-text'])).stdout;
    assert.match(text, /Subject: CN = web.prod.svc\n/);
    assert.match(text, /X509v3 Subject Alternative Name: \n/);
  });

  it('leaves the subject empty without a commonName, with a critical SAN (openssl text)', async () => {
    const f = await rootCA();
    const issued = await issueLeaf(f.ca, leafRequest());
    const file = await tmp.file('svid.pem', issued.certChainPem);
    const text = (await openssl(['x509', '-in', file, '-noout', '-text'])).stdout;
    assert.match(text, /Subject: \n/);
    assert.match(text, /X509v3 Subject Alternative Name: critical\n\s+URI:spiffe:\/\/cluster.local\/ns\/prod\/sa\/web, DNS:web.prod.svc, DNS:web.prod.svc.cluster.local, IP Address:10.1.2.3, IP Address:2001:DB8:0:0:0:0:0:7\n/);
    assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:FALSE\n/);
    assert.match(text, /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/);
    assert.match(text, /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication, TLS Web Client Authentication\n/);
  });

  it('normalises IP SANs (IPv6 compressed, IPv4-mapped) and rejects what is not an IP', async () => {
    const f = await rootCA();
    const issued = await issueLeaf(f.ca, leafRequest({ ipAddresses: ['::1', '2001:DB8:0:0:0:0:0:1', '::ffff:10.0.0.1', '192.168.0.1'] }));
    const leaf = new X509Certificate(issued.certChainPem);
    assert.deepEqual(sanOf(leaf).ipAddresses, ['::1', '2001:db8::1', '::ffff:a00:1', '192.168.0.1']);
    await assert.rejects(issueLeaf(f.ca, leafRequest({ ipAddresses: ['10.0.0.300'] })), /IP SAN "10.0.0.300"/);
    await assert.rejects(issueLeaf(f.ca, leafRequest({ ipAddresses: ['fe80::1%eth0'] })), /IP SAN/);
  });

  it('clamps notAfter to the CA notAfter and says so', async () => {
    const f = await intermediateCA();
    const req = leafRequest({ durationMs: 400 * DAY });
    const issued = await issueLeaf(f.ca, req);
    checkLeaf(f, req, issued);
    assert.equal(issued.clamped, true);
    assert.equal(issued.notAfter.getTime(), f.ca.notAfter.getTime());
    const within = await issueLeaf(f.ca, leafRequest({ durationMs: 30 * DAY }));
    assert.equal(within.clamped, false);
    assert.equal(within.notAfter.getTime() - within.notBefore.getTime(), 30 * DAY);
  });

  it('backdates notBefore (default 5 minutes, configurable), in whole seconds, not before the CA', async () => {
    const f = await rootCA();
    const odd = new Date(NOW.getTime() + 1234);
    const a = await issueLeaf(f.ca, leafRequest({ now: odd }));
    assert.equal(a.notBefore.getTime(), NOW.getTime() + 1000 - 5 * 60_000);
    const b = await issueLeaf(f.ca, leafRequest({ backdateMs: 0 }));
    assert.equal(b.notBefore.getTime(), NOW.getTime());
    assert.equal(new X509Certificate(b.certChainPem).validFromDate.getTime(), NOW.getTime());
    const early = new Date(f.ca.notBefore.getTime() + 60_000);
    const c = await issueLeaf(f.ca, leafRequest({ now: early, backdateMs: HOUR }));
    assert.equal(c.notBefore.getTime(), f.ca.notBefore.getTime());
  });

  it('X.509-SVID: a spec naming only client auth (or only server auth) still gets both EKUs (issue 19, point 9)', async () => {
    const f = await rootCA();
    for (const only of ['client auth', 'server auth'] as const) {
      const req = leafRequest({ usages: ['digital signature', only] });
      const issued = await issueLeaf(f.ca, req);
      checkLeaf(f, req, issued);
      for (const purpose of ['sslclient', 'sslserver'] as const) {
        const r = await opensslVerify(tmp, `${only.replace(' ', '-')}-${purpose}`, issued.certChainPem, f.rootPem, purpose);
        assert.equal(r.code, 0, `${only} as ${purpose}: ${r.stdout}${r.stderr}`);
      }
    }
  });

  it('fails openssl verification against another root and after notAfter', async () => {
    const f = await rootCA();
    const other = await rootCA(P384);
    const issued = await issueLeaf(f.ca, leafRequest());
    const r = await opensslVerify(tmp, 'other-root', issued.certChainPem, other.rootPem, 'sslserver');
    assert.notEqual(r.code, 0);
    const late = await opensslVerify(tmp, 'late', issued.certChainPem, f.rootPem, 'sslserver', [], new Date(NOW.getTime() + 2 * DAY));
    assert.notEqual(late.code, 0);
    assert.match(late.stdout + late.stderr, /certificate has expired/);
  });

  it('encodes RSA keys as PKCS#1 on request, and refuses PKCS#1 for other keys', async () => {
    const f = await rootCA();
    const req = leafRequest({ key: RSA2048, encoding: 'PKCS1' });
    const issued = await issueLeaf(f.ca, req);
    checkLeaf(f, req, issued);
    const file = await tmp.file('pkcs1.key', issued.keyPem);
    const check = await openssl(['rsa', '-in', file, '-check', '-noout']);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /RSA key ok/);
    for (const key of [P256, ED25519]) {
      await assert.rejects(issueLeaf(f.ca, leafRequest({ key, encoding: 'PKCS1' })), /PKCS1 key encoding is only possible for RSA keys/);
    }
  });

  it('reuses a key (rotationPolicy Never) in either encoding, with a new serial', async () => {
    const f = await intermediateCA();
    const first = await issueLeaf(f.ca, leafRequest({ key: RSA2048, encoding: 'PKCS1' }));
    const req = leafRequest({ key: RSA2048, reuseKeyPem: first.keyPem });
    const second = await issueLeaf(f.ca, req);
    checkLeaf(f, req, second);
    const spki = (pem: string) => new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
    assert.ok(spki(first.certChainPem).equals(spki(second.certChainPem)), 'same public key');
    assert.notEqual(first.serialNumber, second.serialNumber);
    assert.ok(second.keyPem.startsWith('-----BEGIN PRIVATE KEY-----'));

    const ec = await issueLeaf(f.ca, leafRequest());
    await assert.rejects(issueLeaf(f.ca, leafRequest({ reuseKeyPem: ec.keyPem, encoding: 'PKCS1' })), /PKCS1/);
    await assert.rejects(issueLeaf(f.ca, leafRequest({ reuseKeyPem: 'not a key' })), /reuseKeyPem does not decode/);
  });

  it('gives every certificate a distinct random serial', async () => {
    const f = await rootCA();
    const pem = (await issueLeaf(f.ca, leafRequest())).keyPem;
    const serials = new Set<string>();
    for (let i = 0; i < 40; i++) serials.add((await issueLeaf(f.ca, leafRequest({ reuseKeyPem: pem }))).serialNumber);
    assert.equal(serials.size, 40);
    for (const s of serials) assert.ok(parseInt(s.slice(0, 2), 16) >= 1 && parseInt(s.slice(0, 2), 16) < 0x80);
  });

  it('refuses requests that cannot make a valid certificate', async () => {
    const f = await rootCA();
    await assert.rejects(issueLeaf(f.ca, leafRequest({ uris: [], dnsNames: [], ipAddresses: [] })), /commonName or at least one SAN/);
    await assert.rejects(issueLeaf(f.ca, leafRequest({ durationMs: 0 })), /durationMs must be positive/);
    await assert.rejects(issueLeaf(f.ca, leafRequest({ dnsNames: ['bad name'] })), /DNS SAN "bad name"/);
    await assert.rejects(issueLeaf(f.ca, leafRequest({ key: { algorithm: 'ECDSA', size: 521 } })), /unsupported ECDSA key size 521/);
    const late = new Date(f.ca.notAfter.getTime() + DAY);
    await assert.rejects(issueLeaf(f.ca, leafRequest({ now: late })), /the CA expires at/);
  });

  it('issues a commonName-only leaf without a SAN extension', async () => {
    const f = await rootCA();
    const issued = await issueLeaf(f.ca, leafRequest({ commonName: 'legacy', uris: [], dnsNames: [], ipAddresses: [] }));
    const leaf = new X509Certificate(issued.certChainPem);
    assert.equal(leaf.subject, 'CN=legacy');
    assert.equal(leaf.subjectAltName, undefined);
    const r = await opensslVerify(tmp, 'cn-only', issued.certChainPem, f.rootPem, 'sslserver');
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
});
