import assert from 'node:assert/strict';
import { ANNOTATION_CERTIFICATE_HASH, ANNOTATION_TRUST_BUNDLE_HASH } from '../../src/api/types.ts';
import { trustBundleHash } from '../../src/controller/writer.ts';
import { unb64 } from '../../src/controller/secret.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { requestRotation, rotation } from '../support/rotation.ts';

const H = 3_600_000;

describe('controller: opt-in workload restart', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  const spec = { duration: '24h', restartWorkloads: [{ kind: 'Deployment' as const, name: 'web' }, { kind: 'StatefulSet' as const, name: 'db' }] };

  it('restarts the named workloads once per renewal, never on the first certificate, never in a loop', async () => {
    h = await startHarness({ config: { allowWorkloadRestart: true } });
    h.cluster.workloads.set('Deployment/dev/web', {});
    h.cluster.workloads.set('StatefulSet/dev/db', {});
    h.identity('web', spec);
    await h.settle();
    assert.equal(h.cluster.writesOf('patchWorkload'), 0, 'the first certificate restarts nothing');
    await h.advance(17 * H); // renewal
    const serial = h.leaf('web-mtls')!.serialNumber.toLowerCase();
    assert.equal(h.cluster.writesOf('patchWorkload'), 2);
    assert.equal(h.cluster.workloads.get('Deployment/dev/web')![ANNOTATION_CERTIFICATE_HASH], serial);
    assert.equal(h.cluster.workloads.get('StatefulSet/dev/db')![ANNOTATION_CERTIFICATE_HASH], serial);
    assert.equal(h.cluster.identities.get('dev/web')!.status!.workloadsRestartedFor, serial);
    await h.advance(H);
    h.identity('web', { ...spec, secretTemplate: { labels: { touched: 'yes' } } });
    await h.settle();
    assert.equal(h.cluster.writesOf('patchWorkload'), 2, 'no second restart for the same certificate');
  });

  it('restarts them once when their trust bundle changes (a rotation\'s Prepared), before the new CA signs, the serial annotation unchanged', async () => {
    h = await startHarness({ config: { allowWorkloadRestart: true, propagationDelayMs: 120_000, checkIntervalMs: 10_000, reissuePerSecond: 5 } });
    h.cluster.workloads.set('Deployment/dev/web', {});
    h.cluster.workloads.set('StatefulSet/dev/db', {});
    h.identity('web', spec);
    await h.settle();
    assert.equal(h.cluster.writesOf('patchWorkload'), 0);
    const serial = h.leaf('web-mtls')!.serialNumber.toLowerCase();
    const before = unb64(h.secret('web-mtls')!.data!['ca.crt'])!;
    assert.equal(h.cluster.identities.get('dev/web')!.status!.workloadsTrustBundle, trustBundleHash(before), 'the first bundle is recorded, nothing restarted');
    requestRotation(h);
    await h.settle();
    for (let i = 0; i < 4; i++) await h.advance(1000);
    assert.equal(rotation(h)!.phase, 'Prepared');
    assert.equal(h.leaf('web-mtls')!.serialNumber.toLowerCase(), serial, 'the certificate is the same');
    const after = unb64(h.secret('web-mtls')!.data!['ca.crt'])!;
    assert.notEqual(after, before, 'Prepared put the new root in the bundle');
    assert.equal(h.cluster.writesOf('patchWorkload'), 2, 'both workloads restarted for the new bundle');
    for (const w of ['Deployment/dev/web', 'StatefulSet/dev/db']) {
      assert.equal(h.cluster.workloads.get(w)![ANNOTATION_TRUST_BUNDLE_HASH], trustBundleHash(after), w);
      assert.equal(h.cluster.workloads.get(w)![ANNOTATION_CERTIFICATE_HASH], serial, `${w}: the serial annotation still names the leaf`);
    }
    assert.equal(h.cluster.identities.get('dev/web')!.status!.workloadsTrustBundle, trustBundleHash(after));
    assert.ok(h.cluster.events.some((e) => e.reason === 'WorkloadsRestarted' && /trust bundle/.test(e.message)));
    await h.advance(10_000);
    await h.advance(10_000);
    assert.equal(h.cluster.writesOf('patchWorkload'), 2, 'once per bundle, not on every check');
  });

  it('an identity from before the bundle was recorded restarts nothing for it (upgrade) and records the bundle from then on', async () => {
    h = await startHarness({ config: { allowWorkloadRestart: true } });
    h.cluster.workloads.set('Deployment/dev/web', {});
    h.identity('web', { duration: '24h', restartWorkloads: [{ kind: 'Deployment' as const, name: 'web' }] });
    await h.settle();
    const { workloadsTrustBundle: _, ...older } = h.cluster.identities.get('dev/web')!.status!;
    await h.cluster.patchIdentityStatus('dev', 'web', { ...older, workloadsTrustBundle: null as unknown as undefined });
    assert.equal(h.cluster.identities.get('dev/web')!.status!.workloadsTrustBundle, undefined);
    h.identity('web', { duration: '24h', restartWorkloads: [{ kind: 'Deployment' as const, name: 'web' }], secretTemplate: { labels: { a: 'b' } } });
    await h.settle();
    assert.equal(h.cluster.writesOf('patchWorkload'), 0, 'no restart for a bundle the pods may already run with');
    assert.ok(h.cluster.identities.get('dev/web')!.status!.workloadsTrustBundle, 'recorded from now on');
  });

  it('is refused (with a Warning) when the operator does not allow it', async () => {
    h = await startHarness();
    h.cluster.workloads.set('Deployment/dev/web', {});
    h.identity('web', spec);
    await h.settle();
    await h.advance(17 * H);
    assert.equal(h.cluster.writesOf('patchWorkload'), 0);
    assert.ok(h.cluster.events.some((e) => e.reason === 'WorkloadRestartDisabled' && e.type === 'Warning'));
  });

  it('a missing workload is a Warning, not a failed issuance', async () => {
    h = await startHarness({ config: { allowWorkloadRestart: true } });
    h.cluster.workloads.set('Deployment/dev/web', {});
    h.identity('web', spec);
    await h.settle();
    await h.advance(17 * H);
    assert.ok(h.cluster.events.some((e) => e.reason === 'WorkloadRestartFailed' && /StatefulSet db/.test(e.message)));
    assert.equal(h.cluster.identities.get('dev/web')!.status!.conditions!.find((c) => c.type === 'Ready')!.status, 'True');
    assert.ok(h.cluster.workloads.get('Deployment/dev/web')![ANNOTATION_CERTIFICATE_HASH]);
  });
});
