/** Exponential backoff with jitter for restarting watches and lists, and the wait for it that stopping cuts short. */

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1_000, maxMs: 60_000 };

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;
  private attempt = 0;

  constructor(opts: BackoffOptions, random: () => number = Math.random) {
    this.initialMs = Math.max(1, opts.initialMs);
    this.maxMs = Math.max(this.initialMs, opts.maxMs);
    this.random = random;
  }

  /**
   * The next delay: initial * 2^n capped at max, then "equal jitter" (a uniform pick in
   * [d/2, d]) so that many watches failing together do not reconnect in lockstep.
   */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    if (base < this.maxMs) this.attempt++;
    return Math.round(base / 2 + (this.random() * base) / 2);
  }

  /** After a healthy period: the next failure starts again from initialMs. */
  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/** The waits of one loop between restarts: stop() ends the current one and makes every later one end at once. */
export class RestartWait {
  private stopped = false;
  private wake?: () => void;

  sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }
}
