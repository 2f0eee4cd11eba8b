import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log.ts';
import { LeaderElector, candidateIdentity } from '../../src/ops/leader.ts';
import { FakeTime } from '../support/fake-time.ts';
import { flush, LeaseStore, type MemoryLeaseClient } from './memory-lease.ts';

const LEASE = 60_000;
const RENEW = 40_000;
const RETRY = 15_000;

interface Candidate {
  elector: LeaderElector;
  client: MemoryLeaseClient;
  /** 'start' / 'stop <reason>' in order, with the fake time. */
  log: Array<{ at: number; what: string }>;
  leading: boolean;
}

describe('leader election (in-memory Lease, fake clock)', () => {
  let time: FakeTime;
  let store: LeaseStore;
  let candidates: Candidate[];

  beforeEach(() => {
    time = new FakeTime();
    store = new LeaseStore();
    candidates = [];
  });

  function candidate(id: string, random = () => 0): Candidate {
    const client = store.client(id);
    const c: Candidate = { client, log: [], leading: false } as unknown as Candidate;
    c.elector = new LeaderElector({
      client, namespace: 'mtls-system', identity: id,
      leaseDurationMs: LEASE, renewDeadlineMs: RENEW, retryPeriodMs: RETRY,
      clock: time, timers: time, logger: silentLogger(), random,
      onStartedLeading: () => {
        c.leading = true;
        c.log.push({ at: time.now(), what: 'start' });
      },
      onStoppedLeading: (reason) => {
        c.leading = false;
        c.log.push({ at: time.now(), what: `stop ${reason}` });
      },
    });
    candidates.push(c);
    return c;
  }

  /** Advance the fake clock in small steps, letting the async Lease calls answer in between. */
  async function run(ms: number, step = 250): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      time.advance(Math.min(step, ms - t));
      await flush();
      const leaders = candidates.filter((c) => c.leading).length;
      assert.ok(leaders <= 1, `at ${time.now()}: ${leaders} leaders`);
    }
  }

  it('acquires an absent Lease at once and holds it', async () => {
    const a = candidate('a');
    a.elector.start();
    await run(1_000);
    assert.equal(a.elector.isLeader, true);
    assert.deepEqual(a.log.map((l) => l.what), ['start']);
    assert.equal(store.lease?.holderIdentity, 'a');
    assert.equal(store.lease?.leaseDurationSeconds, 60);
    assert.equal(store.lease?.leaseTransitions, 0);
    assert.equal(store.lease?.acquireTime, store.lease?.renewTime);
  });

  it('renews every retry period, keeping acquireTime; a standby never takes a renewed Lease', async () => {
    const a = candidate('a');
    a.elector.start();
    await run(1_000);
    const acquired = store.lease!.acquireTime;
    const b = candidate('b');
    b.elector.start();
    await run(10 * 60_000);
    assert.equal(store.lease?.holderIdentity, 'a');
    assert.equal(store.lease?.acquireTime, acquired);
    assert.ok(store.lease!.renewTime >= time.now() - RETRY - 1_000, 'renewed within the last retry period');
    assert.ok(store.writes.filter((w) => w.by === 'a').length >= 40, 'a renewal every 15 s');
    assert.equal(store.writes.filter((w) => w.by === 'b').length, 0);
    assert.deepEqual(a.log.map((l) => l.what), ['start']);
    assert.deepEqual(b.log, []);
  });

  it('a leader that cannot renew stops exactly at the renew deadline, even when the call hangs', async () => {
    const a = candidate('a');
    a.elector.start();
    await run(1_000);
    const lastRenew = store.lease!.renewTime;
    a.client.mode = 'hang';
    await run(RENEW + RETRY);
    assert.equal(a.elector.isLeader, false);
    assert.equal(a.log.length, 2);
    assert.match(a.log[1]!.what, /^stop not renewed within 40000 ms/);
    // Detected no later than the deadline (+ one step of the test's clock).
    assert.ok(a.log[1]!.at <= lastRenew + RENEW + 250, `stopped at +${a.log[1]!.at - lastRenew} ms`);
  });

  it('loses to a standby after expiry: the old leader stops before the new one starts', async () => {
    const a = candidate('a');
    const b = candidate('b');
    a.elector.start();
    await run(1_000);
    b.elector.start();
    await run(1_000);
    a.client.mode = 'fail'; // a is cut off from the apiserver; b is not
    await run(2 * LEASE);
    assert.equal(store.lease?.holderIdentity, 'b');
    assert.equal(store.lease?.leaseTransitions, 1);
    assert.equal(b.elector.isLeader, true);
    const stopped = a.log.find((l) => l.what.startsWith('stop'))!;
    const started = b.log.find((l) => l.what === 'start')!;
    assert.ok(stopped.at < started.at, 'never two leaders');
    assert.ok(started.at - stopped.at >= LEASE - RENEW - RETRY, 'the margin a leader gets to stop in-flight work');
  });

  it('a leader that finds the Lease held by another stops at once', async () => {
    const a = candidate('a');
    a.elector.start();
    await run(1_000);
    store.put({ ...store.lease!, holderIdentity: 'intruder', renewTime: time.now() });
    await run(RETRY);
    assert.equal(a.elector.isLeader, false);
    assert.match(a.log.at(-1)!.what, /^stop the lease is held by intruder/);
  });

  it('release clears the Lease and a standby takes over on its next retry, not after expiry', async () => {
    const a = candidate('a');
    const b = candidate('b');
    a.elector.start();
    await run(1_000);
    b.elector.start();
    await run(30_000);
    const released = time.now();
    await a.elector.release();
    a.leading = false; // a's owner stopped its work before releasing
    assert.equal(a.elector.isLeader, false);
    assert.equal(store.lease?.holderIdentity, '');
    assert.equal(store.lease?.leaseDurationSeconds, 1);
    assert.deepEqual(a.log.map((l) => l.what), ['start'], 'release is not a loss');
    await run(RETRY + 1_000);
    const started = b.log.find((l) => l.what === 'start');
    assert.ok(started, 'b took over');
    assert.ok(started.at - released <= RETRY, `took over after ${started.at - released} ms`);
    assert.equal(store.lease?.holderIdentity, 'b');
    assert.equal(store.lease?.leaseTransitions, 1);
    const writesByA = store.writes.filter((w) => w.by === 'a').length;
    await run(2 * LEASE);
    assert.equal(store.writes.filter((w) => w.by === 'a').length, writesByA, 'a released candidate writes nothing more');
  });

  it('two candidates racing for an absent Lease: one create wins, the other gets 409', async () => {
    const a = candidate('a');
    const b = candidate('b');
    a.elector.start();
    b.elector.start();
    await run(1_000);
    assert.equal(candidates.filter((c) => c.leading).length, 1);
    assert.equal(store.writes.length, 1);
  });

  it('many candidates with flaky connections: never two leaders at once', async () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const all = ['a', 'b', 'c', 'd'].map((id) => candidate(id, rand));
    for (const c of all) c.elector.start();
    for (let round = 0; round < 40; round++) {
      for (const c of all) c.client.mode = rand() < 0.25 ? 'fail' : 'ok';
      await run(20_000, 500);
    }
    const starts = all.flatMap((c) => c.log.filter((l) => l.what === 'start'));
    assert.ok(starts.length >= 2, `leadership changed hands (${starts.length} terms)`);
    // Terms never overlap: sort every start/stop by time and check they alternate.
    const events = all.flatMap((c) => c.log.map((l) => ({ ...l, who: c.elector.identity }))).sort((x, y) => x.at - y.at);
    let holder: string | undefined;
    for (const e of events) {
      if (e.what === 'start') {
        assert.equal(holder, undefined, `${e.who} started at ${e.at} while ${holder} led`);
        holder = e.who;
      } else if (holder === e.who) holder = undefined;
    }
  });

  it('identity: POD_NAME (else the hostname) plus a random suffix', () => {
    assert.match(candidateIdentity({ POD_NAME: 'mtls-operator-7d9f-abcde' }), /^mtls-operator-7d9f-abcde_[0-9a-f]{8}$/);
    assert.notEqual(candidateIdentity({ POD_NAME: 'p' }), candidateIdentity({ POD_NAME: 'p' }));
    assert.match(candidateIdentity({}), /^.+_[0-9a-f]{8}$/);
  });
});
