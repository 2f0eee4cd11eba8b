import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log.ts';
import { LeaderElector, candidateIdentity } from '../../src/ops/leader.ts';
import { firstRecord } from '../../src/ops/lease-record.ts';
import { FakeTime } from '../support/fake-time.ts';
import { flush, LeaseStore, type MemoryLeaseClient } from './memory-lease.ts';

const LEASE = 60_000;
const RENEW = 40_000;
const RETRY = 2_000;

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
  /** Wall clock = fake monotonic time + this (an NTP step moves it). */
  let wallOffset: number;

  beforeEach(() => {
    time = new FakeTime();
    wallOffset = 0;
    store = new LeaseStore();
    candidates = [];
  });

  function candidate(id: string, random = () => 0): Candidate {
    const client = store.client(id);
    const c: Candidate = { client, log: [], leading: false } as unknown as Candidate;
    c.elector = new LeaderElector({
      client, namespace: 'mtls-system', identity: id,
      leaseDurationMs: LEASE, renewDeadlineMs: RENEW, retryPeriodMs: RETRY,
      clock: { now: () => time.now() + wallOffset }, monotonic: () => time.now(), timers: time, logger: silentLogger(), random,
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
    assert.ok(store.writes.filter((w) => w.by === 'a').length >= 40, 'a renewal every retry period');
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

  it('expiry is judged on the monotonic clock from our own observation: an NTP step or an old renewTime changes nothing', async () => {
    const a = candidate('a');
    const b = candidate('b');
    a.elector.start();
    await run(1_000);
    b.elector.start();
    await run(5_000);
    a.client.mode = 'fail'; // a stops renewing: b sees its last renewal within one retry of it
    const lastChange = store.lease!.renewTime;
    await run(RETRY);
    wallOffset += 3_600_000; // the wall clock steps forward an hour
    await run(LEASE - RETRY - 2_000);
    assert.equal(store.lease?.holderIdentity, 'a', 'b did not take over before a lease duration of its own time');
    assert.equal(b.log.length, 0);
    await run(LEASE);
    const started = b.log.find((l) => l.what === 'start')!;
    assert.ok(started, 'b took over once the lease expired by its own clock');
    assert.ok(started.at - lastChange >= LEASE, `took over ${started.at - lastChange} ms after the last change`);
    assert.ok(started.at - lastChange <= LEASE + 2 * RETRY * 1.2 + 500, `took over ${started.at - lastChange} ms after the last change`);
  });

  it('a holder whose renewTime looks a day old (its clock is behind) keeps the Lease while it keeps renewing', async () => {
    const b = candidate('b');
    const day = 86_400_000;
    store.put({ holderIdentity: 'x', leaseDurationSeconds: 60, acquireTime: time.now() - day, renewTime: time.now() - day, leaseTransitions: 0 });
    b.elector.start();
    for (let i = 0; i < 20; i++) {
      await run(10_000);
      store.put({ ...store.lease!, renewTime: store.lease!.renewTime + 10_000 }, 'x');
    }
    assert.equal(store.lease?.holderIdentity, 'x');
    assert.deepEqual(b.log, []);
  });

  it('fence: canWrite turns false the instant the monotonic clock passes the renew deadline, before any timer runs', async () => {
    const a = candidate('a');
    a.elector.start();
    await run(500);
    assert.equal(a.elector.canWrite(), true);
    a.client.mode = 'hang';
    await run(RENEW - 1_000); // renewals hang; the last good one was at ~0
    const renewedAgo = time.now() - store.lease!.renewTime;
    assert.ok(renewedAgo < RENEW);
    assert.equal(a.elector.canWrite(), true);
    time.jump(RENEW - renewedAgo); // frozen: no timer has fired, the deadline is reached exactly
    assert.equal(a.elector.isLeader, true, 'the deadline timer has not run yet');
    assert.equal(a.elector.canWrite(), false);
    assert.match(a.elector.whyNot(), /last renewal of the Lease is 40000 ms old \(renew deadline 40000 ms\)/);
    assert.equal(a.elector.signal.aborted, false);
    await run(250);
    assert.equal(a.elector.isLeader, false);
    assert.equal(a.elector.signal.aborted, true, 'leadership lost: what runs on it is cancelled');
    assert.equal(a.elector.canWrite(), false);
  });

  it('fence: a suspended machine (the monotonic clock stood still, the wall clock did not) writes nothing on waking', async () => {
    const a = candidate('a');
    a.elector.start();
    await run(500);
    assert.equal(a.elector.canWrite(), true);
    wallOffset += LEASE + 1_000; // suspended for more than the lease: Linux's CLOCK_MONOTONIC did not advance
    assert.equal(a.elector.canWrite(), false, 'no write before anything else runs');
    assert.match(a.elector.whyNot(), /last renewal of the Lease is 6\d{4} ms old/);
    // Nobody took the Lease meanwhile: the next renewal succeeds and opens the fence again.
    await run(RETRY + 500);
    assert.equal(a.elector.isLeader, true);
    assert.equal(a.elector.canWrite(), true);
  });

  it('a leader frozen past its lease and resumed does not renew and writes no Lease: it stops at once', async () => {
    const a = candidate('a');
    const b = candidate('b');
    a.elector.start();
    await run(500);
    b.elector.start();
    await run(5_000);
    const writesByA = store.writes.filter((w) => w.by === 'a').length;
    // a freezes (its timers stop; b's run). Simulate: a's client stops, b takes over after expiry.
    a.client.mode = 'hang';
    time.jump(0);
    const frozenCalls = a.client.calls.length;
    // Jump the clock by more than a lease without firing a's timers, as a SIGSTOP'd process sees it.
    time.jump(LEASE + 5_000);
    assert.equal(a.elector.canWrite(), false, 'at the first instant after resuming, before any timer');
    a.client.mode = 'ok';
    await run(250);
    assert.equal(a.elector.isLeader, false);
    assert.match(a.log.at(-1)!.what, /^stop not renewed within 40000 ms/);
    assert.equal(store.writes.filter((w) => w.by === 'a').length, writesByA, 'no write of the Lease after resuming');
    assert.ok(a.client.calls.slice(frozenCalls).every((c) => !c.startsWith('update')), `calls after resuming: ${a.client.calls.slice(frozenCalls).join(', ')}`);
  });

  it('a try that succeeds only after the renew deadline (frozen mid-try) proves nothing: a leader stops, a candidate does not start', async () => {
    const a = candidate('a');
    a.elector.start();
    await run(500);
    let open!: () => void;
    a.client.gate = new Promise<void>((r) => (open = r));
    await run(RETRY); // a renewal is in flight, held
    time.jump(RENEW + 1); // frozen: no timer has run
    a.client.gate = undefined;
    open();
    await flush();
    assert.equal(a.elector.isLeader, false, 'the renewal landed, but after the deadline');
    assert.match(a.log.at(-1)!.what, /^stop not renewed within 40000 ms/);

    // A candidate whose take lands after the deadline: not started then; it takes the Lease on a later try.
    store.lease = undefined as LeaseStore['lease'];
    const b = candidate('b');
    b.client.gate = new Promise<void>((r) => (open = r));
    b.elector.start();
    time.advance(1); // its first try: the GET, held
    await flush();
    time.jump(RENEW + 1);
    b.client.gate = undefined;
    open();
    await flush();
    assert.equal(store.lease?.holderIdentity, 'b', 'its create landed');
    assert.equal(b.log.length, 0, 'not started on it');
    await run(2 * RETRY + 1_000);
    assert.equal(b.elector.isLeader, true);
    assert.deepEqual(b.log.map((l) => l.what), ['start']);
  });

  it('a leader frozen while its read was answered writes no Lease on waking: the renewal is refused before it leaves', async () => {
    const a = candidate('a');
    a.elector.start();
    await run(500);
    store.put({ ...store.lease! }, 'a'); // the resourceVersion moves under a: its next renewal is GET + PUT
    let open!: () => void;
    a.client.gate = new Promise<void>((r) => (open = r));
    await run(RETRY); // the fast-path PUT is in flight, held
    const mark = a.client.calls.length;
    time.jump(RENEW + 1); // frozen: its answers wait, no timer has run
    a.client.gate = undefined;
    open(); // on waking the answers come first (the PUT's 409, then the GET's record), before any timer
    await flush();
    assert.deepEqual(a.client.calls.slice(mark - 1).map((c) => c.split(' ')[0]), ['update', 'get'], 'no second PUT');
    assert.equal(a.elector.mayWriteLease(), false);
    assert.equal(a.elector.isLeader, false, 'it stops as the try ends, not at a later timer');
    assert.match(a.log.at(-1)!.what, /^stop not renewed within 40000 ms/);
  });

  it('mayWriteLease: a candidate and a releasing leader may write the Lease; a leader past its deadline, or one that lost, may not', async () => {
    const a = candidate('a');
    assert.equal(a.elector.mayWriteLease(), true, 'a candidate (its take carries the resourceVersion)');
    a.elector.start();
    await run(500);
    assert.equal(a.elector.mayWriteLease(), true);
    time.jump(RENEW - 1_000);
    assert.equal(a.elector.mayWriteLease(), true, 'within the deadline');
    time.jump(1_500);
    assert.equal(a.elector.mayWriteLease(), false, 'past the deadline, before the deadline timer runs');
    await run(250);
    assert.equal(a.elector.isLeader, false);
    assert.equal(a.elector.mayWriteLease(), false, 'lost: the Lease is someone else\'s to take');

    const b = candidate('b');
    store.lease = undefined as LeaseStore['lease'];
    b.elector.start();
    await run(500);
    assert.equal(b.elector.isLeader, true);
    const released = b.elector.release();
    assert.equal(b.elector.mayWriteLease(), true, 'the release may go');
    await released;
    assert.equal(store.lease?.holderIdentity, '');
  });

  it('a release refused by the resourceVersion (another took the Lease meanwhile) leaves the new holder\'s record alone', async () => {
    const a = candidate('a');
    a.elector.start();
    await run(500);
    // b takes the Lease while a's timers have not run (a frozen past its lease, as seen by a's own record).
    store.put(firstRecord('b', 60, time.now()), 'b');
    const before = store.lease!;
    await a.elector.release();
    assert.deepEqual(store.lease, before, 'b\'s record is unchanged');
    assert.equal(a.client.calls.at(-1)?.split(' ')[0], 'update', 'the release was tried, and refused (409)');
  });

  it('release() while a candidate\'s read is in flight: the read ends and nothing is written', async () => {
    const b = candidate('b');
    let open!: () => void;
    b.client.gate = new Promise<void>((r) => (open = r));
    b.elector.start();
    time.advance(1);
    await flush();
    assert.deepEqual(b.client.calls, ['get mtls-system/mtls-operator']);
    const released = b.elector.release();
    b.client.gate = undefined;
    open();
    await released;
    assert.equal(store.lease, undefined, 'no Lease created after stop()');
    assert.deepEqual(b.log, []);
  });

  it('a leader that lost the Lease writes no release when its owner stops (the Lease is the new holder\'s)', async () => {
    const a = candidate('a');
    a.elector.start();
    await run(500);
    a.client.mode = 'hang'; // lost at the deadline, its last record still names a
    await run(RENEW + 500);
    assert.equal(a.elector.isLeader, false);
    store.put({ ...store.lease!, holderIdentity: 'b', renewTime: time.now() });
    a.client.mode = 'ok';
    const calls = a.client.calls.length;
    await a.elector.release();
    assert.deepEqual(a.client.calls.slice(calls), [], 'not even a refused PUT');
    assert.equal(store.lease?.holderIdentity, 'b');
  });

  it('renewal is one PUT while the record is ours and current; a conflict falls back to GET + PUT', async () => {
    const a = candidate('a');
    a.elector.start();
    await run(500);
    const before = a.client.calls.length;
    await run(5 * RETRY);
    const renewals = a.client.calls.slice(before);
    assert.ok(renewals.length >= 4);
    assert.ok(renewals.every((c) => c.startsWith('update')), renewals.join(', '));
    store.put({ ...store.lease! }, 'a'); // the resourceVersion moves under a (same holder)
    const mark = a.client.calls.length;
    await run(RETRY + 500);
    assert.deepEqual(a.client.calls.slice(mark, mark + 3).map((c) => c.split(' ')[0]), ['update', 'get', 'update']);
    assert.equal(a.elector.isLeader, true);
  });

  it('a Lease deleted under its leader is written again by its next renewal (a PUT creates a Lease); it keeps leading', async () => {
    const a = candidate('a');
    a.elector.start();
    await run(1_000);
    store.lease = undefined as LeaseStore['lease']; // kubectl delete lease
    await run(RETRY + 500);
    assert.equal(store.lease?.holderIdentity, 'a');
    await run(RENEW + LEASE);
    assert.equal(a.elector.isLeader, true, 'still leading, renewing the new Lease');
    assert.deepEqual(a.log.map((l) => l.what), ['start']);
  });

  it('a Lease deleted and taken by a standby first: the old leader stops at its next try', async () => {
    const a = candidate('a');
    a.elector.start();
    await run(1_000);
    store.lease = undefined as LeaseStore["lease"];
    store.put(firstRecord('b', 60, time.now()), 'b'); // b created it before a's next renewal
    await run(RETRY + 500);
    assert.equal(a.elector.isLeader, false);
    assert.match(a.log.at(-1)!.what, /^stop the lease is held by b/);
    assert.equal(store.lease?.holderIdentity, 'b', 'a wrote nothing over it');
  });

  it('each try is bounded: a 30 s apiserver stall costs no leadership; past the deadline the leader stops at the deadline', async () => {
    const a = candidate('a');
    a.elector.start();
    await run(500);
    a.client.mode = 'hang';
    await run(30_000);
    a.client.mode = 'ok';
    await run(3 * RETRY + 5_000); // a hung try is abandoned after its bound, the next one succeeds
    assert.equal(a.elector.isLeader, true);
    assert.deepEqual(a.log.map((l) => l.what), ['start']);
    assert.ok(time.now() - store.lease!.renewTime <= RETRY + 500, 'renewed after the stall');
    a.client.mode = 'hang';
    const last = store.lease!.renewTime;
    await run(45_000);
    assert.equal(a.elector.isLeader, false);
    assert.ok(a.log[1]!.at - last <= RENEW + 250, `stopped ${a.log[1]!.at - last} ms after the last renewal`);
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
