/**
 * The hand-written leaf encoder (leaf-der.ts) against @peculiar/x509's generator
 * (leaf-reference.ts): same plan, same bytes.
 */
import assert from 'node:assert/strict';
import { KeyObject, X509Certificate } from 'node:crypto';
import type { KeyUsage } from '../../src/api/types.ts';
import type { SigningCA } from '../../src/pki/index.ts';
import { generateKey, generateRootCA, issueLeaf, loadSigningCA } from '../../src/pki/index.ts';
import { commonNameDer, keyUsageBits, time } from '../../src/pki/asn1.ts';
import { childrenOf, keyIdOfSpki, readTlv } from '../../src/pki/der.ts';
import { leafTbsDer, signTbs, type LeafPlan } from '../../src/pki/leaf-der.ts';
import { referenceLeafDer } from '../../src/pki/leaf-reference.ts';
import { issueLeafWith, planLeaf } from '../../src/pki/leaf.ts';
import { prepare } from '../../src/pki/prepared.ts';
import { spkiOf } from '../../src/pki/keys.ts';
import { x509 } from '../../src/pki/x509.ts';
import { DAY, ED25519, intermediateCA, leafRequest, NOW, P256, P384, RSA2048, rootCA } from './helpers.ts';

/** The TBSCertificate bytes of a DER certificate. */
function tbsOf(der: Uint8Array): Buffer {
  const cert = readTlv(der, 0);
  const [tbs] = childrenOf(der, cert);
  assert.ok(tbs);
  return Buffer.from(der.subarray(tbs.start, tbs.end));
}

async function spkiFor(key = P256): Promise<Buffer> {
  return spkiOf(KeyObject.from((await generateKey(key)).publicKey));
}

const usageSets: KeyUsage[][] = [
  ['digital signature', 'key encipherment', 'server auth', 'client auth'],
  ['digital signature', 'client auth'],
  ['key encipherment', 'server auth'],
  [],
];

let long: Promise<{ ca: SigningCA }> | undefined;
function longRoot(): Promise<{ ca: SigningCA }> {
  long ??= generateRootCA({ now: NOW, validityDays: 30 * 365 }).then(async (m) => ({ ca: await loadSigningCA(m, NOW) }));
  return long;
}

describe('leaf DER encoder = @peculiar/x509 generator', function () {
  const fixtures = [
    ['P-256 root', () => rootCA(P256)],
    ['P-384 root', () => rootCA(P384)],
    ['RSA root', () => rootCA(RSA2048)],
    ['Ed25519 root', () => rootCA(ED25519)],
    ['P-256 intermediate', () => intermediateCA(P256)],
    ['P-256 root valid past 2050', longRoot],
  ] as const;

  for (const [name, fixture] of fixtures) {
    it(`produces the same TBSCertificate for a ${name} CA, across subjects, usages, SANs and dates`, async () => {
      const { ca } = await fixture();
      const prepared = prepare(ca);
      const spkis = [await spkiFor(P256), await spkiFor(ED25519), await spkiFor(P384)];
      let n = 0;
      for (const commonName of [undefined, 'web', 'Größe – ünïcode', "o'k (1)+,-./:=?"]) {
        for (const usages of usageSets) {
          for (const sans of [
            { uris: ['spiffe://td/ns/a/sa/b'], dnsNames: ['a.example'], ipAddresses: ['10.0.0.1', '::1', 'fe80::1:2', '2001:db8:0:1:0:0:0:1'] },
            { uris: [], dnsNames: Array.from({ length: 40 }, (_, i) => `host-${i}.a-rather-long-namespace.svc.cluster.local`), ipAddresses: [] },
            { uris: [], dnsNames: [], ipAddresses: commonName ? [] : ['192.168.1.1'] },
          ]) {
            const spki = spkis[n % spkis.length] as Buffer;
            const late = new Date(Date.UTC(2049, 11, 31, 23, 0, 0)); // notAfter in 2050: GeneralizedTime
            const now = n % 3 === 0 && late < ca.notAfter ? late : NOW;
            const req = leafRequest({ ...(commonName ? { commonName } : {}), usages, ...sans, now, durationMs: (n + 1) * DAY });
            const plan: LeafPlan = { ...planLeaf(ca, req), spki, subjectKeyId: keyIdOfSpki(spki) };
            const mine = leafTbsDer(plan, prepared);
            const reference = tbsOf(await referenceLeafDer(ca, plan));
            assert.equal(mine.toString('hex'), reference.toString('hex'), `plan ${n}: ${JSON.stringify({ commonName, usages, now })}`);
            n++;
          }
        }
      }
      assert.ok(n >= 40, `compared ${n} plans`);
    });
  }

  it('signs to the very same certificate as the reference with a deterministic (Ed25519) CA key', async () => {
    const { ca } = await rootCA(ED25519);
    const spki = await spkiFor(RSA2048);
    const plan: LeafPlan = { ...planLeaf(ca, leafRequest({ commonName: 'x' })), spki, subjectKeyId: keyIdOfSpki(spki) };
    const prepared = prepare(ca);
    const mine = await signTbs(ca, prepared, leafTbsDer(plan, prepared));
    const reference = await referenceLeafDer(ca, plan);
    assert.equal(mine.toString('hex'), reference.toString('hex'));
  });

  it('issueLeafWith the reference encoder gives certificates with the same content as issueLeaf', async () => {
    const { ca } = await intermediateCA();
    const req = leafRequest();
    const a = new X509Certificate((await issueLeaf(ca, req)).certChainPem);
    const b = new X509Certificate((await issueLeafWith(referenceLeafDer, ca, req)).certChainPem);
    for (const field of ['subject', 'issuer', 'subjectAltName', 'validFrom', 'validTo', 'ca'] as const) {
      assert.equal(a[field], b[field], field);
    }
    assert.deepEqual(a.keyUsage, b.keyUsage);
    assert.ok(a.verify(ca.certificate.publicKey) && b.verify(ca.certificate.publicKey));
  });

  it('encodes every keyUsage combination as @peculiar/x509 does', () => {
    for (let flags = 1; flags < 512; flags++) {
      const reference = new x509.KeyUsagesExtension(flags, true);
      const value = Buffer.from(reference.value).toString('hex');
      assert.equal(keyUsageBits(flags).toString('hex'), value, `flags ${flags}`);
    }
  });

  it('encodes times as UTCTime through 2049 and GeneralizedTime from 2050', () => {
    assert.equal(time(new Date('2049-12-31T23:59:59Z')).toString('latin1').slice(2), '491231235959Z');
    assert.equal(time(new Date('2049-12-31T23:59:59Z'))[0], 0x17);
    assert.equal(time(new Date('2050-01-01T00:00:00Z')).toString('latin1').slice(2), '20500101000000Z');
    assert.equal(time(new Date('2050-01-01T00:00:00Z'))[0], 0x18);
  });

  it('encodes a commonName as PrintableString when it can, else UTF8String', () => {
    assert.equal(commonNameDer('web-1')[9 + 2], 0x13);
    const utf8 = commonNameDer('wéb');
    assert.equal(utf8[11], 0x0c);
    assert.equal(new x509.Name(utf8).toString(), 'CN=wéb');
  });
});
