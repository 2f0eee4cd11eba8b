import assert from 'node:assert/strict';
import { ANNOTATION_CERTIFICATE_HASH } from '../../src/api/types.ts';
import { startHarness, type Harness } from '../support/harness.ts';

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
