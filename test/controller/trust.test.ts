import assert from 'node:assert/strict';
import { prepare } from '../../src/pki/prepared.ts';
import { ROTATION_KEY } from '../../src/controller/rotation.ts';
import { X509Certificate } from 'node:crypto';
import { CA_CRT, TLS_CRT, TRUST_BUNDLE_CONFIGMAP, type Secret } from '../../src/api/types.ts';
import { ANNOTATION_ROTATE_TO, ANNOTATION_ROTATION_ABORT } from '../../src/controller/ca-source.ts';
import { unb64 } from '../../src/controller/secret.ts';
import { bundleFingerprints, fingerprintOf, generateIntermediateCA, generateRootCA, loadSigningCA } from '../../src/pki/index.ts';
import { caSecret, CA_NAME, CA_NS, startHarness, type Harness } from '../support/harness.ts';
import { requestRotation, rotation, until } from '../support/rotation.ts';

const H = 3_600_000;
const ROTATION = { propagationDelayMs: 120_000, skewMs: 300_000, checkIntervalMs: 10_000, reissuePerSecond: 1000 };

function bundleOf(s: Secret | undefined): string[] {
  return bundleFingerprints(unb64(s?.data?.[CA_CRT]) ?? '');
}
function rootFp(pem: string): string {
  return fingerprintOf(new X509Certificate(pem));
}

