import assert from 'node:assert/strict';
import { MAX_TIMER_MS, clampDelay } from '../../src/clock.ts';
import { DeadlineHeap, type Deadline } from '../../src/controller/deadlines.ts';
import { WorkQueue } from '../../src/controller/queue.ts';
import { FakeTime } from '../support/fake-time.ts';

const DAY = 86_400_000;

function queue(time: FakeTime, tickMs = 30_000) {
  return new WorkQueue({ clock: time, timers: time, baseBackoffMs: 1000, maxBackoffMs: 8000, tickMs });
}

async function drain(q: WorkQueue): Promise<string[]> {
  const out: string[] = [];
  while (q.length > 0) {
    const k = (await q.get())!;
    out.push(k);
    q.done(k);
  }
  return out;
}

describe('WorkQueue', () => {
  it('holds a waiting key once', async () => {
    const t = new FakeTime();
    const q = queue(t);
    q.add('a/x');
    q.add('a/y');
    q.add('a/x');
    assert.deepEqual(await drain(q), ['a/x', 'a/y']);
    q.shutdown();
  });

  it('never hands out a key that is being processed; re-queues it when done', async () => {
    const t = new FakeTime();
    const q = queue(t);
    q.add('a/x');
    const k = await q.get();
    assert.equal(k, 'a/x');
    q.add('a/x');
    assert.equal(q.length, 0, 'a key in flight is not queued a second time');
    q.done('a/x');
    assert.equal(q.length, 1, 'added while in flight: runs again after');
    assert.deepEqual(await drain(q), ['a/x']);
    q.shutdown();
  });

  it('wakes a waiting worker', async () => {
    const t = new FakeTime();
    const q = queue(t);
    const got = q.get();
    q.add('a/x');
    assert.equal(await got, 'a/x');
    q.add('a/x');
    assert.equal(q.length, 0);
    q.done('a/x');
    assert.equal(await q.get(), 'a/x');
    q.shutdown();
  });

  it('keeps the earliest deadline per key and fires it when due', () => {
    const t = new FakeTime();
    const q = queue(t);
    q.addAfter('a/x', 10_000);
    q.addAfter('a/x', 5_000);
    q.addAfter('a/x', 20_000);
    assert.equal(q.dueAt('a/x'), t.now() + 5_000);
    t.advance(4_999);
    assert.equal(q.length, 0);
    t.advance(1);
    assert.equal(q.length, 1);
    assert.equal(q.scheduled, 0);
    q.shutdown();
  });

  it('backs off exponentially per key, capped, and starts over after forget', () => {
    const t = new FakeTime();
    const q = queue(t);
    assert.deepEqual([1, 2, 3, 4, 5].map(() => q.addRateLimited('a/x')), [1000, 2000, 4000, 8000, 8000]);
    assert.equal(q.failuresOf('a/x'), 5);
    q.forget('a/x');
    assert.equal(q.addRateLimited('a/x'), 1000);
    assert.equal(q.addRateLimited('a/y'), 1000, 'backoff is per key');
    q.shutdown();
  });

  it('clamps timers past the setTimeout overflow and still fires on the day', () => {
    assert.equal(clampDelay(90 * DAY), MAX_TIMER_MS);
    assert.equal(clampDelay(-5), 0);
    const t = new FakeTime();
    const q = queue(t, 3_600_000);
    q.addAfter('a/x', 60 * DAY);
    t.advance(30 * DAY);
    assert.equal(q.length, 0, 'a clamped timer that fires early re-arms instead of running the key');
    t.advance(30 * DAY - 1);
    assert.equal(q.length, 0);
    t.advance(1);
    assert.equal(q.length, 1);
    q.shutdown();
  });

  it('the wall-clock tick catches deadlines a sleeping machine missed', () => {
    const t = new FakeTime();
    const q = queue(t, 30_000);
    q.addAfter('a/x', 3_600_000);
    t.jump(2 * 3_600_000); // the clock moved, no timer fired
    assert.equal(q.length, 0);
    t.advance(30_000); // next tick
    assert.equal(q.length, 1);
    q.shutdown();
  });

  it('shutdown releases waiting workers and drops deadlines', async () => {
    const t = new FakeTime();
    const q = queue(t);
    const waiting = q.get();
    q.addAfter('a/x', 1000);
    q.shutdown();
    assert.equal(await waiting, undefined);
    assert.equal(t.timerCount, 0);
    q.add('a/y');
    assert.equal(q.length, 0);
  });

  it('keeps one timer for every deadline, whatever their number (issue 11: a timer per key was 1.6 MB at 10,000)', async () => {
    const t = new FakeTime();
    const q = queue(t);
    for (let i = 0; i < 10_000; i++) q.addAfter(`ns/k${i}`, 1_000 + ((i * 7_919) % 100_000));
    assert.equal(q.scheduled, 10_000);
    assert.equal(t.timerCount, 2, 'the wall-clock tick and one timer for the earliest deadline');
    t.advance(50_000);
    const early = await drain(q);
    assert.ok(early.length > 0 && early.length < 10_000);
    assert.equal(q.scheduled, 10_000 - early.length);
    assert.equal(t.timerCount, 2);
    t.advance(51_000);
    assert.equal((await drain(q)).length + early.length, 10_000);
    assert.equal(t.timerCount, 1, 'no deadline left: only the tick');
    q.shutdown();
  });

  it('runs keys due at the same moment in the order they were scheduled, each when due', async () => {
    const t = new FakeTime();
    const q = queue(t);
    q.addAfter('a/c', 3_000);
    q.addAfter('a/a', 2_000);
    q.addAfter('a/b', 2_000);
    q.hold('a/d', 2_000);
    t.advance(1_999);
    assert.equal(q.length, 0);
    t.advance(1);
    assert.deepEqual(await drain(q), ['a/a', 'a/b', 'a/d']);
    assert.equal(q.dueAt('a/c'), t.now() + 1_000);
    t.advance(1_000);
    assert.deepEqual(await drain(q), ['a/c']);
    q.shutdown();
  });

  it('a cancelled or superseded earliest deadline does not run its key; the next one still fires on time', async () => {
    const t = new FakeTime();
    const q = queue(t);
    q.addAfter('a/x', 1_000);
    q.addAfter('a/y', 5_000);
    q.add('a/x'); // the object changed: it runs now, its deadline is gone
    assert.deepEqual(await drain(q), ['a/x']);
    t.advance(1_000);
    assert.equal(q.length, 0, 'the dropped deadline does not run the key a second time');
    q.hold('a/y', 10_000); // a reservation replaces the earlier deadline
    t.advance(4_000);
    assert.equal(q.length, 0, 'the superseded deadline does not fire');
    t.advance(6_000);
    assert.deepEqual(await drain(q), ['a/y']);
    assert.equal(t.timerCount, 1);
    q.shutdown();
  });

  it('the deadline heap drops stale entries and rebuilds from the live ones', () => {
    const h = new DeadlineHeap();
    const live = new Map<string, Deadline>();
    let seq = 0;
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 100; i++) {
        const d = { key: `k${i}`, at: 1_000 - round * 10 + ((i * 37) % 100), seq: seq++ };
        live.set(d.key, d);
        h.push(d);
      }
    }
    assert.equal(h.size, 500);
    h.rebuild(live.values());
    assert.equal(h.size, 100);
    const order: number[] = [];
    for (let d = h.peekLive(live); d; d = h.peekLive(live)) {
      order.push(d.at);
      h.pop();
      live.delete(d.key);
    }
    assert.equal(order.length, 100);
    assert.deepEqual(order, [...order].sort((a, b) => a - b));
    live.set('z', { key: 'z', at: 5, seq: seq++ });
    h.push({ key: 'z', at: 1, seq: seq++ }); // not the live entry for z
    assert.equal(h.peekLive(live), undefined, 'an entry that is not its key\'s live one is skipped');
  });
});
