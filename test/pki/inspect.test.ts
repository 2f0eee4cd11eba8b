import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { cannotHaveSigned, fingerprintOf, inspectIssued, inspectIssuedDeferred, isIssuedBy, issuedInspection, issueLeaf, leafSignedBy, normalizeIp, sanKey, sanOf } from '../../src/pki/index.ts';
import { keyIdentifiers } from '../../src/pki/der.ts';
import { ED25519, intermediateCA, leafRequest, openssl, P384, RSA2048, rootCA, splitPem, tempDir } from './helpers.ts';

describe('inspectIssued', () => {
  it('reads a well-formed pair: leaf, key params, encoding, match', async () => {
    const { ca } = await intermediateCA();
    const issued = await issueLeaf(ca, leafRequest());
    const { ca: stranger } = await rootCA();
    const i = inspectIssued({ certPem: issued.certChainPem, keyPem: issued.keyPem }, [ca.certificate, stranger.certificate]);
    assert.equal(i.problem, undefined);
    const leaf = new X509Certificate(splitPem(issued.certChainPem)[0] ?? '');
    assert.deepEqual(i.leaf, {
      serialNumber: issued.serialNumber,
      notBefore: issued.notBefore.getTime(),
      notAfter: issued.notAfter.getTime(),
      sans: sanKey(sanOf(leaf)),
      authorityKeyId: keyIdentifiers(ca.certificate.raw).subject,
    });
    // The key identifiers as openssl reads them.
    const aki = await openssl(['x509', '-noout', '-ext', 'authorityKeyIdentifier'], leaf.toString());
    assert.equal(aki.stdout.replace(/[^0-9A-F:]/g, '').replace(/:/g, '').toLowerCase().slice(-40), i.leaf?.authorityKeyId);
    const ski = await openssl(['x509', '-noout', '-ext', 'subjectKeyIdentifier'], ca.certificate.toString());
    assert.equal(ski.stdout.split('\n')[1]?.replace(/[^0-9A-F]/g, '').toLowerCase(), keyIdentifiers(ca.certificate.raw).subject);
    assert.equal(cannotHaveSigned(i.leaf!, ca.certificate), false);
    assert.equal(cannotHaveSigned(i.leaf!, stranger.certificate), true, 'another key identifier');
    assert.deepEqual([...i.signedBy!], [[ca.certificate.fingerprint256, true], [stranger.certificate.fingerprint256, false]]);
    assert.deepEqual(i.key, { algorithm: 'ECDSA', size: 256 });
    assert.equal(i.keyEncoding, 'PKCS8');
    assert.equal(i.keyMatchesCert, true);
    assert.ok(!JSON.stringify(i).includes('PRIVATE KEY') && !JSON.stringify(i).includes('CERTIFICATE'), 'no PEM is kept');
    assert.deepEqual(leafSignedBy(issued.certChainPem, [stranger.certificate, ca.certificate]), new Map([[stranger.certificate.fingerprint256, false], [ca.certificate.fingerprint256, true]]));
    assert.equal(leafSignedBy('not a pem', [ca.certificate]), undefined);
  });

  it('inspectIssuedDeferred: the same inspection before any CA is asked, and the leaf\'s exact DER to ask them later', async () => {
    const { ca } = await intermediateCA();
    const { ca: stranger } = await rootCA();
    for (const req of [leafRequest(), leafRequest({ key: ED25519 }), leafRequest({ key: RSA2048, encoding: 'PKCS1' })]) {
      const issued = await issueLeaf(ca, req);
      const material = { certPem: issued.certChainPem, keyPem: issued.keyPem };
      const { inspection, leafDer } = inspectIssuedDeferred(material);
      const { signedBy, ...full } = inspectIssued(material, [ca.certificate, stranger.certificate]);
      assert.deepEqual({ ...inspection, signedBy: new Map() }, { ...full, signedBy: new Map() }, 'everything but the verdicts');
      assert.equal(inspection.signedBy?.size, 0, 'no CA asked');
      // The first PEM block of the chain, decoded here without the pki code.
      const first = issued.certChainPem.split('-----END CERTIFICATE-----')[0]!.replace(/-----BEGIN CERTIFICATE-----|\s/g, '');
      assert.deepEqual(Buffer.from(leafDer!), Buffer.from(first, 'base64'));
      assert.deepEqual(leafSignedBy(leafDer!, [ca.certificate, stranger.certificate]), signedBy, 'the verdicts from the DER are the full inspection\'s');
      const asked = inspectIssuedDeferred(material, [ca.certificate, stranger.certificate]);
      assert.deepEqual(asked.inspection, inspectIssued(material, [ca.certificate, stranger.certificate]), 'with CAs to ask: the full inspection');
      assert.equal(asked.leafDer, undefined, 'and no DER kept: nothing is left to ask');
    }
    assert.equal(inspectIssuedDeferred({ certPem: 'not a pem', keyPem: 'nor this' }).leafDer, undefined);
    assert.equal(leafSignedBy(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), [ca.certificate]), undefined, 'DER that is no certificate');
  });

  it("issuedInspection (what the issuer knows) says what inspectIssued finds, for every key type and encoding", async () => {
    const { ca } = await intermediateCA();
    for (const req of [leafRequest(), leafRequest({ key: P384 }), leafRequest({ key: ED25519 }), leafRequest({ key: RSA2048, encoding: 'PKCS1' })]) {
      const issued = await issueLeaf(ca, req);
      assert.deepEqual(issuedInspection(issued, req.key, ca.certificate), inspectIssued({ certPem: issued.certChainPem, keyPem: issued.keyPem }, [ca.certificate]));
    }
  });

  it('sanKey: the same sets in any order and with repeats give one key; any other name another', () => {
    const a = sanKey({ dnsNames: ['b', 'a'], ipAddresses: ['10.0.0.1'], uris: ['spiffe://td/x'] });
    assert.equal(sanKey({ dnsNames: ['a', 'b', 'a'], ipAddresses: ['10.0.0.1'], uris: ['spiffe://td/x'] }), a);
    assert.notEqual(sanKey({ dnsNames: ['a'], ipAddresses: ['10.0.0.1'], uris: ['spiffe://td/x'] }), a);
    assert.notEqual(sanKey({ dnsNames: ['a', 'b'], ipAddresses: [], uris: ['10.0.0.1', 'spiffe://td/x'] }), a, 'a name moved to another kind');
    assert.notEqual(sanKey({ dnsNames: ['a', 'b'], ipAddresses: ['10.0.0.1'], uris: ['spiffe://td/y'] }), a);
  });

  it('reports key algorithm and size for every key type, and PKCS#1', async () => {
    const { ca } = await rootCA();
    for (const [req, key, encoding] of [
      [leafRequest({ key: P384 }), P384, 'PKCS8'],
      [leafRequest({ key: ED25519 }), ED25519, 'PKCS8'],
      [leafRequest({ key: RSA2048, encoding: 'PKCS1' }), RSA2048, 'PKCS1'],
    ] as const) {
      const issued = await issueLeaf(ca, req);
      const i = inspectIssued({ certPem: issued.certChainPem, keyPem: issued.keyPem });
      assert.equal(i.problem, undefined);
      assert.deepEqual(i.key, key);
      assert.equal(i.keyEncoding, encoding);
    }
  });

  it('a SEC1 EC key is usable but in neither requested encoding', async () => {
    const { ca } = await rootCA();
    const issued = await issueLeaf(ca, leafRequest());
    const sec1 = createPrivateKey(issued.keyPem).export({ type: 'sec1', format: 'pem' }) as string;
    const i = inspectIssued({ certPem: issued.certChainPem, keyPem: sec1 });
    assert.equal(i.problem, undefined);
    assert.equal(i.keyEncoding, undefined);
    assert.equal(i.keyMatchesCert, true);
  });

  it('names what is missing or broken, and never throws', async () => {
    const { ca } = await rootCA();
    const a = await issueLeaf(ca, leafRequest());
    const b = await issueLeaf(ca, leafRequest());
    assert.equal(inspectIssued({}).problem, 'tls.crt is missing');
    assert.equal(inspectIssued({ keyPem: a.keyPem }).problem, 'tls.crt is missing');
    assert.equal(inspectIssued({ certPem: a.certChainPem }).problem, 'tls.key is missing');
    assert.equal(inspectIssued({ certPem: a.certChainPem, keyPem: '  \n' }).problem, 'tls.key is missing');
    assert.equal(inspectIssued({ certPem: a.certChainPem, keyPem: 'garbage' }).problem, 'tls.key does not decode as a private key');
    assert.equal(inspectIssued({ certPem: 'garbage', keyPem: a.keyPem }).problem, 'tls.crt does not decode as a PEM certificate');
    const broken = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    assert.equal(inspectIssued({ certPem: broken, keyPem: a.keyPem }).problem, 'tls.crt does not decode as a PEM certificate');
    const mismatch = inspectIssued({ certPem: a.certChainPem, keyPem: b.keyPem });
    assert.equal(mismatch.problem, 'tls.key does not match the certificate in tls.crt');
    assert.equal(mismatch.keyMatchesCert, false);
    assert.deepEqual(mismatch.key, { algorithm: 'ECDSA', size: 256 });
    const weird = [undefined, null, 42, {}, '-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----'];
    for (const v of weird) {
      const r = inspectIssued({ certPem: v as unknown as string, keyPem: v as unknown as string });
      assert.equal(typeof r.problem, 'string');
    }
  });
});

