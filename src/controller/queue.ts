/**
 * A de-duplicating work queue in the shape of client-go's: a key waiting to run is held once,
 * a key being processed is never handed to a second worker (if it is added meanwhile it runs
 * again once the first run ends), failures retry with per-key exponential backoff (capped),
 * and delayed adds keep only the earliest due time per key.
 *
 * Delays are wall-clock deadlines kept in one min-heap (deadlines.ts) behind one clamped timer
 * for the earliest (setTimeout overflows past ~24.8 days): a timer per key cost ~160 bytes each,
 * 1.6 MB at 10,000 identities (issue 11). A periodic tick re-checks every deadline against the
 * clock, so a machine that slept or a timer that drifted still runs the key on time.
 */
import { clampDelay, type Clock } from '../clock.ts';
import { type Deadline, DeadlineHeap } from './deadlines.ts';
import { FairLanes } from './lanes.ts';

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  setInterval: (fn, ms) => {
    const t = setInterval(fn, ms);
    t.unref?.();
    return t;
  },
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

export interface QueueOptions {
  clock: Clock;
  timers?: Timers;
  /** First retry delay after a failure. */
  baseBackoffMs?: number;
  /** Retry delay cap. */
  maxBackoffMs?: number;
  /** How often deadlines are re-checked against the clock. */
  tickMs?: number;
}

export class WorkQueue {
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly baseBackoffMs: number;
  private readonly maxBackoffMs: number;
  /** Waiting keys: round-robin between namespaces, due keys first (lanes.ts). */
  private readonly order = new FairLanes();
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  /** Keys added while being processed: re-queued when done. */
  private readonly dirty = new Set<string>();
  private readonly deadlines = new Map<string, Deadline>();
  /** The same deadlines by time; entries no longer in `deadlines` are skipped when they surface. */
  private readonly heap = new DeadlineHeap();
  /** The one timer, armed for the earliest deadline (clamped), and when it is due. */
  private timer: unknown;
  private timerAt = Infinity;
  private seq = 0;
  private readonly failures = new Map<string, number>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private readonly tick: unknown;
  private shuttingDown = false;

  constructor(opts: QueueOptions) {
    this.clock = opts.clock;
    this.timers = opts.timers ?? realTimers;
    this.baseBackoffMs = opts.baseBackoffMs ?? 1_000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 5 * 60_000;
    this.tick = this.timers.setInterval(() => this.fireDue(), opts.tickMs ?? 30_000);
  }

  /** Keys waiting to run now. */
  get length(): number {
    return this.order.length;
  }

  /** Keys with a pending deadline. */
  get scheduled(): number {
    return this.deadlines.size;
  }

  /** When a key is next due, if it has a deadline. */
  dueAt(key: string): number | undefined {
    return this.deadlines.get(key)?.at;
  }

  /**
   * `due`: the key's deadline passed (it goes ahead of event-driven keys). A held key (hold()) stays
   * held until its time, it runs then with whatever changed meanwhile; `wake` ends the hold (the
   * object itself changed).
   */
  add(key: string, due = false, wake = false): void {
    if (this.shuttingDown) return;
    const d = this.deadlines.get(key);
    if (d?.held && !wake && d.at > this.clock.now()) return;
    this.cancelDeadline(key);
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.queued.add(key);
    this.order.push(key, due);
  }

  /** Add after a delay; an earlier deadline for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + delayMs;
    const existing = this.deadlines.get(key);
    if (existing && (existing.at <= at || existing.held)) return;
    this.schedule({ key, at, seq: this.seq++ });
  }

  /**
   * The key holds a reservation (the re-issue rate limiter's slot): it runs once `delayMs` has
   * passed and not before, whatever adds it meanwhile (add() with `wake` excepted). It waits
   * without doing any work: no reconcile runs for it until then.
   */
  hold(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key, true, true);
      return;
    }
    this.schedule({ key, at: this.clock.now() + delayMs, seq: this.seq++, held: true });
  }

  /** Retry a failed key with exponential backoff; returns the delay used. */
  addRateLimited(key: string): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const delay = Math.min(this.maxBackoffMs, this.baseBackoffMs * 2 ** Math.min(n - 1, 30));
    this.addAfter(key, delay);
    return delay;
  }

  /** The key succeeded: its backoff starts over. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Next key to process; undefined once shut down. The caller must call done(key). */
  get(): Promise<string | undefined> {
    const key = this.order.shift();
    if (key !== undefined) {
      this.queued.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  /** Stop handing out work; waiting getters receive undefined. Deadlines are dropped. */
  shutdown(): void {
    this.shuttingDown = true;
    this.timers.clearInterval(this.tick);
    this.disarm();
    this.deadlines.clear();
    this.heap.clear();
    this.order.clear();
    this.queued.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  get inFlight(): number {
    return this.processing.size;
  }

  /** Move every key whose deadline has passed (by the clock) into the queue. */
  fireDue(): void {
    const now = this.clock.now();
    for (const [key, d] of this.deadlines) {
      if (d.at <= now) this.add(key, true);
    }
    this.arm();
  }

  private schedule(d: Deadline): void {
    this.deadlines.set(d.key, d);
    this.heap.push(d);
    // Entries replaced or cancelled stay in the heap until they surface; rebuild before they outnumber the live ones.
    if (this.heap.size > 2 * this.deadlines.size + 1_024) this.heap.rebuild(this.deadlines.values());
    if (d.at < this.timerAt) this.arm();
  }

  /** (Re-)arm the one timer for the earliest live deadline. */
  private arm(): void {
    const next = this.heap.peekLive(this.deadlines);
    if (next?.at === this.timerAt) return;
    this.disarm();
    if (!next) return;
    this.timerAt = next.at;
    this.timer = this.timers.setTimeout(() => this.onTimer(), clampDelay(next.at - this.clock.now()));
  }

  private disarm(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  /** The timer fired: run every key that is due (a clamped timer fires early: nothing is), then re-arm. */
  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    for (let d = this.heap.peekLive(this.deadlines); d && d.at <= now; d = this.heap.peekLive(this.deadlines)) {
      this.heap.pop();
      this.add(d.key, true);
    }
    this.arm();
  }

  private cancelDeadline(key: string): void {
    // The heap entry is left behind: it is skipped when it surfaces (peekLive), and the timer then re-arms.
    this.deadlines.delete(key);
  }
}
