/**
 * The Lease on a real kube-apiserver: the in-memory Lease the elector's tests use (test/ops/memory-lease.ts) answers
 * each call as the server does, and a Lease deleted under its leader (kubectl delete lease) does not cost the
 * leadership: the server creates a Lease on a PUT (AllowCreateOnUpdate), so the leader's next renewal writes it again;
 * a standby that created it first makes that renewal a 409, and the leader stops (test/ops/leader.test.ts).
 */
import assert from 'node:assert/strict';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { KubeLeaseClient } from '../../src/adapter/lease.ts';
import { systemClock } from '../../src/clock.ts';
import { silentLogger } from '../../src/log.ts';
import { LeaderElector } from '../../src/ops/leader.ts';
import type { Lease, LeaseClient } from '../../src/ops/lease.ts';
import { firstRecord, renewedRecord } from '../../src/ops/lease-record.ts';
import { controlPlane, type ControlPlane } from '../support/controlplane.ts';
import { eventually } from '../support/wait.ts';
import { LeaseStore } from '../ops/memory-lease.ts';

/** One call: its answer ('ok', 'absent') or the error's HTTP code. */
async function outcome(fn: () => Promise<Lease | undefined>): Promise<string> {
  try {
    return (await fn()) ? 'ok' : 'absent';
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
}

describe('real apiserver: the Lease (leader election)', function () {
  let cp: ControlPlane;
  let ns: string;
  let leases: CoordinationV1Api;

  before(async function () {
    cp = await controlPlane(this);
    ns = await cp.newNamespace('lease');
    leases = cp.kubeConfig.makeApiClient(CoordinationV1Api);
  });

  /** The same calls through a client; `remove` deletes the Lease as kubectl would. */
  async function script(client: LeaseClient, name: string, remove: () => Promise<void>): Promise<string[]> {
    const steps: string[] = [];
    const now = Date.now();
    steps.push(await outcome(() => client.get(ns, name)));
    let held: Lease | undefined;
    steps.push(await outcome(async () => (held = await client.create(ns, name, firstRecord('a', 15, now)))));
    steps.push(await outcome(() => client.create(ns, name, firstRecord('b', 15, now))));
    const stale = held!;
    steps.push(await outcome(async () => (held = await client.update(ns, name, renewedRecord(held!, 15, now + 1_000)))));
    steps.push(await outcome(() => client.update(ns, name, renewedRecord(stale, 15, now + 2_000))));
    await remove();
    steps.push(await outcome(() => client.get(ns, name)));
    // A renewal of the deleted Lease, with the resourceVersion it last had.
    steps.push(await outcome(() => client.update(ns, name, renewedRecord(held!, 15, now + 3_000))));
    steps.push(`holder ${(await client.get(ns, name))?.holderIdentity ?? 'none'}`);
    return steps;
  }

  it('the in-memory Lease answers each call as the server does, a PUT of a deleted Lease included', async () => {
    const store = new LeaseStore();
    const memory = await script(store.client('a'), 'parity', async () => {
      store.lease = undefined;
    });
    const real = await script(new KubeLeaseClient(cp.kubeConfig), 'parity', async () => {
      await leases.deleteNamespacedLease({ namespace: ns, name: 'parity' });
    });
    // A Lease may be created by a PUT (AllowCreateOnUpdate): the renewal of a deleted one writes it again, whatever
    // resourceVersion it carries.
    assert.deepEqual(real, ['absent', 'ok', '409', 'ok', '409', 'absent', 'ok', 'holder a'], 'the server');
    assert.deepEqual(memory, real, 'the in-memory Lease');
  });

  it('a Lease deleted under its leader is written again by its next renewal; the leader never stops', async () => {
    const stopped: string[] = [];
    let started = 0;
    const elector = new LeaderElector({
      client: new KubeLeaseClient(cp.kubeConfig), namespace: ns, name: 'elected', identity: 'leader_1',
      leaseDurationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 500,
      clock: systemClock, logger: silentLogger(),
      onStartedLeading: () => started++,
      onStoppedLeading: (reason) => stopped.push(reason),
    });
    elector.start();
    try {
      await eventually('leading', () => elector.isLeader, 10_000, 50);
      const first = await leases.readNamespacedLease({ namespace: ns, name: 'elected' });
      await leases.deleteNamespacedLease({ namespace: ns, name: 'elected' });
      const again = await eventually('the Lease written again', async () => {
        try {
          return await leases.readNamespacedLease({ namespace: ns, name: 'elected' });
        } catch {
          return undefined;
        }
      }, 10_000, 50);
      assert.notEqual(again.metadata?.uid, first.metadata?.uid, 'a new object');
      assert.equal(again.spec?.holderIdentity, 'leader_1');
      await new Promise((r) => setTimeout(r, 5_000)); // past the renew deadline
      assert.equal(elector.isLeader, true);
      assert.equal(elector.canWrite(), true);
      assert.deepEqual(stopped, []);
      assert.equal(started, 1);
    } finally {
      await elector.release();
    }
  });
});