describe('sanOf, isIssuedBy, fingerprintOf, normalizeIp', () => {
  it('sanOf unquotes values node escapes', async () => {
    const { ca } = await rootCA();
    const uris = ['spiffe://td/ns/a,b/sa/"q"', 'spiffe://td/x:y'];
    const issued = await issueLeaf(ca, leafRequest({ uris, dnsNames: ['a.example', 'b,c.example'], ipAddresses: ['::1'] }));
    const leaf = new X509Certificate(issued.certChainPem);
    assert.match(leaf.subjectAltName ?? '', /URI:"spiffe:\/\/td\/ns\/a\\u002cb/);
    assert.deepEqual(sanOf(leaf), { uris, dnsNames: ['a.example', 'b,c.example'], ipAddresses: ['::1'] });
  });

  it('isIssuedBy follows the real issuer only', async () => {
    const root = await rootCA();
    const im = await intermediateCA();
    const other = await rootCA(P384);
    const byIm = new X509Certificate((await issueLeaf(im.ca, leafRequest())).certChainPem);
    assert.equal(isIssuedBy(byIm, im.ca.certificate), true);
    assert.equal(isIssuedBy(byIm, root.ca.certificate), false);
    assert.equal(isIssuedBy(byIm, other.ca.certificate), false);
    assert.equal(isIssuedBy(im.ca.certificate, root.ca.certificate), true);
  });

  it('fingerprintOf is openssl\'s SHA-256 fingerprint', async () => {
    const tmp = await tempDir();
    try {
      const { ca } = await intermediateCA();
      const file = await tmp.file('c.pem', ca.chainPem);
      const out = (await openssl(['x509', '-in', file, '-noout', '-fingerprint', '-sha256'])).stdout;
      assert.equal(fingerprintOf(ca.certificate), out.trim().split('=')[1]?.replace(/:/g, '').toLowerCase());
    } finally {
      await tmp.cleanup();
    }
  });

  it('normalizeIp canonicalises IPv6 and refuses non-addresses', () => {
    assert.equal(normalizeIp('10.0.0.1'), '10.0.0.1');
    assert.equal(normalizeIp('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(normalizeIp('2001:DB8::0:1'), '2001:db8::1');
    assert.equal(normalizeIp('::ffff:192.168.0.1'), '::ffff:c0a8:1');
    for (const bad of ['10.0.0.256', 'fe80::1%eth0', '10.0.0.0/8', 'host', '']) assert.equal(normalizeIp(bad), undefined, bad);
  });
});
