/** A fake clock with timers that fire only when the test advances time. */
import type { Clock } from '../../src/clock.ts';
import type { Timers } from '../../src/controller/queue.ts';

interface Pending {
  id: number;
  at: number;
  fn: () => void;
  every?: number;
}

export class FakeTime implements Clock, Timers {
  private t: number;
  private seq = 0;
  private pending: Pending[] = [];

  constructor(start: Date | number = Date.UTC(2026, 10, 23, 12, 0, 0)) {
    this.t = typeof start === 'number' ? start : start.getTime();
  }

  now(): number {
    return this.t;
  }

  /** Jump the clock without firing timers (a machine that slept). */
  jump(ms: number): void {
    this.t += ms;
  }

  /** Move the clock forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.pending.filter((p) => p.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!next) break;
      this.t = Math.max(this.t, next.at);
      if (next.every !== undefined) next.at += Math.max(1, next.every);
      else this.pending = this.pending.filter((p) => p !== next);
      next.fn();
    }
    this.t = end;
  }

  get timerCount(): number {
    return this.pending.length;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const p = { id: ++this.seq, at: this.t + ms, fn };
    this.pending.push(p);
    return p.id;
  }

  clearTimeout(handle: unknown): void {
    this.pending = this.pending.filter((p) => p.id !== handle);
  }

  setInterval(fn: () => void, ms: number): unknown {
    const p = { id: ++this.seq, at: this.t + ms, fn, every: ms };
    this.pending.push(p);
    return p.id;
  }

  clearInterval(handle: unknown): void {
    this.clearTimeout(handle);
  }
}