describe('trust bundle ConfigMaps', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it('every namespace with identities gets mtls-trust-bundle; kept in sync; removed with the last identity', async () => {
    h = await startHarness();
    h.identity('a');
    h.identity('b');
    h.identity('c', {}, 'other');
    await h.settle();
    const cm = h.cluster.getConfigMap('dev', TRUST_BUNDLE_CONFIGMAP)!;
    assert.equal(cm.data![CA_CRT], unb64(h.secret('a-mtls')!.data![CA_CRT]));
    assert.deepEqual(bundleFingerprints(cm.data![CA_CRT]!), [rootFp(h.root.certPem)]);
    assert.ok(h.cluster.getConfigMap('other', TRUST_BUNDLE_CONFIGMAP));
    h.cluster.deleteConfigMap('dev', TRUST_BUNDLE_CONFIGMAP);
    await h.settle();
    assert.ok(h.cluster.getConfigMap('dev', TRUST_BUNDLE_CONFIGMAP), 'deleted by hand: written again');
    h.cluster.deleteIdentity('dev', 'a');
    await h.settle();
    assert.ok(h.cluster.getConfigMap('dev', TRUST_BUNDLE_CONFIGMAP), 'b still lives in dev');
    h.cluster.deleteIdentity('dev', 'b');
    await h.settle();
    assert.equal(h.cluster.getConfigMap('dev', TRUST_BUNDLE_CONFIGMAP), undefined);
    assert.ok(h.cluster.getConfigMap('other', TRUST_BUNDLE_CONFIGMAP));
  });

  it('a CA replaced by hand re-issues every leaf at the configured rate; the old root stays in every bundle until the old leaves expired (unstaged rotation)', async () => {
    h = await startHarness({ config: { reissuePerSecond: 2, skewMs: 300_000 } });
    for (let i = 0; i < 10; i++) h.identity(`id${i}`, { duration: '2h' });
    await h.settle();
    const oldFp = rootFp(h.root.certPem);
    const oldNotAfter = new Date(h.leaf('id0-mtls')!.validTo).getTime();
    const writes = h.cluster.writesOf('applySecret');
    const wholeReads = h.cluster.wholeReads;
    const newRoot = await generateRootCA({ now: new Date(h.time.now() - H) });
    h.cluster.putSecret(caSecret(newRoot));
    await h.settle();
    const newFp = rootFp(newRoot.certPem);
    const onNew = () => [...Array(10).keys()].filter((i) => h.leaf(`id${i}-mtls`)!.checkIssued(new X509Certificate(newRoot.certPem))).length;
    const burst = onNew();
    assert.ok(burst >= 1 && burst <= 3, `a burst of about the rate at once, saw ${burst}`);
    for (let t = 0; t < 1000; t += 250) await h.advance(250);
    assert.ok(onNew() <= burst + 2, `no more than the rate per second, saw ${onNew()}`);
    for (let t = 0; t < 10_000; t += 250) await h.advance(250);
    assert.equal(onNew(), 10, 'all re-issued in the end');
    assert.equal(h.cluster.writesOf('applySecret') - writes, 10, 'one write per leaf');
    assert.equal(h.cluster.wholeReads - wholeReads, 0, 'no Secret read whole: the new root\'s key identifier says it signed none of the old leaves');
    const r = rotation(h)!;
    assert.equal(r.phase, 'Active');
    assert.equal(r.unstaged, true);
    assert.equal(r.oldRootFingerprint, oldFp);
    for (let i = 0; i < 10; i++) assert.deepEqual(bundleOf(h.secret(`id${i}-mtls`)), [oldFp, newFp], 'old leaves still live: the old root stays');
    assert.deepEqual(bundleFingerprints(h.cluster.getConfigMap('dev', TRUST_BUNDLE_CONFIGMAP)!.data![CA_CRT]!), [oldFp, newFp]);
    assert.ok(h.cluster.events.some((e) => e.reason === 'RotationUnstaged' && e.type === 'Warning'));
    await until(h, 'Retired', 60_000);
    assert.ok(h.time.now() >= oldNotAfter + 300_000, 'retired only after the last old leaf expired, plus skew');
    for (let t = 0; t < 10_000; t += 500) await h.advance(500); // bundle updates take turns too
    for (let i = 0; i < 10; i++) assert.deepEqual(bundleOf(h.secret(`id${i}-mtls`)), [newFp]);
    assert.deepEqual(bundleFingerprints(h.cluster.getConfigMap('dev', TRUST_BUNDLE_CONFIGMAP)!.data![CA_CRT]!), [newFp]);
  });

  it('issue 11: during a rotation the signing CA with its bundle is one object while nothing changes (no bundle merge or CA parse per issuance)', async () => {
    h = await startHarness({ config: { reissuePerSecond: 2 } });
    h.identity('id0', { duration: '2h' });
    await h.settle();
    const newRoot = await generateRootCA({ now: new Date(h.time.now() - H) });
    h.cluster.putSecret(caSecret(newRoot));
    await h.settle();
    assert.equal(rotation(h)?.unstaged, true);
    const a = h.controller.ca.current().ca!;
    const b = h.controller.ca.current().ca!;
    assert.equal(bundleFingerprints(a.bundlePem).length, 2, 'old and new root');
    assert.strictEqual(a, b, 'the same object: per-CA caches (prepare) hold');
    assert.strictEqual(prepare(a), prepare({ ...a, bundlePem: 'another bundle' }), 'prepare is keyed by the certificate');
  });

  it('issue 11: with no rotation running, a look at the rotation reads no issued Secret (a restart over 10,000 parsed every leaf for nothing)', async () => {
    h = await startHarness();
    for (let i = 0; i < 5; i++) h.identity(`id${i}`);
    await h.settle();
    let reads = 0;
    const list = h.cluster.listSecrets.bind(h.cluster);
    h.cluster.listSecrets = () => { reads++; return list(); };
    h.controller.queue.add(ROTATION_KEY);
    await h.settle();
    assert.equal(reads, 0);
    assert.equal(rotation(h)?.phase ?? 'none', 'none');
    requestRotation(h);
    await h.settle();
    assert.ok(reads > 0, 'a running rotation reads them');
  });

  it('a leaf never outlives its CA: notAfter is clamped and a Warning says so', async () => {
    h = await startHarness({ root: await generateRootCA({ now: new Date(Date.UTC(2026, 10, 23, 11)), validityDays: 0.5 }) });
    h.identity('web', { duration: '24h' });
    await h.settle();
    const leaf = h.leaf('web-mtls')!;
    const root = new X509Certificate(h.root.certPem);
    assert.equal(new Date(leaf.validTo).getTime(), new Date(root.validTo).getTime());
    const warn = h.cluster.events.find((e) => e.reason === 'CAExpiresSoon')!;
    assert.equal(warn.type, 'Warning');
    assert.match(warn.message, /cut/);
  });
});

