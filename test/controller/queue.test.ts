import assert from 'node:assert/strict';
import { MAX_TIMER_MS, clampDelay } from '../../src/clock.ts';
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
});
