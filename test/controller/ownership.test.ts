/**
 * Issue 12, points 5 and 6, over the in-memory cluster (test/real/trust-*.test.ts proves the same
 * against a real kube-apiserver): two identities racing for one Secret, Secrets left behind by a
 * secretName change, and labels/annotations removed from secretTemplate.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { TLS_CRT, TLS_KEY, TRUST_BUNDLE_CONFIGMAP, type Secret } from '../../src/api/types.ts';
import { fieldManagerFor, unb64 } from '../../src/controller/secret.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { requestRotation, rotation, until } from '../support/rotation.ts';
import { FIELD_MANAGER } from '../../src/api/types.ts';

function ready(h: Harness, name: string, ns = 'dev') {
  return h.cluster.identities.get(`${ns}/${name}`)?.status?.conditions?.find((c) => c.type === 'Ready');
}

function uriOf(s: Secret | undefined): string | undefined {
  const pem = unb64(s?.data?.[TLS_CRT]);
  return pem ? new X509Certificate(pem).subjectAltName : undefined;
}

describe('controller: two identities racing for one Secret (issue 12.5)', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it('both see no Secret and both issue: the second write conflicts, the first keeps key, certificate and ownerReference', async () => {
    h = await startHarness();
    // Both reconciles read "no Secret" (a cache that has not yet seen the other's write).
    const real = h.cluster.getSecret.bind(h.cluster);
    let staleReads = 2;
    h.cluster.getSecret = async (ns, name) => (name === 'shared' && staleReads-- > 0 ? undefined : real(ns, name));
    h.identity('first', { secretName: 'shared', serviceAccountName: 'first' });
    h.identity('second', { secretName: 'shared', serviceAccountName: 'second' });
    await h.settle();
    assert.ok(staleReads <= 0, 'both reconciles read "no Secret"');
    const written = h.secret('shared')!;
    const winner = written.metadata.ownerReferences!.find((r) => r.controller)!.name;
    const loser = winner === 'first' ? 'second' : 'first';
    assert.equal(h.cluster.writes.filter((w) => w.kind === 'applySecret' && w.key === 'dev/shared').length, 2, 'both identities tried to write');
    await h.advance(120_000); // the loser's backoff: it reads the Secret and sees whose it is
    const after = h.secret('shared')!;
    assert.equal(after.data![TLS_KEY], written.data![TLS_KEY], 'the winner\'s key is untouched');
    assert.equal(after.data![TLS_CRT], written.data![TLS_CRT]);
    assert.match(uriOf(after)!, new RegExp(`/sa/${winner}$`));
    assert.deepEqual(after.metadata.ownerReferences!.map((r) => r.name), [winner]);
    assert.equal(ready(h, winner)!.status, 'True');
    assert.equal(ready(h, loser)!.reason, 'SecretConflict');
    assert.ok(h.cluster.events.some((e) => e.reason === 'SecretConflict' && e.about.name === loser));
  });

  it('each identity writes with its own field manager, mtls-operator/<uid>, within the 128-character limit', async () => {
    h = await startHarness();
    h.identity('web');
    await h.settle();
    const id = h.cluster.identities.get('dev/web')!;
    assert.equal(fieldManagerFor(id), `mtls-operator/${id.metadata.uid}`);
    assert.ok(fieldManagerFor(id).length <= 128);
    assert.deepEqual(h.cluster.managersOf('dev', 'web-mtls'), [fieldManagerFor(id)]);
  });
});

describe('controller: leftovers (issue 12.6)', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it('a Secret last written by an earlier release (shared manager mtls-operator) loses the template labels that manager alone held', async () => {
    h = await startHarness();
    h.identity('web', { secretTemplate: { labels: { team: 'a' } } });
    await h.settle();
    // What an earlier release left: everything applied by the shared manager, a template label
    // since removed, and no mtls.dev/template-hash.
    const now = h.secret('web-mtls')!;
    const annotations = { ...now.metadata.annotations };
    delete annotations['mtls.dev/template-hash'];
    h.cluster.deleteSecret('dev', 'web-mtls');
    await h.cluster.applySecret({ ...structuredClone(now), metadata: { ...structuredClone(now.metadata), labels: { ...now.metadata.labels, tier: 'gold' }, annotations, resourceVersion: undefined } as Secret['metadata'] }, { fieldManager: FIELD_MANAGER });
    await h.settle();
    const s = h.secret('web-mtls')!;
    assert.equal(s.metadata.labels!.tier, undefined, 'released by the one-time empty apply of the shared manager');
    assert.equal(s.metadata.labels!.team, 'a');
    assert.ok(s.metadata.annotations!['mtls.dev/template-hash']);
    assert.ok(s.data![TLS_KEY], 'key material kept: the identity\'s manager owns it too');
    assert.deepEqual(h.cluster.managersOf('dev', 'web-mtls'), [fieldManagerFor(h.cluster.identities.get('dev/web')!)]);
  });

  it('after spec.secretName changes, the old Secret it owns is deleted once the new one is written', async () => {
    h = await startHarness();
    h.identity('web');
    h.identity('other');
    await h.settle();
    assert.ok(h.secret('web-mtls'));
    h.identity('web', { secretName: 'web-tls' });
    await h.settle();
    assert.ok(h.secret('web-tls'), 'the new Secret');
    assert.equal(h.secret('web-mtls'), undefined, 'the old one is gone');
    assert.ok(h.secret('other-mtls'), 'another identity\'s Secret stays');
    assert.equal(h.cluster.identities.get('dev/web')!.status!.secretName, 'web-tls');
    assert.equal(h.cluster.writesOf('deleteSecret'), 1);
  });

  it('a Secret under the old name that is not this identity\'s (another owner, or changed since it was read) is left alone', async () => {
    h = await startHarness();
    h.identity('web');
    await h.settle();
    const old = h.secret('web-mtls')!;
    // Someone else took the name over in between: same labels, another controller.
    h.cluster.putSecret({ ...structuredClone(old), metadata: { ...structuredClone(old.metadata), ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'someone-else', controller: true }] } });
    h.identity('web', { secretName: 'web-tls' });
    await h.settle();
    assert.ok(h.secret('web-tls'));
    assert.ok(h.secret('web-mtls'), 'not ours any more: kept');
    assert.equal(h.cluster.writesOf('deleteSecret'), 0);
  });

  it('the delete is guarded by the resourceVersion read: a Secret changed since is not deleted', async () => {
    h = await startHarness();
    h.identity('web');
    await h.settle();
    h.identity('web', { secretName: 'web-tls' });
    const real = h.cluster.listSecrets.bind(h.cluster);
    // The cache lags: it still holds an older resourceVersion of web-mtls.
    h.cluster.listSecrets = () => real().map((s) => (s.metadata.name === 'web-mtls' ? { ...s, metadata: { ...s.metadata, resourceVersion: '1' } } : s));
    await h.settle();
    assert.ok(h.secret('web-mtls'), 'the precondition refused the delete');
  });

  it('labels and annotations removed from secretTemplate leave the Secret; others\' labels stay', async () => {
    h = await startHarness();
    h.identity('web', { secretTemplate: { labels: { team: 'a', tier: 'gold' }, annotations: { note: 'x', keep: 'y' } } });
    await h.settle();
    const first = h.secret('web-mtls')!;
    assert.equal(first.metadata.labels!.tier, 'gold');
    // Another actor adds a label of its own.
    h.cluster.putSecret({ ...structuredClone(first), metadata: { ...structuredClone(first.metadata), labels: { ...first.metadata.labels, backup: 'yes' } } });
    await h.settle();
    const serial = h.leaf('web-mtls')!.serialNumber;
    h.identity('web', { secretTemplate: { labels: { team: 'a' }, annotations: { keep: 'y' } } });
    await h.settle();
    const s = h.secret('web-mtls')!;
    assert.equal(s.metadata.labels!.team, 'a');
    assert.equal(s.metadata.labels!.tier, undefined, 'removed from the template: removed');
    assert.equal(s.metadata.annotations!.note, undefined);
    assert.equal(s.metadata.annotations!.keep, 'y');
    assert.equal(s.metadata.labels!.backup, 'yes', 'a label another actor set is not ours to remove');
    assert.equal(h.leaf('web-mtls')!.serialNumber, serial, 'no re-issue for a template change');
  });
});

describe('controller: a user\'s own mtls-trust-bundle ConfigMap (issue 12.4)', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });
  const USERS = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: TRUST_BUNDLE_CONFIGMAP, namespace: 'dev' }, data: { 'ca.crt': 'my own bundle', other: 'x' } };

  /** The real cache sees only ConfigMaps carrying our label. */
  function labelSelectedCache(h: Harness): void {
    const real = h.cluster.getConfigMap.bind(h.cluster);
    h.cluster.getConfigMap = (ns, name) => {
      const cm = real(ns, name);
      return cm?.metadata.labels?.['app.kubernetes.io/managed-by'] === 'mtls-operator' ? cm : undefined;
    };
  }

  for (const cache of ['label-selected (the create answers 409)', 'seeing every ConfigMap'] as const) {
    it(`is never written nor deleted: a conflict with an Event, a metric and a retry (cache ${cache})`, async () => {
      const calls: Array<[string, boolean]> = [];
      h = await startHarness({ observer: { trustBundleConflict: (ns, c) => calls.push([ns, c]) } });
      if (cache.startsWith('label')) labelSelectedCache(h);
      const mine = h.cluster.putConfigMap(structuredClone(USERS));
      h.identity('web', { dnsNames: ['web.dev.svc'] });
      h.identity('api');
      await h.settle();
      const cm = h.cluster.configMaps.get(`dev/${TRUST_BUNDLE_CONFIGMAP}`)!;
      assert.deepEqual(cm, mine, 'untouched: same data, no label, same resourceVersion');
      assert.equal(h.cluster.writesOf('applyConfigMap'), 0);
      assert.ok(h.secret('web-mtls'), 'the identity is still served: ca.crt is in its Secret');
      const events = h.cluster.events.filter((e) => e.reason === 'TrustBundleConflict');
      assert.deepEqual(events.map((e) => e.about.name).sort(), ['api', 'web']);
      assert.ok(events.every((e) => e.type === 'Warning' && /was not created by mtls-operator: it is left untouched/.test(e.message)));
      assert.deepEqual(calls, [['dev', true]]);
      assert.deepEqual([...h.controller.bundles.conflicted()], ['dev']);
      await h.advance(6 * 60_000); // looked at again: still theirs, no second Event
      assert.equal(h.cluster.events.filter((e) => e.reason === 'TrustBundleConflict').length, 2);
      h.cluster.deleteIdentity('dev', 'web');
      h.cluster.deleteIdentity('dev', 'api');
      await h.settle();
      assert.deepEqual(h.cluster.configMaps.get(`dev/${TRUST_BUNDLE_CONFIGMAP}`), mine, 'not deleted with the last identity');
      assert.equal(h.cluster.writesOf('deleteConfigMap'), 0);
    });
  }

  it('once the user removes theirs, the operator creates its own and the conflict clears', async () => {
    const calls: Array<[string, boolean]> = [];
    h = await startHarness({ observer: { trustBundleConflict: (ns, c) => calls.push([ns, c]) } });
    labelSelectedCache(h);
    h.cluster.putConfigMap(structuredClone(USERS));
    h.identity('web');
    await h.settle();
    h.cluster.configMaps.delete(`dev/${TRUST_BUNDLE_CONFIGMAP}`); // not watched: our watch selects our label
    await h.advance(6 * 60_000);
    const cm = h.cluster.configMaps.get(`dev/${TRUST_BUNDLE_CONFIGMAP}`)!;
    assert.equal(cm.metadata.labels!['app.kubernetes.io/managed-by'], 'mtls-operator');
    assert.equal(cm.data!['ca.crt'], unb64(h.secret('web-mtls')!.data!['ca.crt']));
    assert.deepEqual(calls, [['dev', true], ['dev', false]]);
  });

  it('a namespace whose bundle ConfigMap is someone else\'s does not hold a root rotation in Prepared', async () => {
    h = await startHarness({ config: { propagationDelayMs: 60_000, skewMs: 60_000, checkIntervalMs: 10_000, reissuePerSecond: 1000 } });
    labelSelectedCache(h);
    h.cluster.putConfigMap(structuredClone(USERS));
    h.identity('web', { duration: '1h' });
    h.identity('api', { duration: '1h' }, 'other');
    await h.settle();
    requestRotation(h);
    await h.settle();
    assert.equal(rotation(h)!.phase, 'Prepared');
    await until(h, 'Active', 10_000, 100);
    assert.equal(h.cluster.configMaps.get(`dev/${TRUST_BUNDLE_CONFIGMAP}`)!.data!['ca.crt'], 'my own bundle', 'still untouched');
  });

  it('its own ConfigMap is updated with the resourceVersion read and deleted with a uid + resourceVersion precondition', async () => {
    h = await startHarness();
    h.identity('web');
    await h.settle();
    const ours = h.cluster.configMaps.get(`dev/${TRUST_BUNDLE_CONFIGMAP}`)!;
    assert.equal(h.cluster.writesOf('createConfigMap'), 1, 'the first write is a create');
    // Someone replaces it (same label) between our read and our delete: the precondition holds it.
    const real = h.cluster.getConfigMap.bind(h.cluster);
    h.cluster.getConfigMap = (ns, name) => (name === TRUST_BUNDLE_CONFIGMAP ? ours : real(ns, name));
    h.cluster.putConfigMap({ ...structuredClone(ours), metadata: { ...structuredClone(ours.metadata), uid: 'replaced' } });
    h.cluster.deleteIdentity('dev', 'web');
    await h.settle();
    assert.ok(h.cluster.configMaps.get(`dev/${TRUST_BUNDLE_CONFIGMAP}`), 'a replaced ConfigMap is not deleted');
  });
});