describe('staged root rotation', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it('Prepared → Active → Retired: both roots trusted before the new one signs; the old one leaves last', async () => {
    h = await startHarness({ config: ROTATION });
    h.identity('web', { duration: '24h' });
    h.identity('api', { duration: '1h' }, 'other');
    await h.settle();
    const oldFp = rootFp(h.root.certPem);
    const oldLeaf = h.leaf('web-mtls')!;
    requestRotation(h);
    await h.settle();
    let r = rotation(h)!;
    assert.equal(r.phase, 'Prepared');
    assert.equal(r.oldRootFingerprint, oldFp);
    const newFp = r.newRootFingerprint;
    assert.notEqual(newFp, oldFp);
    for (const s of [h.secret('web-mtls'), h.secret('api-mtls', 'other')]) assert.deepEqual(bundleOf(s), [oldFp, newFp]);
    assert.deepEqual(bundleFingerprints(h.cluster.getConfigMap('dev', TRUST_BUNDLE_CONFIGMAP)!.data![CA_CRT]!), [oldFp, newFp]);
    assert.equal(h.leaf('web-mtls')!.serialNumber, oldLeaf.serialNumber, 'Prepared re-issues nothing: the old CA still signs');
    await h.advance(10_000);
    assert.equal(rotation(h)!.phase, 'Prepared', 'held for the propagation delay');
    await until(h, 'Active');
    const newLeaf = h.leaf('web-mtls')!;
    assert.notEqual(newLeaf.serialNumber, oldLeaf.serialNumber, 'Active re-issues every leaf');
    const newRoot = new X509Certificate(unb64(h.cluster.secrets.get(`${CA_NS}/${rotation(h)!.newRootSecret}`)!.data![TLS_CRT])!);
    assert.ok(newLeaf.checkIssued(newRoot) && newLeaf.verify(newRoot.publicKey));
    assert.deepEqual(bundleOf(h.secret('web-mtls')), [oldFp, newFp], 'the old root is still trusted while old leaves live');
    r = rotation(h)!;
    assert.ok(new Date(r.retireAfter!).getTime() >= new Date(oldLeaf.validTo).getTime() + 300_000, 'retires after the last old leaf expires, plus skew');
    await h.advance(H);
    assert.equal(rotation(h)!.phase, 'Active');
    await until(h, 'Retired', 10 * 60_000);
    assert.ok(h.time.now() >= new Date(oldLeaf.validTo).getTime());
    for (const s of [h.secret('web-mtls'), h.secret('api-mtls', 'other')]) assert.deepEqual(bundleOf(s), [newFp]);
    assert.deepEqual(bundleFingerprints(h.cluster.getConfigMap('other', TRUST_BUNDLE_CONFIGMAP)!.data![CA_CRT]!), [newFp]);
    const ca = h.cluster.secrets.get(`${CA_NS}/${CA_NAME}`)!;
    assert.equal(rootFp(unb64(ca.data![TLS_CRT])!), newFp, 'the CA Secret now holds the new root');
    assert.equal(ca.metadata.annotations?.[ANNOTATION_ROTATE_TO], undefined, 'the request was cleared');
    assert.deepEqual(h.cluster.events.filter((e) => e.reason.startsWith('Rotation')).map((e) => e.reason), ['RotationPrepared', 'RotationActive', 'RotationRetired']);
    const serial = h.leaf('web-mtls')!.serialNumber;
    await h.advance(60_000);
    assert.equal(h.leaf('web-mtls')!.serialNumber, serial, 'nothing re-issued after retiring');
  });

  for (const phase of ['Prepared', 'Active'] as const) {
    it(`a crash during ${phase} resumes where it stopped`, async () => {
      h = await startHarness({ config: ROTATION });
      h.identity('web', { duration: '2h' });
      await h.settle();
      requestRotation(h);
      await h.settle();
      await until(h, phase);
      await h.stop();
      h = await startHarness({ time: h.time, cluster: h.cluster, root: h.root, config: ROTATION });
      assert.equal(rotation(h)!.phase, phase);
      await until(h, 'Retired', 60_000);
      assert.equal(h.cluster.events.filter((e) => e.reason === 'RotationPrepared').length, 1, 'not started twice');
      assert.deepEqual(bundleOf(h.secret('web-mtls')), [rotation(h)!.newRootFingerprint]);
    });
  }

  it('a crash between promoting the new CA and writing Retired still ends Retired', async () => {
    h = await startHarness({ config: ROTATION });
    h.identity('web', { duration: '1h' });
    await h.settle();
    requestRotation(h);
    await until(h, 'Active');
    h.cluster.failNext('writeConfigMap', new Error('crash'));
    await until(h, 'Retired', 60_000);
    assert.equal(rootFp(unb64(h.cluster.secrets.get(`${CA_NS}/${CA_NAME}`)!.data![TLS_CRT])!), rotation(h)!.newRootFingerprint);
  });

  it('abort before Active: the old root alone again, nothing re-issued; after Active an abort is ignored', async () => {
    h = await startHarness({ config: ROTATION });
    h.identity('web');
    await h.settle();
    const serial = h.leaf('web-mtls')!.serialNumber;
    const oldFp = rootFp(h.root.certPem);
    requestRotation(h);
    await h.settle();
    assert.equal(rotation(h)!.phase, 'Prepared');
    requestRotation(h, 'generate', { [ANNOTATION_ROTATION_ABORT]: 'now' });
    await h.settle();
    await h.advance(10_000);
    assert.equal(rotation(h)!.phase, 'Aborted');
    assert.deepEqual(bundleOf(h.secret('web-mtls')), [oldFp]);
    assert.equal(h.leaf('web-mtls')!.serialNumber, serial);
    const ann = h.cluster.secrets.get(`${CA_NS}/${CA_NAME}`)!.metadata.annotations ?? {};
    assert.equal(ann[ANNOTATION_ROTATE_TO], undefined);
    assert.equal(ann[ANNOTATION_ROTATION_ABORT], undefined);
    requestRotation(h);
    await until(h, 'Active');
    requestRotation(h, 'generate', { [ANNOTATION_ROTATION_ABORT]: 'now' });
    await h.advance(10_000);
    assert.equal(rotation(h)!.phase, 'Active');
    assert.match(rotation(h)!.message, /abort ignored|every leaf re-issued/);
  });

  it('a rotation to a Secret that is not a usable CA is refused with a Warning', async () => {
    h = await startHarness({ config: ROTATION });
    h.identity('web');
    await h.settle();
    requestRotation(h, 'no-such-secret');
    await h.settle();
    assert.equal(rotation(h), undefined);
    assert.ok(h.cluster.events.some((e) => e.reason === 'RotationRefused' && /no-such-secret/.test(e.message)));
  });
});

