/** Issue 11, bytes per identity: the values every cached identity and Secret repeat are kept once (src/adapter/intern.ts). */
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { cachedIdentity, cachedSecret } from '../../src/adapter/convert.ts';
import { INTERN_MAX_CHARS, INTERN_MAX_ENTRIES, intern, internedCount } from '../../src/adapter/intern.ts';

/** An identity as the watch delivers it after its first issuance (the shape the operator writes). */
function identityJson(i: number): string {
  const at = `2026-12-01T04:44:${String(i % 60).padStart(2, '0')}Z`;
  const notAfter = `2026-12-02T04:39:${String(i % 60).padStart(2, '0')}.000Z`;
  return JSON.stringify({
    apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity',
    metadata: { name: `svc-${i}`, namespace: `bench-${i % 50}`, uid: `0000${i}-aaaa-bbbb-cccc-dddddddddddd`, generation: 1, resourceVersion: String(1000 + i), creationTimestamp: at },
    spec: { secretName: `svc-${i}-mtls`, serviceAccountName: `svc-${i}`, dnsNames: [`svc-${i}.bench-${i % 50}.svc`], usages: ['digital signature', 'client auth', 'server auth'] },
    status: {
      observedGeneration: 1, notBefore: notAfter, notAfter, renewalTime: notAfter, serialNumber: `${i}`.padStart(32, 'f'),
      spiffeID: `spiffe://cluster.local/ns/bench-${i % 50}/sa/svc-${i}`, secretName: `svc-${i}-mtls`, revision: 1,
      workloadsTrustBundle: '643d5437104296e2',
      conditions: ['Ready', 'Issuing', 'ServiceAccountFound', 'PolicyAllowed'].map((type) => ({
        type, status: type === 'Issuing' ? 'False' : 'True', reason: type === 'Issuing' ? 'SecretMissing' : 'ServiceAccountFound',
        message: `certificate is valid until ${notAfter} and renews at ${notAfter}`, lastTransitionTime: at, observedGeneration: 1,
      })),
    },
  });
}

function secretJson(i: number): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls',
    metadata: {
      name: `svc-${i}-mtls`, namespace: `bench-${i % 50}`, uid: `1111${i}-aaaa-bbbb-cccc-dddddddddddd`, resourceVersion: String(5000 + i),
      creationTimestamp: `2026-12-01T04:44:${String(i % 60).padStart(2, '0')}Z`,
      labels: { 'app.kubernetes.io/managed-by': 'mtls-operator', 'mtls.dev/identity': `svc-${i}` },
      annotations: { 'mtls.dev/ca-fingerprint': 'e2fbd72bad69999acacda38ead973244c035f0ddad737abab42386a176e18b92', 'mtls.dev/not-after': `2026-12-02T04:39:${String(i % 60).padStart(2, '0')}.000Z` },
      ownerReferences: [{ apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity', name: `svc-${i}`, uid: `0000${i}-aaaa-bbbb-cccc-dddddddddddd`, controller: true, blockOwnerDeletion: true }],
    },
    data: {},
  });
}

describe('issue 11: the values cached objects repeat are kept once', () => {
  it('5,000 identities and their Secrets take at least a third less heap cached than as parsed (one copy of repeated values, no dictionary-mode objects), and read the same', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const N = 5_000;
    const ids = Array.from({ length: N }, (_, i) => identityJson(i));
    const secrets = Array.from({ length: N }, (_, i) => secretJson(i));
    const grown = (make: () => unknown[]): { bytes: number; kept: unknown[] } => {
      gc();
      const before = process.memoryUsage().heapUsed;
      const kept = make();
      gc();
      return { bytes: process.memoryUsage().heapUsed - before, kept };
    };
    const raw = grown(() => [...ids.map((j) => JSON.parse(j) as unknown), ...secrets.map((j) => JSON.parse(j) as unknown)]);
    const live = (ns: string, name: string) => `0000${name.slice(4)}-aaaa-bbbb-cccc-dddddddddddd`;
    const cached = grown(() => [...ids.map((j) => cachedIdentity(JSON.parse(j))), ...secrets.map((j) => cachedSecret(JSON.parse(j), live))]);
    const perRaw = raw.bytes / N, perCached = cached.bytes / N;
    assert.ok(perCached < 0.66 * perRaw, `an identity and its Secret: ${perCached.toFixed(0)} bytes cached, ${perRaw.toFixed(0)} parsed`);
    // The same values, whatever copy holds them.
    const id = cached.kept[7] as ReturnType<typeof cachedIdentity>;
    assert.equal(id.status?.conditions?.[2]?.type, 'ServiceAccountFound');
    assert.equal(id.status?.notAfter, '2026-12-02T04:39:07.000Z');
    assert.deepEqual(id.spec?.usages, ['digital signature', 'client auth', 'server auth']);
    const secret = cached.kept[N + 7] as ReturnType<typeof cachedSecret>;
    assert.equal(secret.type, 'kubernetes.io/tls');
    assert.equal(secret.metadata.ownerReferences?.[0]?.kind, 'MutualTLSIdentity');
    assert.equal(secret.metadata.annotations?.['mtls.dev/not-after'], '2026-12-02T04:39:07.000Z');
    assert.equal(secret.metadata.labels?.['mtls.dev/identity'], 'svc-7');
  });

  it('the table is bounded: long values are not kept, and a tenant\'s endless new values start it again', () => {
    const long = 'x'.repeat(INTERN_MAX_CHARS + 1);
    assert.equal(intern(long), long);
    for (let i = 0; i < INTERN_MAX_ENTRIES * 2 + 10; i++) assert.equal(intern(`made-up-${i}`), `made-up-${i}`);
    assert.ok(internedCount() <= INTERN_MAX_ENTRIES, `${internedCount()} values held`);
    assert.ok(![...Array(3)].some(() => intern(long) !== long));
    assert.equal(intern(undefined), undefined);
  });
});
