/**
 * Issue 19, point 2, played by a hostile tenant: one namespace annotating in a loop or queueing
 * thousands of keys neither starves other namespaces nor forces an issuance per annotation.
 */
import assert from 'node:assert/strict';
import { FairLanes } from '../../src/controller/lanes.ts';
import { ManualRenewalLimiter, MANUAL_RENEWAL_INTERVAL_MS } from '../../src/controller/limiter.ts';
import { WorkQueue } from '../../src/controller/queue.ts';
import { FakeTime } from '../support/fake-time.ts';
import { startHarness, type Harness } from '../support/harness.ts';

describe('hostile tenant: fairness and manual renewals (issue 19, point 2)', () => {
  it('10,000 keys queued by one namespace delay another namespace\'s key by one key, not 10,000', async () => {
    const t = new FakeTime();
    const q = new WorkQueue({ clock: t, timers: t });
    for (let i = 0; i < 10_000; i++) q.add(`hostile/id-${i}`);
    q.add('victim/web');
    q.add('other/api');
    const first = [];
    for (let i = 0; i < 4; i++) {
      const k = (await q.get())!;
      first.push(k);
      q.done(k);
    }
    assert.deepEqual(first, ['hostile/id-0', 'victim/web', 'other/api', 'hostile/id-1']);
    assert.equal(q.length, 9_998);
    q.shutdown();
  });

  it('a key whose deadline came due (a renewal) runs before event-driven keys already waiting', async () => {
    const t = new FakeTime();
    const q = new WorkQueue({ clock: t, timers: t });
    q.addAfter('victim/web', 1_000);
    for (let i = 0; i < 100; i++) q.add(`hostile/id-${i}`);
    t.advance(1_000);
    assert.equal(await q.get(), 'victim/web');
    q.shutdown();
  });

  it('FairLanes serves namespaces round-robin, FIFO within one', () => {
    const lanes = new FairLanes();
    for (const k of ['a/1', 'a/2', 'a/3', 'b/1', 'c/1', 'b/2']) lanes.push(k, false);
    lanes.push('z/due', true);
    const out: string[] = [];
    for (let k = lanes.shift(); k !== undefined; k = lanes.shift()) out.push(k);
    assert.deepEqual(out, ['z/due', 'a/1', 'b/1', 'c/1', 'a/2', 'b/2', 'a/3']);
    assert.equal(lanes.length, 0);
  });

  it('ManualRenewalLimiter: one manual renewal per identity per interval; other identities are not affected', () => {
    const t = new FakeTime();
    const l = new ManualRenewalLimiter({ clock: t });
    assert.equal(l.take('uid-1'), 0);
    assert.equal(l.take('uid-1'), MANUAL_RENEWAL_INTERVAL_MS);
    assert.equal(l.take('uid-2'), 0);
    t.advance(MANUAL_RENEWAL_INTERVAL_MS - 1);
    assert.equal(l.take('uid-1'), 1);
    t.advance(1);
    assert.equal(l.take('uid-1'), 0);
  });

  describe('through the controller', () => {
    let h: Harness;
    afterEach(async () => {
      await h?.stop();
    });

    it('annotating renew-request in a loop issues once per interval, not once per annotation', async () => {
      h = await startHarness();
      h.identity('web');
      await h.settle();
      const serials = new Set([h.leaf('web-mtls')!.serialNumber]);
      for (let i = 0; i < 20; i++) {
        h.cluster.applyIdentity({ metadata: { name: 'web', namespace: 'dev', annotations: { 'mtls.dev/renew-request': `loop-${i}` } }, spec: {} });
        await h.settle();
        serials.add(h.leaf('web-mtls')!.serialNumber);
      }
      assert.equal(serials.size, 2, 'the first request is honoured at once, the other 19 wait');
      await h.advance(MANUAL_RENEWAL_INTERVAL_MS);
      serials.add(h.leaf('web-mtls')!.serialNumber);
      assert.equal(serials.size, 3, 'the latest request is honoured once the interval passed');
      await h.advance(MANUAL_RENEWAL_INTERVAL_MS);
      assert.equal(new Set([...serials, h.leaf('web-mtls')!.serialNumber]).size, 3, 'and only once');
    });
  });
});
