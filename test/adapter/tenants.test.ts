/**
 * Issue 19, point 1, played by a hostile tenant against the cache reduction: whatever a tenant
 * puts in a labelled Secret, ConfigMap or identity, what the cache keeps of it is bounded.
 */
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { cachedConfigMap, cachedIdentity, cachedSecret } from '../../src/adapter/convert.ts';
import {
  DATA_VALUE_MAX_CHARS,
  META_MAX_ENTRIES,
  OWNED_SECRET_KEYS,
  isPartial,
  type IdentityUid,
} from '../../src/adapter/reduce.ts';

const MB = 'A'.repeat(1024 * 1024);
const MANAGED = { 'app.kubernetes.io/managed-by': 'mtls-operator' };
const owner = (name: string, uid: string) => [{ apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity', name, uid, controller: true }];
const live: IdentityUid = (ns, name) => (ns === 'team' && name === 'web' ? 'uid-web' : undefined);

/** Serialized size of what the cache keeps: an upper bound on the strings it retains. */
const size = (o: unknown) => JSON.stringify(o).length;

describe('hostile tenant: what the caches keep is bounded (issue 19, point 1)', () => {
  it('a 1 MB labelled Secret no live identity owns keeps no data and is marked partial', () => {
    for (const ownerReferences of [undefined, owner('web', 'forged-uid'), owner('ghost', 'uid-ghost')]) {
      const kept = cachedSecret({ metadata: { name: 'junk', namespace: 'team', labels: MANAGED, ownerReferences }, data: { 'tls.crt': MB, blob: MB } }, live);
      assert.equal(kept.data, undefined);
      assert.ok(isPartial(kept), 'a read goes to the API server');
      assert.ok(size(kept) < 2_000, `kept ${size(kept)} chars`);
    }
  });

  it('the Secret a live identity owns keeps only the keys the operator writes, each bounded', () => {
    const small = Buffer.from('pem').toString('base64');
    const data: Record<string, string> = { extra: small, 'tls.key': small, 'ca.crt': MB };
    const kept = cachedSecret({ metadata: { name: 'web-tls', namespace: 'team', labels: MANAGED, ownerReferences: owner('web', 'uid-web') }, data: { ...data, 'tls.crt': small } }, live);
    assert.ok(!isPartial(kept));
    assert.deepEqual(kept.data, { 'tls.crt': small, 'tls.key': small }, 'extra is not ours; a 1 MB ca.crt is dropped (it then reads as missing and is rewritten)');
    assert.ok(OWNED_SECRET_KEYS.includes('keystore.p12'));
    const atBound = cachedSecret({ metadata: { name: 'web-tls', namespace: 'team', ownerReferences: owner('web', 'uid-web') }, data: { 'tls.crt': 'A'.repeat(DATA_VALUE_MAX_CHARS) } }, live);
    assert.equal(atBound.data?.['tls.crt']?.length, DATA_VALUE_MAX_CHARS, 'the bound itself is kept');
  });

  it('issue 11: the ca.crt every Secret repeats is kept once (500 Secrets with a 60 KB bundle each add well under 30 MB of heap)', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const json = JSON.stringify(`${'Q'.repeat(60_000)}=`);
    const bundle = () => JSON.parse(json) as string; // as a watch event arrives: a new string of the same value each time
    gc();
    const before = process.memoryUsage().heapUsed;
    const kept = Array.from({ length: 500 }, (_, i) => cachedSecret({
      metadata: { name: `s-${i}`, namespace: 'team', ownerReferences: owner('web', 'uid-web') },
      data: { 'ca.crt': bundle() },
    }, live));
    gc();
    const grew = process.memoryUsage().heapUsed - before;
    assert.equal(kept[499]!.data?.['ca.crt']?.length, 60_001);
    assert.ok(grew < 8 * 1024 * 1024, `heap grew ${(grew / 1048576).toFixed(1)} MB for 500 copies of a 60 KB bundle (30 MB if each were kept)`);
  });

  it('10,000 annotations and labels, 256 KiB values and 1,000 ownerReferences shrink to the bounds; the operator\'s own keys stay', () => {
    const annotations: Record<string, string> = { big: 'x'.repeat(256 * 1024), 'mtls.dev/serial': '01' };
    const labels: Record<string, string> = { ...MANAGED, 'mtls.dev/identity': 'web' };
    for (let i = 0; i < 10_000; i++) {
      annotations[`a${String(i).padStart(5, '0')}`] = 'v';
      labels[`l${String(i).padStart(5, '0')}`] = 'v';
    }
    const refs = Array.from({ length: 1000 }, (_, i) => owner(`o${i}`, `u${i}`)[0]!);
    const kept = cachedSecret({ metadata: { name: 'web-tls', namespace: 'team', labels, annotations, ownerReferences: [...owner('web', 'uid-web'), ...refs] }, data: {} }, live);
    assert.equal(Object.keys(kept.metadata.annotations!).length, META_MAX_ENTRIES);
    assert.equal(Object.keys(kept.metadata.labels!).length, META_MAX_ENTRIES);
    assert.equal(kept.metadata.annotations!['mtls.dev/serial'], '01');
    assert.equal(kept.metadata.annotations!.big, undefined);
    assert.equal(kept.metadata.labels!['app.kubernetes.io/managed-by'], 'mtls-operator');
    assert.equal(kept.metadata.labels!['mtls.dev/identity'], 'web');
    assert.equal(kept.metadata.ownerReferences!.length, 8);
    assert.ok(size(kept) < 10_000, `kept ${size(kept)} chars`);
  });

  it('a 1 MB trust bundle ConfigMap keeps no oversize value and at most 8 keys', () => {
    const data: Record<string, string> = { 'ca.crt': MB };
    for (let i = 0; i < 100; i++) data[`k${i}`] = 'v';
    const kept = cachedConfigMap({ metadata: { name: 'mtls-trust-bundle', namespace: 'team', labels: MANAGED, annotations: { huge: MB } }, data });
    assert.equal(kept.data?.['ca.crt'], undefined);
    assert.ok(Object.keys(kept.data ?? {}).length <= 8);
    assert.ok(size(kept) < 2_000);
  });

  it('an identity with 256 KiB of annotations is cached with bounded metadata; renew-request stays', () => {
    const kept = cachedIdentity({
      apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity',
      metadata: { name: 'web', namespace: 'team', uid: 'uid-web', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': MB, 'mtls.dev/renew-request': 'now' }, managedFields: [{ big: MB }] },
      spec: { secretName: 'web-tls' },
    });
    assert.deepEqual(kept.metadata.annotations, { 'mtls.dev/renew-request': 'now' });
    assert.equal(kept.metadata.uid, 'uid-web');
    assert.ok(size(kept) < 1_000);
  });

  it('250 hostile 1 MB Secrets and ConfigMaps leave under 1 MB in the caches (against 250 MB kept whole)', () => {
    let total = 0;
    for (let i = 0; i < 250; i++) {
      total += size(cachedSecret({ metadata: { name: `s${i}`, namespace: 'team', labels: MANAGED, ownerReferences: owner('web', 'forged') }, data: { 'tls.crt': MB } }, live));
      total += size(cachedConfigMap({ metadata: { name: 'mtls-trust-bundle', namespace: `ns${i}`, labels: MANAGED }, data: { 'ca.crt': MB } }));
    }
    assert.ok(total < 1024 * 1024, `kept ${total} chars`);
  });
});
