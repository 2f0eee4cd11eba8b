/**
 * Long loops on the event loop, cut into slices (issue 11: event-loop delay p99 ≤ 50 ms at 10,000 identities).
 *
 * A restart over 10,000 identities ran three loops of that size synchronously: the watch's first list handing
 * every object to the controller (136 ms), a metrics scrape rendering 40,000 lines (107 ms in its slices of
 * 1,000), and the queueing of everything. Every timer, watch event, probe and Lease renewal waited behind them.
 * A loop asks `due()` per item (one performance.now()) and, once a slice's time is spent, awaits `pause()`: one
 * turn of the event loop (setImmediate, after I/O), then a new slice.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

/** Milliseconds of work a slice may take before the loop gives the event loop back. */
export const SLICE_MS = 8;

export class Slicer {
  private started = performance.now();
  /** Times the loop gave the event loop back. */
  pauses = 0;

  private readonly ms: number;

  constructor(ms = SLICE_MS) {
    this.ms = ms;
  }

  /** Whether this slice's time is spent. */
  due(): boolean {
    return performance.now() - this.started >= this.ms;
  }

  /** Give the event loop one turn, then start a new slice. */
  async pause(): Promise<void> {
    this.pauses++;
    await nextTurn();
    this.started = performance.now();
  }
}
