/**
 * Root rotation at its edges (issues 12.1-12.3, 13.3, 20.1-20.7): each scenario of the issues,
 * driven through the controller over the in-memory cluster with the fake clock.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { CA_CRT, TLS_CRT, TLS_KEY, TRUST_BUNDLE_CONFIGMAP, type Secret } from '../../src/api/types.ts';
import { ClusterError } from '../../src/cluster/port.ts';
import {
  ANNOTATION_DISTRUST_ROOT, ANNOTATION_ROTATE_TO, ANNOTATION_ROTATION_GENERATED, ANNOTATION_UNSTAGED_OLD_ROOTS, ROTATION_CONFIGMAP,
} from '../../src/controller/ca-source.ts';
import { b64, unb64 } from '../../src/controller/secret.ts';
import { recordFromData } from '../../src/decide/rotation.ts';
import { bundleFingerprints, fingerprintOf, generateRootCA } from '../../src/pki/index.ts';
import type { CAMaterial } from '../../src/pki/types.ts';
import { caSecret, CA_NAME, CA_NS, startHarness, type Harness } from '../support/harness.ts';
import { requestRotation, rotation, until } from '../support/rotation.ts';

const H = 3_600_000;
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0); // FakeTime's start
const ROTATION = { propagationDelayMs: 120_000, skewMs: 300_000, checkIntervalMs: 10_000, reissuePerSecond: 1000 };

const fp = (pem: string) => fingerprintOf(new X509Certificate(pem));
const bundleOf = (s: Secret | undefined) => bundleFingerprints(unb64(s?.data?.[CA_CRT]) ?? '');
const cmBundle = (h: Harness, ns = 'dev') => bundleFingerprints(h.cluster.getConfigMap(ns, TRUST_BUNDLE_CONFIGMAP)?.data?.[CA_CRT] ?? '');
const caSecretNow = (h: Harness) => h.cluster.secrets.get(`${CA_NS}/${CA_NAME}`)!;
const ready = (h: Harness, name: string, ns = 'dev') => h.cluster.identities.get(`${ns}/${name}`)!.status?.conditions?.find((c) => c.type === 'Ready');
const issuerOf = (h: Harness, name: string, roots: CAMaterial[]) => roots.findIndex((r) => h.leaf(name)!.checkIssued(new X509Certificate(r.certPem)));
const newRootPem = (h: Harness) => unb64(h.cluster.secrets.get(`${CA_NS}/${rotation(h)!.newRootSecret}`)!.data![TLS_CRT])!;

function withData(s: Secret, data: Record<string, string>): Secret {
  const copy = structuredClone(s);
  copy.data = { ...copy.data, ...data };
  return copy;
}

describe('root of trust: a CA Secret that disappears or breaks (12.1)', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it('first install with bootstrap on: a root is generated and its fingerprint recorded', async () => {
    h = await startHarness({ root: null, config: { bootstrapCA: true } });
    const ca = caSecretNow(h);
    assert.ok(ca, 'bootstrapped');
    const record = recordFromData(h.cluster.getConfigMap(CA_NS, ROTATION_CONFIGMAP)?.data);
    assert.equal(record.caFingerprint, fp(unb64(ca.data![TLS_CRT])!));
    assert.deepEqual(record.seen, [record.caFingerprint]);
  });

  it('deleted once a CA existed: no new root, CANotReady with a Warning and the metric, Secrets untouched, nothing re-issued; the admin\'s create succeeds', async () => {
    const caLoads: Array<Date | undefined> = [];
    h = await startHarness({ root: null, config: { bootstrapCA: true }, observer: { caLoaded: (d) => caLoads.push(d) } });
    h.identity('web');
    await h.settle();
    const original = structuredClone(caSecretNow(h));
    const secretBefore = h.secret('web-mtls');
    const writes = h.cluster.writesOf('applySecret') + h.cluster.writesOf('applyConfigMap');
    h.cluster.deleteSecret(CA_NS, CA_NAME);
    await h.settle();
    await h.advance(60_000);
    assert.equal(h.cluster.secrets.get(`${CA_NS}/${CA_NAME}`), undefined, 'no root minted by the operator');
    assert.equal(h.cluster.writesOf('createSecret'), 1, 'only the first-install bootstrap ever created one');
    assert.equal(ready(h, 'web')?.reason, 'CANotReady');
    assert.match(ready(h, 'web')!.message, /a CA was in use before/);
    const warn = h.cluster.events.find((e) => e.reason === 'CANotReady' && e.about.kind === 'Secret' && e.about.name === CA_NAME);
    assert.ok(warn && warn.type === 'Warning', 'a Warning Event on the CA Secret');
    assert.equal(caLoads.at(-1), undefined, 'the CA expiry metric is withdrawn');
    assert.equal(h.secret('web-mtls'), secretBefore, 'the issued Secret is the very same object');
    assert.equal(h.cluster.writesOf('applySecret') + h.cluster.writesOf('applyConfigMap'), writes, 'no Secret or bundle written');
    // The admin re-creates it (the same CA): a create, which succeeds; everything is Ready again without re-issuing.
    const { resourceVersion: _rv, uid: _uid, ...meta } = original.metadata;
    await h.cluster.createSecret({ ...original, metadata: meta });
    await h.settle();
    assert.equal(ready(h, 'web')?.status, 'True');
    assert.equal(h.leaf('web-mtls')!.serialNumber, new X509Certificate(unb64(secretBefore!.data![TLS_CRT])!).serialNumber, 'nothing re-issued');
  });

  it('an invalid CA Secret (a bad tls.key edit) stops issuance and changes nothing out there', async () => {
    h = await startHarness({ config: { bootstrapCA: true } });
    h.identity('web');
    await h.settle();
    const before = h.secret('web-mtls');
    h.cluster.putSecret(withData(caSecretNow(h), { [TLS_KEY]: b64('garbage') }));
    await h.settle();
    h.identity('new');
    await h.settle();
    assert.equal(ready(h, 'new')?.reason, 'CANotReady');
    assert.equal(h.secret('new-mtls'), undefined);
    assert.equal(h.secret('web-mtls'), before);
    assert.equal(h.cluster.writesOf('createSecret'), 0, 'no bootstrap over a broken CA');
  });

  it('an upgrade with issued Secrets but no recorded CA is not a first install either', async () => {
    h = await startHarness();
    h.identity('web');
    await h.settle();
    await h.stop();
    await h.cluster.deleteConfigMap(CA_NS, ROTATION_CONFIGMAP);
    h.cluster.deleteSecret(CA_NS, CA_NAME);
    h = await startHarness({ time: h.time, cluster: h.cluster, root: null, config: { bootstrapCA: true } });
    assert.equal(h.cluster.secrets.get(`${CA_NS}/${CA_NAME}`), undefined);
    assert.equal(ready(h, 'web')?.reason, 'CANotReady');
  });
});

describe('a CA replaced in place (12.2)', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it('the distrust annotation drops a compromised old root at once', async () => {
    h = await startHarness({ config: ROTATION });
    h.identity('web', { duration: '24h' });
    await h.settle();
    const oldFp = fp(h.root.certPem);
    const next = await generateRootCA({ now: new Date(h.time.now() - H) });
    h.cluster.putSecret(caSecret(next));
    await h.settle();
    assert.deepEqual(bundleOf(h.secret('web-mtls')), [oldFp, fp(next.certPem)]);
    const s = structuredClone(caSecretNow(h));
    s.metadata.annotations = { ...s.metadata.annotations, [ANNOTATION_DISTRUST_ROOT]: oldFp };
    h.cluster.putSecret(s);
    await h.advance(10_000);
    assert.equal(rotation(h)!.phase, 'Retired');
    assert.deepEqual(bundleOf(h.secret('web-mtls')), [fp(next.certPem)]);
    assert.deepEqual(cmBundle(h), [fp(next.certPem)]);
  });

  it('an in-place replacement after the old root expired keeps nothing of it', async () => {
    const shortRoot = await generateRootCA({ now: new Date(T0 - 86_400_000), validityDays: 1.5 });
    h = await startHarness({ root: shortRoot, config: ROTATION });
    h.identity('web', { duration: '1h' });
    await h.settle();
    const next = await generateRootCA({ now: new Date(h.time.now() - H) });
    await h.advance(13 * H);
    h.cluster.putSecret(caSecret(next));
    await h.settle();
    await h.advance(10_000);
    assert.equal(rotation(h)!.phase, 'Retired');
    assert.deepEqual(bundleOf(h.secret('web-mtls')), [fp(next.certPem)]);
  });
});

describe('rotation progress counts only what live identities own (12.3)', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it('a tenant Secret labelled like ours, a Secret left behind by a secretName change, and an identity that cannot be re-issued do not stall the rotation; the stuck one is named', async () => {
    h = await startHarness({ config: ROTATION });
    h.identity('web', { duration: '2h' });
    h.identity('stuck', { duration: '2h' });
    h.identity('moved', { duration: '2h' });
    await h.settle();
    // The old Secret of a secretName change is deleted once the new one is written (12.6); one left behind anyway
    // (a cleanup that lost a race, say) is put back here as a copy still owned by the identity's uid.
    const left = structuredClone(h.secret('moved-mtls')!);
    h.identity('moved', { duration: '2h', secretName: 'moved-new' });
    await h.settle();
    if (!h.secret('moved-mtls')) h.cluster.putSecret(left);
    assert.ok(h.secret('moved-mtls'), 'a leftover Secret of the old secretName');
    h.cluster.putSecret({ metadata: { name: 'tenant', namespace: 'dev', labels: { 'app.kubernetes.io/managed-by': 'mtls-operator' } }, type: 'Opaque', data: { [TLS_CRT]: h.secret('web-mtls')!.data![TLS_CRT]! } });
    h.identity('stuck', { duration: 'forever' });
    await h.settle();
    assert.equal(ready(h, 'stuck')?.reason, 'InvalidSpec');
    const stuckNotAfter = new Date(h.leaf('stuck-mtls')!.validTo).getTime();
    requestRotation(h);
    await until(h, 'Active');
    const r = rotation(h)!;
    assert.equal(r.blocked, 'dev/stuck');
    assert.match(r.message, /cannot be re-issued \(dev\/stuck\)/);
    assert.ok(h.cluster.events.some((e) => e.reason === 'RotationBlocked' && /dev\/stuck/.test(e.message)));
    await until(h, 'Retired', 60_000);
    assert.ok(h.time.now() >= stuckNotAfter, 'the stuck identity held the old root only until its certificate expired');
  });
});

describe('renewal near the CA\'s expiry (20.1)', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  for (const renewBefore of ['1h', undefined]) {
    it(`a leaf cut to the CA's expiry is issued once, not in a loop (renewBefore ${renewBefore ?? 'unset'}); status says why and what to do`, async () => {
      const root = await generateRootCA({ now: new Date(T0 - 86_400_000), validityDays: 1 + 2 / 24 });
      h = await startHarness({ root, config: { reissuePerSecond: 5 } });
      const caEnd = new X509Certificate(root.certPem).validToDate.getTime();
      h.identity('web', { duration: '24h', ...(renewBefore ? { renewBefore } : {}) });
      await h.settle();
      const first = h.cluster.writesOf('applySecret');
      assert.equal(first, 1);
      assert.equal(new Date(h.leaf('web-mtls')!.validTo).getTime(), Math.floor(caEnd / 1000) * 1000);
      h.time.advance(caEnd - 59 * 60_000 - h.time.now());
      await h.settle();
      for (let i = 0; i < 4; i++) await h.advance(250);
      for (let i = 0; i < 50; i++) await h.advance(60_000);
      assert.equal(h.cluster.writesOf('applySecret'), first, 'no re-issue from a CA that cannot give a longer certificate');
      assert.ok(h.cluster.writesOf('patchStatus') <= 2, `status patched at most twice, saw ${h.cluster.writesOf('patchStatus')}`);
      assert.match(ready(h, 'web')!.message, /the CA expires then.*Rotate the root/);
      // A CA renewed with a longer life: renewed at once, once.
      const longer = await generateRootCA({ now: new Date(h.time.now() - H) });
      h.cluster.putSecret(caSecret(longer));
      for (let i = 0; i < 10; i++) await h.advance(1000);
      assert.equal(h.cluster.writesOf('applySecret'), first + 1);
    });
  }
});

describe('the phase machine, not the CA Secrets, decides trust (20.2, 20.4)', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it('Prepared, the CA Secret\'s tls.key broken: bundles keep both roots, nothing is signed by the new CA, issuance stops with CANotReady', async () => {
    h = await startHarness({ config: ROTATION });
    for (let i = 0; i < 3; i++) h.identity(`id${i}`, { duration: '2h' });
    await h.settle();
    const serials = [0, 1, 2].map((i) => h.leaf(`id${i}-mtls`)!.serialNumber);
    requestRotation(h);
    await h.settle();
    const both = bundleOf(h.secret('id0-mtls'));
    assert.equal(both.length, 2);
    h.cluster.putSecret(withData(caSecretNow(h), { [TLS_KEY]: b64('garbage') }));
    for (let i = 0; i < 30; i++) await h.advance(10_000);
    assert.equal(rotation(h)!.phase, 'Prepared', 'no Active without the old CA');
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(bundleOf(h.secret(`id${i}-mtls`)), both);
      assert.equal(h.leaf(`id${i}-mtls`)!.serialNumber, serials[i]);
    }
    assert.deepEqual(cmBundle(h), both);
    h.identity('late');
    await h.settle();
    assert.equal(ready(h, 'late')?.reason, 'CANotReady');
    assert.match(ready(h, 'late')!.message, /old CA/);
  });

  it('Active, the new root Secret replaced by another CA: nothing signs under it, the recorded roots stay in every bundle', async () => {
    h = await startHarness({ config: { ...ROTATION, reissuePerSecond: 1 } });
    for (let i = 0; i < 6; i++) h.identity(`id${i}`, { duration: '2h' });
    await h.settle();
    requestRotation(h);
    await until(h, 'Active');
    const both = bundleOf(h.secret('id0-mtls'));
    const n1 = newRootPem(h);
    const n2 = await generateRootCA({ now: new Date(h.time.now() - H) });
    const name = rotation(h)!.newRootSecret;
    h.cluster.putSecret({ ...caSecret(n2), metadata: { name, namespace: CA_NS } });
    for (let i = 0; i < 30; i++) await h.advance(10_000);
    for (let i = 0; i < 6; i++) {
      assert.deepEqual(bundleOf(h.secret(`id${i}-mtls`)), both, 'old and N1 stay trusted');
      assert.ok(issuerOf(h, `id${i}-mtls`, [h.root, n2]) !== 1, 'nothing signed by N2');
    }
    assert.ok(!bundleOf(h.secret('id0-mtls')).includes(fp(n2.certPem)));
    assert.equal(rotation(h)!.phase, 'Active');
    assert.ok(n1);
  });

  it('the old root expires while Prepared: the new CA does not start signing without Active, no root leaves a bundle', async () => {
    const shortRoot = await generateRootCA({ now: new Date(T0 - 86_400_000), validityDays: 1.1 });
    h = await startHarness({ root: shortRoot, config: { ...ROTATION, propagationDelayMs: 10 * H } });
    h.identity('web', { duration: '1h' });
    await h.settle();
    requestRotation(h);
    await h.settle();
    const both = bundleOf(h.secret('web-mtls'));
    for (let i = 0; i < 40; i++) await h.advance(10 * 60_000);
    assert.equal(rotation(h)!.phase, 'Prepared');
    assert.equal(h.cluster.events.filter((e) => e.reason === 'RotationActive').length, 0);
    assert.deepEqual(bundleOf(h.secret('web-mtls')), both);
    assert.equal(issuerOf(h, 'web-mtls', [h.root]), 0, 'still the old leaf: nothing issued by the new CA before Active');
    assert.equal(ready(h, 'web')?.reason, 'CANotReady');
  });
});

describe('a lost rotation state is recovered, never restarted (20.3, 20.7)', function () {
  // fake-clock walks through a day of rotation: CPU-bound, slow on a loaded 2-core machine
  this.timeout(180_000);
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it('the state ConfigMap deleted mid-Active: Active again with the same new root; no new-root leaf loses trust', async () => {
    h = await startHarness({ config: { ...ROTATION, reissuePerSecond: 1 } });
    for (let i = 0; i < 4; i++) h.identity(`id${i}`, { duration: '2h' });
    await h.settle();
    requestRotation(h);
    await until(h, 'Active');
    const before = rotation(h)!;
    const onN1 = () => [0, 1, 2, 3].filter((i) => h.leaf(`id${i}-mtls`)!.checkIssued(new X509Certificate(newRootPem(h)))).length;
    for (let i = 0; i < 60 && onN1() === 0; i++) await h.advance(500);
    const n1Leaves = onN1();
    assert.ok(n1Leaves >= 1 && n1Leaves < 4, `mid-Active: some leaves on the new root, saw ${n1Leaves}`);
    const n1 = newRootPem(h);
    await h.cluster.deleteConfigMap(CA_NS, ROTATION_CONFIGMAP);
    await h.settle();
    await h.advance(10_000);
    const after = rotation(h)!;
    if (after.phase !== 'Active') console.log(h.cluster.events.filter((e) => e.about.kind === 'ConfigMap').map((e) => `${e.reason}: ${e.message}`), caSecretNow(h).metadata.annotations);
    assert.equal(after.phase, 'Active');
    assert.equal(after.newRootFingerprint, before.newRootFingerprint);
    assert.equal(h.cluster.events.filter((e) => e.reason === 'RotationPrepared').length, 1, 'no second rotation');
    assert.ok(h.cluster.events.some((e) => e.reason === 'RotationRecovered'));
    assert.equal([...h.cluster.secrets.keys()].filter((k) => k.startsWith(`${CA_NS}/${CA_NAME}-`)).length, 1, 'no second generated root');
    for (let i = 0; i < 4; i++) assert.ok(bundleOf(h.secret(`id${i}-mtls`)).includes(fp(n1)));
    await until(h, 'Retired', 60_000);
    assert.equal(fp(unb64(caSecretNow(h).data![TLS_CRT])!), fp(n1));
  });

  it('the state ConfigMap deleted during an unstaged rotation: the replaced root is found again and stays until its leaves could expire', async () => {
    h = await startHarness({ config: { ...ROTATION, reissuePerSecond: 1 } });
    for (let i = 0; i < 3; i++) h.identity(`id${i}`, { duration: '2h' });
    h.identity('other', { duration: '2h' }, 'prod');
    await h.settle();
    const oldFp = fp(h.root.certPem);
    const next = await generateRootCA({ now: new Date(h.time.now() - H) });
    h.cluster.putSecret(caSecret(next));
    await h.settle();
    assert.equal(rotation(h)!.phase, 'Active');
    assert.equal(rotation(h)!.unstaged, true);
    assert.equal(caSecretNow(h).metadata.annotations?.[ANNOTATION_UNSTAGED_OLD_ROOTS], oldFp, 'the CA Secret names the replaced root');
    const retireBefore = Date.parse(rotation(h)!.retireAfter!);
    await h.cluster.deleteConfigMap(CA_NS, ROTATION_CONFIGMAP);
    await h.settle();
    await h.advance(10_000);
    const after = rotation(h)!;
    assert.equal(after.phase, 'Active', 'the unstaged rotation resumes, not a fresh record of the new CA alone');
    assert.equal(after.unstaged, true);
    assert.deepEqual(bundleFingerprints(after.oldBundlePem!), [oldFp], 'the replaced root, found by its fingerprint');
    assert.ok(Date.parse(after.retireAfter!) >= retireBefore, 'the retire time only moves later');
    assert.ok(h.cluster.events.some((e) => e.reason === 'RotationRecovered'));
    const copies = [['id0-mtls', 'dev'], ['id1-mtls', 'dev'], ['id2-mtls', 'dev'], ['other-mtls', 'prod']] as const;
    for (const [name, ns] of copies) assert.ok(bundleOf(h.secret(name, ns)).includes(oldFp), `${ns}/${name} still trusts the replaced root`);
    for (let i = 0; i < 10; i++) await h.advance(1000); // the re-issue, 1 per second
    for (const [name, ns] of copies) {
      assert.deepEqual(bundleOf(h.secret(name, ns)), [oldFp, fp(next.certPem)], `${ns}/${name}: both roots`);
      assert.ok(new X509Certificate(unb64(h.secret(name, ns)!.data![TLS_CRT])!).checkIssued(new X509Certificate(next.certPem)), `${ns}/${name}: a leaf from the new CA`);
    }
    assert.deepEqual(cmBundle(h), [oldFp, fp(next.certPem)]);
    await until(h, 'Retired', 600_000);
    assert.ok(h.time.now() >= Date.parse(after.retireAfter!), 'not before the recovered retire time');
    for (let i = 0; i < 60 && bundleOf(h.secret('id0-mtls')).length > 1; i++) await h.advance(1000);
    assert.deepEqual(bundleOf(h.secret('id0-mtls')), [fp(next.certPem)], 'then the replaced root leaves');
    await h.advance(10_000);
    assert.equal(caSecretNow(h).metadata.annotations?.[ANNOTATION_UNSTAGED_OLD_ROOTS], undefined, 'removed once retired');
  });

  it('a root named on the CA Secret is taken only from a PEM with that fingerprint: a tenant\'s forged bundle adds nothing', async () => {
    h = await startHarness({ config: { ...ROTATION, reissuePerSecond: 1 } });
    h.identity('web', { duration: '2h' });
    h.identity('evil', { duration: '2h' }, 'prod');
    await h.settle();
    const oldFp = fp(h.root.certPem);
    const next = await generateRootCA({ now: new Date(h.time.now() - H) });
    h.cluster.putSecret(caSecret(next));
    await h.settle();
    const tenantRoot = await generateRootCA({ now: new Date(h.time.now() - H) });
    // The tenant of prod rewrites its own Secret's ca.crt with its root, and names it on nothing it can write.
    h.cluster.putSecret(withData(h.secret('evil-mtls', 'prod')!, { [CA_CRT]: b64(tenantRoot.certPem) }));
    await h.cluster.deleteConfigMap(CA_NS, ROTATION_CONFIGMAP);
    await h.settle();
    await h.advance(10_000);
    const after = rotation(h)!;
    assert.deepEqual(bundleFingerprints(after.oldBundlePem!), [oldFp]);
    assert.ok(!bundleOf(h.secret('web-mtls')).includes(fp(tenantRoot.certPem)), 'the tenant\'s root is trusted nowhere');
  });

  it('the state ConfigMap deleted mid-Prepared: Prepared again with the same generated root', async () => {
    h = await startHarness({ config: ROTATION });
    h.identity('web');
    await h.settle();
    requestRotation(h);
    await h.settle();
    const first = rotation(h)!.newRootFingerprint;
    await h.cluster.deleteConfigMap(CA_NS, ROTATION_CONFIGMAP);
    await h.settle();
    assert.equal(rotation(h)!.phase, 'Prepared');
    assert.equal(rotation(h)!.newRootFingerprint, first);
    await until(h, 'Retired', 60_000);
  });

  it('failed state writes while starting a generate rotation leave one generated root, not one per try', async () => {
    h = await startHarness({ config: ROTATION });
    h.identity('web');
    await h.settle();
    for (let i = 0; i < 3; i++) h.cluster.failNext('writeConfigMap', new ClusterError(500, 'InternalError', 'etcd hiccup'));
    requestRotation(h);
    for (let i = 0; i < 10; i++) await h.advance(10_000);
    assert.equal(rotation(h)!.phase, 'Prepared');
    const generated = [...h.cluster.secrets.keys()].filter((k) => k.startsWith(`${CA_NS}/${CA_NAME}-`));
    assert.deepEqual(generated, [`${CA_NS}/${rotation(h)!.newRootSecret}`]);
    assert.equal(caSecretNow(h).metadata.annotations?.[ANNOTATION_ROTATION_GENERATED], rotation(h)!.newRootSecret);
  });

  it('a failure between clearing a request and recording it does not swallow the next identical request', async () => {
    h = await startHarness({ config: ROTATION });
    h.identity('web', { duration: '1h' });
    await h.settle();
    requestRotation(h);
    await until(h, 'Retired', 60_000);
    // Retired is written; the next step clears the request, and its state write fails.
    await h.settle();
    const r = rotation(h)!;
    if (r.requestCleared) {
      // It already went through: make it look like the write after the clear failed.
      const data = { ...h.cluster.getConfigMap(CA_NS, ROTATION_CONFIGMAP)!.data! };
      delete data.requestCleared;
      h.cluster.configMaps.set(`${CA_NS}/${ROTATION_CONFIGMAP}`, Object.freeze({ ...h.cluster.getConfigMap(CA_NS, ROTATION_CONFIGMAP)!, data }));
    }
    assert.equal(caSecretNow(h).metadata.annotations?.[ANNOTATION_ROTATE_TO], undefined);
    const prepared = h.cluster.events.filter((e) => e.reason === 'RotationPrepared').length;
    requestRotation(h);
    await h.settle();
    await h.advance(10_000);
    assert.equal(rotation(h)!.phase, 'Prepared', 'the same request again is a new rotation');
    assert.equal(h.cluster.events.filter((e) => e.reason === 'RotationPrepared').length, prepared + 1);
  });

  it('a request while the old root has expired: refused once, with state, Event and log, not ignored', async () => {
    const shortRoot = await generateRootCA({ now: new Date(T0 - 86_400_000), validityDays: 1.01 });
    const lines: string[] = [];
    const logger = { info: () => undefined, warn: () => undefined, debug: () => undefined, error: (m: string, meta?: object) => lines.push(`${m} ${JSON.stringify(meta)}`) };
    h = await startHarness({ root: shortRoot, config: ROTATION, logger: logger as never });
    h.identity('web', { duration: '1h' });
    await h.settle();
    await h.advance(2 * H);
    requestRotation(h);
    for (let i = 0; i < 30; i++) await h.advance(10_000);
    const record = recordFromData(h.cluster.getConfigMap(CA_NS, ROTATION_CONFIGMAP)?.data);
    assert.match(record.refused ?? '', /^generate: .*expired.*replace/);
    assert.equal(h.cluster.events.filter((e) => e.reason === 'RotationRefused').length, 1, 'once, not every 10 s');
    assert.ok(lines.some((l) => /root rotation refused/.test(l)));
  });
});

describe('rotation state writes are guarded (13.3)', () => {
  it('a stale replica cannot move the phase backwards: its write is refused with 409', async () => {
    const a = await startHarness({ config: ROTATION });
    a.identity('web', { duration: '1h' });
    await a.settle();
    requestRotation(a);
    await a.settle();
    assert.equal(rotation(a)!.phase, 'Prepared');
    await a.stop();
    const staleView = a.controller.ca.trust; // what the old leader last read: Prepared
    const b = await startHarness({ time: a.time, cluster: a.cluster, root: a.root, config: ROTATION });
    await until(b, 'Active');
    await b.stop();
    assert.equal(staleView.rotation!.phase, 'Prepared');
    a.controller.queue.shutdown();
    await assert.rejects(a.controller.rotation.reconcile(), (err: unknown) => ClusterError.isConflict(err));
    assert.equal(rotation(b)!.phase, 'Active', 'still Active');
  });
});
