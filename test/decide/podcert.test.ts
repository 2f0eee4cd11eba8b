/** decidePodCertificate and beginRefreshAt: what the signer answers to a PodCertificateRequest, pure. */
import assert from 'node:assert/strict';
import { withPodCertificates } from '../../src/controller/rotation-progress.ts';
import type { RotationState } from '../../src/decide/rotation.ts';
import { beginRefreshAt, decidePodCertificate, type IdentityCandidate, type PodCertInput } from '../../src/decide/podcert.ts';

const H = 3_600_000;
const now = new Date('2026-11-30T12:00:00Z');
const P256 = { ok: true as const, key: { algorithm: 'ECDSA' as const, size: 256 } };
const ca = { ok: true as const, notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2036-01-01T00:00:00Z') };
const input = (o: Partial<PodCertInput> = {}): PodCertInput => ({
  now, trustDomain: 'cluster.local', namespace: 'prod', serviceAccountName: 'web', maxExpirationSeconds: 86_400, defaultDurationMs: 24 * H,
  key: P256, userAnnotationKeys: [], ca, identities: [], ...o,
});
const web = (o: Partial<IdentityCandidate> = {}): IdentityCandidate => ({
  name: 'web', optedIn: true, dnsNames: ['web.prod.svc'], ipAddresses: ['10.0.0.7'], durationMs: 2160 * H, ...o,
});

describe('decidePodCertificate', () => {
  it('no identity for the ServiceAccount: SPIFFE ID only, lifetime = maxExpirationSeconds', () => {
    const d = decidePodCertificate(input());
    assert.equal(d.kind, 'Issue');
    if (d.kind !== 'Issue') return;
    assert.deepEqual([d.uris, d.dnsNames, d.ipAddresses, d.durationMs], [['spiffe://cluster.local/ns/prod/sa/web'], [], [], 24 * H]);
    assert.equal(d.identity, undefined);
  });

  it('without an identity the default duration caps a longer maxExpirationSeconds', () => {
    const d = decidePodCertificate(input({ maxExpirationSeconds: 7_862_400 }));
    assert.equal(d.kind === 'Issue' && d.durationMs, 24 * H);
  });

  it('an identity that does not opt in gives no names', () => {
    const d = decidePodCertificate(input({ identities: [web({ optedIn: false })] }));
    assert.equal(d.kind === 'Issue' && d.dnsNames.length, 0);
  });

  it('the one opted-in identity: its names; lifetime = the shortest of request, identity and CA', () => {
    const d = decidePodCertificate(input({ identities: [web({ durationMs: 5 * H, renewBeforeMs: 2 * H })] }));
    assert.equal(d.kind, 'Issue');
    if (d.kind !== 'Issue') return;
    assert.deepEqual([d.dnsNames, d.ipAddresses, d.durationMs, d.renewBeforeMs, d.identity], [['web.prod.svc'], ['10.0.0.7'], 5 * H, 2 * H, 'web']);
    const byRequest = decidePodCertificate(input({ maxExpirationSeconds: 3 * 3600, identities: [web({ durationMs: 5 * H })] }));
    assert.equal(byRequest.kind === 'Issue' && byRequest.durationMs, 3 * H);
    const soonCa = { ...ca, notAfter: new Date(now.getTime() + 2 * H) };
    const byCa = decidePodCertificate(input({ ca: soonCa }));
    // notBefore is backdated one minute: the CA allows 2 h + 1 min from there.
    assert.equal(byCa.kind === 'Issue' && byCa.durationMs, 2 * H + 60_000);
  });

  it('unsupported key type: Denied UnsupportedKeyType with the message', () => {
    assert.deepEqual(decidePodCertificate(input({ key: { ok: false, message: 'key type RSA 2048 is not issued' } })),
      { kind: 'Denied', reason: 'UnsupportedKeyType', message: 'key type RSA 2048 is not issued' });
  });

  it('any unverifiedUserAnnotations: Denied (they never widen what is issued)', () => {
    const d = decidePodCertificate(input({ userAnnotationKeys: ['example.com/dns', 'a.io/x'], identities: [web()] }));
    assert.equal(d.kind, 'Denied');
    assert.equal((d as { reason: string }).reason, 'InvalidUnverifiedUserAnnotations');
    assert.match((d as { message: string }).message, /a\.io\/x, example\.com\/dns/);
  });

  it('names the policy refuses: Denied PolicyViolation naming the identity and the rule', () => {
    const d = decidePodCertificate(input({ identities: [web({ violation: 'spec.dnsNames[0] "pay.other.svc" belongs to namespace other (rule namespace-bound)' })] }));
    assert.deepEqual([d.kind, (d as { reason: string }).reason], ['Denied', 'PolicyViolation']);
    assert.match((d as { message: string }).message, /MutualTLSIdentity prod\/web: .*namespace-bound/);
  });

  it('an invalid opted-in identity: Denied InvalidIdentity', () => {
    const d = decidePodCertificate(input({ identities: [web({ invalid: 'spec.duration: bad' })] }));
    assert.deepEqual([d.kind, (d as { reason: string }).reason], ['Denied', 'InvalidIdentity']);
  });

  it('two opted-in identities for one ServiceAccount: Denied AmbiguousIdentity (no guess)', () => {
    const d = decidePodCertificate(input({ identities: [web({ name: 'b' }), web({ name: 'a' }), web({ name: 'c', optedIn: false })] }));
    assert.deepEqual([d.kind, (d as { reason: string }).reason], ['Denied', 'AmbiguousIdentity']);
    assert.match((d as { message: string }).message, /a, b /);
  });

  it('CA not ready: Failed CANotReady; CA ending within the hour: Failed CAExpiresSoon', () => {
    assert.deepEqual(decidePodCertificate(input({ ca: { ok: false, message: 'no CA Secret' } })), { kind: 'Failed', reason: 'CANotReady', message: 'no CA Secret' });
    const d = decidePodCertificate(input({ ca: { ...ca, notAfter: new Date(now.getTime() + 30 * 60_000) } }));
    assert.deepEqual([d.kind, (d as { reason: string }).reason], ['Failed', 'CAExpiresSoon']);
  });

  it('policy refusals come before the CA: a bad key is Denied even while the CA is down', () => {
    const d = decidePodCertificate(input({ key: { ok: false, message: 'x' }, ca: { ok: false, message: 'down' } }));
    assert.equal(d.kind, 'Denied');
  });
});

describe('beginRefreshAt', () => {
  const nb = new Date('2026-11-30T12:00:00Z');
  const at = (ms: number) => new Date(nb.getTime() + ms);
  it('the Secret renewal point: one third of the lifetime before notAfter', () => {
    assert.equal(beginRefreshAt(nb, at(24 * H)).toISOString(), at(16 * H).toISOString());
  });
  it("the identity's renewBefore when shorter than the lifetime", () => {
    assert.equal(beginRefreshAt(nb, at(24 * H), 2 * H).toISOString(), at(22 * H).toISOString());
  });
  it('kept at least 10 minutes from either end (the API server refuses otherwise)', () => {
    assert.equal(beginRefreshAt(nb, at(H), 55 * 60_000).toISOString(), at(10 * 60_000).toISOString());
    assert.equal(beginRefreshAt(nb, at(H), 60_000).toISOString(), at(50 * 60_000).toISOString());
  });
  it('whole seconds', () => {
    assert.equal(beginRefreshAt(nb, at(3 * H + 1_000)).getTime() % 1000, 0);
  });
});

describe('withPodCertificates: the root rotation waits for pod certificates the old CA signed', () => {
  type Leaves = { total: number; oldMaxNotAfter?: Date };
  const none: Leaves = { total: 0 };
  const t = new Date('2026-11-30T12:00:00Z');
  const active = { phase: 'Active', since: '2026-11-30T10:00:00.000Z' } as unknown as RotationState;
  it('signer off: the Secret leaves alone decide', () => {
    assert.deepEqual(withPodCertificates(none, active, undefined, t), { total: 0 });
  });
  it('Active: the old CA signed until the rotation went Active, so old pod certificates live until then + the longest lifetime', () => {
    assert.equal(withPodCertificates(none, active, 24 * H, t).oldMaxNotAfter?.toISOString(), '2026-12-01T10:00:00.000Z');
  });
  it('Prepared (or before): the old CA still signs, so now + the longest lifetime', () => {
    const prepared = { phase: 'Prepared', since: '2026-11-30T09:00:00.000Z' } as unknown as RotationState;
    assert.equal(withPodCertificates(none, prepared, 2 * H, t).oldMaxNotAfter?.getTime(), t.getTime() + 2 * H);
  });
  it('a later Secret leaf wins; a bound already past changes nothing', () => {
    const late = new Date('2027-01-01T00:00:00Z');
    assert.equal(withPodCertificates<Leaves>({ total: 1, oldMaxNotAfter: late }, active, 24 * H, t).oldMaxNotAfter, late);
    assert.equal(withPodCertificates(none, active, H, t).oldMaxNotAfter, undefined);
  });
});