describe('intermediate CAs', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  async function intermediateSecret(name: string, now: Date): Promise<{ secret: Secret; rootPem: string; intermediatePem: string }> {
    const root = await generateRootCA({ now: new Date(now.getTime() - H), commonName: 'Org Root' });
    const rootCa = await loadSigningCA(root, now);
    const inter = await generateIntermediateCA(rootCa, { commonName: 'Cluster Issuing CA', validityDays: 365, now: new Date(now.getTime() - H) });
    const secret = caSecret({ certPem: inter.certPem + root.certPem, keyPem: inter.keyPem, bundlePem: root.certPem });
    secret.metadata.name = name;
    return { secret, rootPem: root.certPem, intermediatePem: inter.certPem };
  }

  it('an intermediate signs: tls.crt carries leaf + intermediate, ca.crt the root only', async () => {
    const now = new Date(Date.UTC(2026, 10, 23, 12));
    const { secret, rootPem, intermediatePem } = await intermediateSecret(CA_NAME, now);
    h = await startHarness({ root: null });
    h.cluster.putSecret(secret);
    await h.settle();
    h.identity('web');
    await h.settle();
    const s = h.secret('web-mtls')!;
    const chain = unb64(s.data![TLS_CRT])!;
    const fps = bundleFingerprints(chain);
    assert.equal(fps.length, 2, 'leaf + intermediate, no root');
    assert.equal(fps[1], rootFp(intermediatePem));
    assert.deepEqual(bundleOf(s), [rootFp(rootPem)]);
    assert.ok(h.leaf('web-mtls')!.checkIssued(new X509Certificate(intermediatePem)));
  });

  it('a rotation to an admin-provided intermediate (with its root) completes and the CA Secret holds it', async () => {
    h = await startHarness({ config: ROTATION });
    h.identity('web', { duration: '1h' });
    await h.settle();
    const { secret, rootPem, intermediatePem } = await intermediateSecret('org-issuing-ca', new Date(h.time.now()));
    secret.metadata.namespace = CA_NS;
    h.cluster.putSecret(secret);
    requestRotation(h, 'org-issuing-ca');
    await h.settle();
    assert.equal(rotation(h)!.phase, 'Prepared');
    assert.deepEqual(bundleOf(h.secret('web-mtls')), [rootFp(h.root.certPem), rootFp(rootPem)], 'the new root, not the intermediate, joins the bundle');
    await until(h, 'Retired', 60_000);
    assert.ok(h.leaf('web-mtls')!.checkIssued(new X509Certificate(intermediatePem)));
    assert.deepEqual(bundleOf(h.secret('web-mtls')), [rootFp(rootPem)]);
    const ca = h.cluster.secrets.get(`${CA_NS}/${CA_NAME}`)!;
    assert.equal(rootFp(unb64(ca.data![TLS_CRT])!), rootFp(intermediatePem), 'the CA Secret now signs with the intermediate');
    assert.deepEqual(bundleOf(ca), [rootFp(rootPem)]);
    await h.stop();
    h = await startHarness({ time: h.time, cluster: h.cluster, root: h.root, config: ROTATION });
    const writes = h.cluster.writesOf();
    await h.advance(60_000);
    assert.equal(rotation(h)!.phase, 'Retired');
    assert.equal(h.cluster.writesOf(), writes, 'a restart after Retired changes nothing');
  });
});
