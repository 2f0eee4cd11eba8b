import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { CAMaterial, SigningCA } from '../../src/pki/index.ts';
import {
  fingerprintOf,
  generateIntermediateCA,
  generateRootCA,
  issueLeaf,
  keyParamsOf,
  loadSigningCA,
} from '../../src/pki/index.ts';
import { keyIdOfSpki, tbsFields } from '../../src/pki/der.ts';
import { x509 } from '../../src/pki/x509.ts';
import { DAY, HOUR, leafRequest, NOW, openssl, opensslVerify, P384, splitPem, tempDir } from './helpers.ts';

type Tmp = Awaited<ReturnType<typeof tempDir>>;

function exts(pem: string) {
  const p = new x509.X509Certificate(new X509Certificate(pem).raw);
  return {
    bc: p.getExtension(x509.BasicConstraintsExtension),
    ku: p.getExtension(x509.KeyUsagesExtension),
    ski: p.getExtension(x509.SubjectKeyIdentifierExtension),
    aki: p.getExtension(x509.AuthorityKeyIdentifierExtension),
  };
}


describe('CA generation', function () {
  let tmp: Tmp;
  before(async () => {
    tmp = await tempDir();
  });
  after(() => tmp.cleanup());

  it('generateRootCA makes a self-signed ECDSA P-256 root with proper CA extensions', async () => {
    const m = await generateRootCA({ now: NOW, commonName: 'Acme Root' });
    const cert = new X509Certificate(m.certPem);
    assert.equal(cert.subject, 'CN=Acme Root');
    assert.equal(cert.issuer, 'CN=Acme Root');
    assert.ok(cert.verify(cert.publicKey) && cert.checkIssued(cert), 'self-signed');
    assert.equal(cert.ca, true);
    const e = exts(m.certPem);
    assert.equal(e.bc?.critical, true);
    assert.equal(e.bc?.ca, true);
    assert.equal(e.ku?.critical, true);
    const F = x509.KeyUsageFlags;
    assert.equal(e.ku?.usages, F.keyCertSign | F.cRLSign, 'X.509-SVID signing certificate: keyCertSign and cRLSign only');
    assert.equal(e.ski?.keyId, keyIdOfSpki(cert.publicKey.export({ type: 'spki', format: 'der' })));
    assert.match(cert.serialNumber, /^[0-7][0-9A-F]{31}$/);
    assert.equal(cert.validFromDate.getTime(), NOW.getTime() - HOUR);
    assert.equal(cert.validToDate.getTime(), NOW.getTime() + 3650 * DAY);
    const key = createPrivateKey(m.keyPem);
    assert.ok(m.keyPem.startsWith('-----BEGIN PRIVATE KEY-----'));
    assert.deepEqual(keyParamsOf(key), { algorithm: 'ECDSA', size: 256 });
    assert.ok(cert.checkPrivateKey(key));
    assert.equal(m.bundlePem, m.certPem);
    const other = new X509Certificate((await generateRootCA({ now: NOW })).certPem);
    assert.notEqual(other.serialNumber, cert.serialNumber);
    assert.equal(other.subject, 'CN=mtls-operator root CA');

    const file = await tmp.file('root.pem', m.certPem);
    const v = await openssl(['verify', '-x509_strict', '-check_ss_sig', '-attime', String(NOW.getTime() / 1000), '-CAfile', file, file]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const text = (await openssl(['x509', '-in', file, '-noout', '-text'])).stdout;
    assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:TRUE\n/);
    assert.match(text, /X509v3 Key Usage: critical\n\s+Certificate Sign, CRL Sign\n/);
    assert.match(text, /ASN1 OID: prime256v1/);
  });

  it('generateRootCA honours validityDays and key', async () => {
    const m = await generateRootCA({ now: NOW, validityDays: 10, key: P384 });
    const cert = new X509Certificate(m.certPem);
    assert.equal(cert.validToDate.getTime(), NOW.getTime() + 10 * DAY);
    assert.deepEqual(keyParamsOf(createPrivateKey(m.keyPem)), P384);
  });

  it('generateIntermediateCA signs an intermediate with pathlen, AKI, clamped to the parent', async () => {
    const root = await loadSigningCA(await generateRootCA({ now: NOW, validityDays: 100 }), NOW);
    const m = await generateIntermediateCA(root, { commonName: 'Issuing CA', validityDays: 1000, now: NOW, pathLength: 0 });
    const [im = '', ...rest] = splitPem(m.certPem);
    assert.equal(rest.length, 0, 'the root is not in the intermediate chain');
    assert.equal(m.bundlePem, root.bundlePem);
    const cert = new X509Certificate(im);
    assert.equal(cert.subject, 'CN=Issuing CA');
    assert.equal(cert.validToDate.getTime(), root.notAfter.getTime(), 'clamped to the parent');
    assert.ok(cert.checkIssued(root.certificate) && cert.verify(root.certificate.publicKey));
    const e = exts(im);
    assert.equal(e.bc?.ca, true);
    assert.equal(e.bc?.pathLength, 0);
    assert.equal(e.aki?.keyId, exts(root.bundlePem).ski?.keyId);
    assert.ok(tbsFields(cert.raw).issuer.equals(tbsFields(root.certificate.raw).subject));
    const file = await tmp.file('im.pem', im);
    const text = (await openssl(['x509', '-in', file, '-noout', '-text'])).stdout;
    assert.match(text, /CA:TRUE, pathlen:0/);
    const r = await opensslVerify(tmp, 'im', im, root.bundlePem, 'sslserver', ['-purpose', 'any']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
});

describe('loadSigningCA', function () {
  let tmp: Tmp;
  let rootM: CAMaterial;
  let otherRootM: CAMaterial;
  let root: SigningCA;
  let imM: CAMaterial;
  before(async () => {
    tmp = await tempDir();
    rootM = await generateRootCA({ now: NOW, commonName: 'Root A' });
    otherRootM = await generateRootCA({ now: NOW, commonName: 'Root B' });
    root = await loadSigningCA(rootM, NOW);
    imM = await generateIntermediateCA(root, { commonName: 'Intermediate A', validityDays: 30, now: NOW });
  });
  after(() => tmp.cleanup());

  it('loads a root: bundle is the root, the chain is empty, fingerprint is SHA-256 of the DER', async () => {
    const ca = await loadSigningCA({ certPem: rootM.certPem, keyPem: rootM.keyPem }, NOW);
    assert.equal(ca.bundlePem, rootM.certPem);
    assert.equal(ca.chainPem, '');
    assert.equal(ca.certificate.subject, 'CN=Root A');
    const file = await tmp.file('fp.pem', rootM.certPem);
    const fp = (await openssl(['x509', '-in', file, '-noout', '-fingerprint', '-sha256'])).stdout;
    assert.equal(ca.fingerprint, fp.trim().split('=')[1]?.replace(/:/g, '').toLowerCase());
    assert.equal(fingerprintOf(ca.certificate), ca.fingerprint);
    assert.equal(ca.notBefore.getTime(), NOW.getTime() - HOUR);
    assert.equal(ca.notAfter.getTime(), NOW.getTime() + 3650 * DAY);
    assert.equal(ca.privateKey.type, 'private');
    assert.equal(ca.privateKey.extractable, false);
  });

  it('loads an intermediate with ca.crt, or with the root appended to tls.crt', async () => {
    const withBundle = await loadSigningCA(imM, NOW);
    const [im = ''] = splitPem(imM.certPem);
    assert.equal(withBundle.chainPem, im);
    assert.equal(withBundle.bundlePem, rootM.certPem);
    assert.equal(withBundle.certificate.subject, 'CN=Intermediate A');
    const appended = await loadSigningCA({ certPem: im + rootM.certPem, keyPem: imM.keyPem }, NOW);
    assert.equal(appended.chainPem, im, 'the root is not part of the chain');
    assert.equal(appended.bundlePem, rootM.certPem);
    assert.equal(appended.notAfter.getTime(), new X509Certificate(im).validToDate.getTime());
    // a bundle with several roots works too
    const multi = await loadSigningCA({ ...imM, bundlePem: otherRootM.certPem + rootM.certPem }, NOW);
    assert.equal(multi.bundlePem, otherRootM.certPem + rootM.certPem);
  });

  it('loads a two-level intermediate chain and its leaves verify', async () => {
    const im1 = await loadSigningCA(await generateIntermediateCA(root, { commonName: 'L1', validityDays: 60, now: NOW }), NOW);
    const m2 = await generateIntermediateCA(im1, { commonName: 'L2', validityDays: 30, now: NOW, pathLength: 0 });
    assert.equal(splitPem(m2.certPem).length, 2);
    const im2 = await loadSigningCA(m2, NOW);
    assert.equal(splitPem(im2.chainPem).length, 2);
    const leaf = await issueLeaf(im2, leafRequest());
    assert.equal(splitPem(leaf.certChainPem).length, 3);
    const r = await opensslVerify(tmp, 'l2', leaf.certChainPem, rootM.certPem, 'sslclient');
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  it('takes PKCS#1 RSA and SEC1 EC keys from an openssl-made CA with a multi-RDN UTF-8 subject', async () => {
    for (const [kind, genArgs, conv] of [
      ['rsa', ['genrsa', '2048'], ['rsa', '-traditional']],
      ['ec', ['ecparam', '-genkey', '-name', 'prime256v1', '-noout'], ['ec']],
    ] as const) {
      const raw = await tmp.file(`${kind}-raw.key`, (await openssl([...genArgs])).stdout);
      const keyPem = (await openssl([...conv, '-in', raw])).stdout;
      assert.match(keyPem, kind === 'rsa' ? /BEGIN RSA PRIVATE KEY/ : /BEGIN EC PRIVATE KEY/);
      const keyFile = await tmp.file(`${kind}.key`, keyPem);
      const certFile = `${tmp.dir}/${kind}-ca.pem`;
      const req = await openssl([
        'req', '-x509', '-new', '-key', keyFile, '-out', certFile, '-days', '30',
        '-subj', `/C=DE/O=Acme Größe GmbH/CN=OpenSSL ${kind} CA`, '-utf8',
        '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      ]);
      assert.equal(req.code, 0, req.stderr);
      const certPem = (await openssl(['x509', '-in', certFile])).stdout;
      const now = new Date(); // after openssl stamped notBefore with its clock
      const ca = await loadSigningCA({ certPem, keyPem }, now);
      assert.equal(ca.certificate.subject, `C=DE\nO=Acme Größe GmbH\nCN=OpenSSL ${kind} CA`);
      const leaf = await issueLeaf(ca, leafRequest({ now }));
      const leafCert = new X509Certificate(leaf.certChainPem);
      assert.ok(tbsFields(leafCert.raw).issuer.equals(tbsFields(ca.certificate.raw).subject), 'issuer bytes = CA subject bytes');
      const r = await opensslVerify(tmp, `ossl-${kind}`, leaf.certChainPem, certPem, 'sslserver', [], new Date(now.getTime() + HOUR));
      assert.equal(r.code, 0, r.stdout + r.stderr);
    }
  });
});
