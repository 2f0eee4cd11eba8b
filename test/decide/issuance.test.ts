import assert from 'node:assert/strict';
import { needsIssuance, type IssuanceInput } from '../../src/decide/issuance.ts';
import { generateRootCA, inspectIssued, issueLeaf, loadSigningCA } from '../../src/pki/index.ts';
import type { Inspection, IssuedCertificate, LeafFacts, SigningCA } from '../../src/pki/types.ts';

const H = 3_600_000;
const t0 = new Date(Date.UTC(2026, 10, 23, 12));
const SPIFFE = 'spiffe://cluster.local/ns/dev/sa/default';

describe('needsIssuance: why an identity needs a certificate', () => {
  let ca: SigningCA;
  let otherCa: SigningCA;
  let issued: IssuedCertificate;
  let good: Inspection;

  before(async () => {
    ca = await loadSigningCA(await generateRootCA({ now: new Date(t0.getTime() - H) }), t0);
    otherCa = await loadSigningCA(await generateRootCA({ now: new Date(t0.getTime() - H) }), t0);
    issued = await issueLeaf(ca, { dnsNames: ['web'], ipAddresses: [], uris: [SPIFFE], durationMs: 24 * H, usages: ['digital signature', 'server auth', 'client auth'], key: { algorithm: 'ECDSA', size: 256 }, encoding: 'PKCS8', now: t0, backdateMs: 0 });
    good = inspectIssued({ certPem: issued.certChainPem, keyPem: issued.keyPem }, [ca.certificate, otherCa.certificate]);
  });

  function input(over: Partial<IssuanceInput> = {}): IssuanceInput {
    return {
      now: new Date(t0.getTime() + H),
      secretExists: true,
      hasCert: true,
      hasKey: true,
      inspection: good,
      specHash: 'h1',
      issuedSpecHash: 'h1',
      wanted: { dnsNames: ['web'], ipAddresses: [], uris: [SPIFFE] },
      issuedByCurrentCA: (_leaf: LeafFacts) => good.signedBy!.get(ca.certificate.fingerprint256)!,
      ...over,
    };
  }

  it('a valid certificate needs nothing', () => {
    assert.equal(needsIssuance(input()), undefined);
  });

  const table: Array<[string, () => Partial<IssuanceInput>, string]> = [
    ['Secret missing', () => ({ secretExists: false, hasCert: false, hasKey: false, inspection: {} }), 'SecretMissing'],
    ['tls.key missing', () => ({ hasKey: false, inspection: inspectIssued({ certPem: issued.certChainPem }) }), 'KeyPairMissing'],
    ['tls.crt missing', () => ({ hasCert: false, inspection: inspectIssued({ keyPem: issued.keyPem }) }), 'KeyPairMissing'],
    ['tls.crt undecodable', () => ({ inspection: inspectIssued({ certPem: 'not a pem', keyPem: issued.keyPem }) }), 'InvalidKeyPair'],
    ['tls.key undecodable', () => ({ inspection: inspectIssued({ certPem: issued.certChainPem, keyPem: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' }) }), 'InvalidKeyPair'],
    ['signed by another CA', () => ({ issuedByCurrentCA: () => good.signedBy!.get(otherCa.certificate.fingerprint256)! }), 'IncorrectIssuer'],
    ['spec hash changed', () => ({ specHash: 'h2' }), 'SpecChanged'],
    ['issued for no known spec', () => ({ issuedSpecHash: undefined }), 'SpecChanged'],
    ['names in the certificate differ from the spec', () => ({ wanted: { dnsNames: ['web', 'api'], ipAddresses: [], uris: [SPIFFE] } }), 'SpecChanged'],
    ['SPIFFE ID differs', () => ({ wanted: { dnsNames: ['web'], ipAddresses: [], uris: ['spiffe://cluster.local/ns/dev/sa/other'] } }), 'SpecChanged'],
    ['renewal requested', () => ({ renewRequest: 'now' }), 'ManuallyTriggered'],
    ['renewal time reached', () => ({ now: new Date(issued.notAfter.getTime() - 8 * H) }), 'RenewalTimeReached'],
    ['renewBefore honoured', () => ({ renewBeforeMs: 12 * H, now: new Date(issued.notAfter.getTime() - 12 * H) }), 'RenewalTimeReached'],
    ['expired', () => ({ now: new Date(issued.notAfter.getTime() + 1) }), 'Expired'],
  ];
  for (const [name, over, reason] of table) {
    it(`${name} → ${reason}`, () => {
      const need = needsIssuance(input(over()));
      assert.ok(need, 'a reason is returned');
      assert.equal(need.reason, reason);
      assert.ok(need.message.length > 0);
    });
  }

  it('a key that does not match the certificate → KeyMismatch', async () => {
    const other = await issueLeaf(ca, { dnsNames: ['web'], ipAddresses: [], uris: [SPIFFE], durationMs: 24 * H, usages: ['digital signature'], key: { algorithm: 'ECDSA', size: 256 }, encoding: 'PKCS8', now: t0 });
    const need = needsIssuance(input({ inspection: inspectIssued({ certPem: issued.certChainPem, keyPem: other.keyPem }) }));
    assert.equal(need?.reason, 'KeyMismatch');
  });

  it('just before the renewal time needs nothing; the same request honoured needs nothing', () => {
    assert.equal(needsIssuance(input({ now: new Date(issued.notAfter.getTime() - 8 * H - 1) })), undefined);
    assert.equal(needsIssuance(input({ renewRequest: 'r1', honouredRenewRequest: 'r1' })), undefined);
  });

  it('the same names repeated need nothing', () => {
    assert.equal(needsIssuance(input({ wanted: { dnsNames: ['web', 'web'], ipAddresses: [], uris: [SPIFFE, SPIFFE] } })), undefined);
  });

  it('the first failing check wins: a missing Secret outranks everything', () => {
    const need = needsIssuance(input({ secretExists: false, hasCert: false, hasKey: false, inspection: {}, specHash: 'h2', now: new Date(issued.notAfter.getTime() + 1) }));
    assert.equal(need?.reason, 'SecretMissing');
  });
});
