/**
 * The public key of a PodCertificateRequest (stub PKCS#10 or PKIX) and the leaf issued to it:
 * supported key types pass, others are named in the refusal, and the certificate carries exactly
 * the request's key and verifies with openssl -x509_strict.
 */
import assert from 'node:assert/strict';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { webcrypto } from 'node:crypto';
import { issueLeafForKey, requestedKey } from '../../src/pki/index.ts';
import { x509 } from '../../src/pki/x509.ts';
import { HOUR, NOW, intermediateCA, opensslVerify, rootCA, tempDir } from './helpers.ts';

type Alg = { name: string; namedCurve?: string; modulusLength?: number; publicExponent?: Uint8Array; hash?: string };
const ALGS: Record<string, { gen: Alg; sign: Alg & { hash?: string } }> = {
  'ECDSA P-256': { gen: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } },
  'ECDSA P-384': { gen: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' } },
  'ECDSA P-521': { gen: { name: 'ECDSA', namedCurve: 'P-521' }, sign: { name: 'ECDSA', hash: 'SHA-512' } },
  Ed25519: { gen: { name: 'Ed25519' }, sign: { name: 'Ed25519' } },
  'RSA 2048': { gen: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } },
  'RSA 3072': { gen: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 3072, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } },
};

/** An empty stub PKCS#10 request, as the kubelet makes one, and the SPKI of its key. */
async function stubRequest(alg: string): Promise<{ der: Buffer; spki: Buffer }> {
  const { gen, sign } = ALGS[alg]!;
  const keys = (await webcrypto.subtle.generateKey(gen as never, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: sign as never });
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey));
  return { der: Buffer.from(csr.rawData), spki };
}

describe('requestedKey: the key of a PodCertificateRequest', function () {
  this.timeout(60_000);
  for (const [alg, want] of [['ECDSA P-256', { algorithm: 'ECDSA', size: 256 }], ['ECDSA P-384', { algorithm: 'ECDSA', size: 384 }], ['Ed25519', { algorithm: 'Ed25519', size: 0 }], ['RSA 3072', { algorithm: 'RSA', size: 3072 }]] as const) {
    it(`${alg} from a stub PKCS#10 request: accepted, the SPKI is the request's`, async () => {
      const req = await stubRequest(alg);
      const got = requestedKey(req.der, undefined);
      assert.ok(got.ok, !got.ok ? got.message : '');
      assert.deepEqual(got.key, want);
      assert.deepEqual(got.spki, req.spki);
    });
  }
  for (const alg of ['ECDSA P-521', 'RSA 2048']) {
    it(`${alg}: refused, the message names the key and what to use instead`, async () => {
      const got = requestedKey((await stubRequest(alg)).der, undefined);
      assert.equal(got.ok, false);
      assert.match((got as { message: string }).message, alg.startsWith('ECDSA') ? /ECDSA secp521r1/ : /RSA 2048/);
      assert.match((got as { message: string }).message, /ECDSA P-256 or P-384, Ed25519, RSA 3072 or 4096/);
    });
  }
  it('a PKIX public key (v1beta1 requests before 1.36) is read when there is no stub request', async () => {
    const { spki } = await stubRequest('ECDSA P-256');
    const got = requestedKey(undefined, spki);
    assert.ok(got.ok);
    assert.deepEqual(got.spki, spki);
  });
  it('neither, or bytes that do not parse: refused with a message, no throw', () => {
    assert.match((requestedKey(undefined, undefined) as { message: string }).message, /neither stubPKCS10Request nor pkixPublicKey/);
    assert.match((requestedKey(Buffer.from('not der'), undefined) as { message: string }).message, /does not parse/);
  });
});

describe('issueLeafForKey: a leaf for a key the signer never holds', function () {
  this.timeout(60_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  before(async () => { tmp = await tempDir(); });
  after(() => tmp.cleanup());

  for (const alg of ['ECDSA P-256', 'Ed25519', 'RSA 3072']) {
    it(`${alg}: the certificate holds the request's public key, the SPIFFE ID, and verifies -x509_strict through an intermediate`, async () => {
      const req = await stubRequest(alg);
      const key = requestedKey(req.der, undefined);
      assert.ok(key.ok);
      const { ca, rootPem } = await intermediateCA();
      const issued = await issueLeafForKey(ca, {
        spki: key.spki, uris: ['spiffe://cluster.local/ns/prod/sa/web'], dnsNames: ['web.prod.svc'], ipAddresses: [],
        durationMs: 2 * HOUR, usages: ['digital signature', 'server auth', 'client auth'], now: NOW, backdateMs: 60_000,
      });
      const leaf = new X509Certificate(issued.certChainPem);
      assert.deepEqual(leaf.publicKey.export({ type: 'spki', format: 'der' }), createPublicKey({ key: req.spki, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' }));
      assert.equal(issued.notBefore.getTime(), NOW.getTime() - 60_000);
      assert.equal(issued.notAfter.getTime() - issued.notBefore.getTime(), 2 * HOUR);
      assert.match(leaf.subjectAltName ?? '', /URI:spiffe:\/\/cluster\.local\/ns\/prod\/sa\/web/);
      assert.ok(!leaf.subject, 'empty subject');
      assert.equal(issued.certChainPem.split('BEGIN CERTIFICATE').length - 1, 2, 'leaf + intermediate');
      for (const purpose of ['sslserver', 'sslclient'] as const) {
        const r = await opensslVerify(tmp, `${alg.replace(/\W/g, '')}-${purpose}`, issued.certChainPem, rootPem, purpose);
        assert.equal(r.code, 0, r.stderr + r.stdout);
      }
    });
  }

  it('cut to the CA: notAfter never passes it (clamped says so)', async () => {
    const { ca } = await rootCA();
    const key = requestedKey((await stubRequest('ECDSA P-256')).der, undefined);
    assert.ok(key.ok);
    const late = new Date(ca.notAfter.getTime() - 2 * HOUR);
    const issued = await issueLeafForKey(ca, { spki: key.spki, uris: ['spiffe://x/ns/a/sa/b'], dnsNames: [], ipAddresses: [], durationMs: 24 * HOUR, usages: ['digital signature'], now: late, backdateMs: 60_000 });
    assert.equal(issued.clamped, true);
    assert.equal(issued.notAfter.getTime(), Math.floor(ca.notAfter.getTime() / 1000) * 1000);
  });
});
