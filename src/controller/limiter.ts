/**
 * A token bucket for mass re-issuance (a CA change touches every Secret at once): at most
 * `perSecond` writes a second, with a burst of the same size. A key that finds the bucket empty
 * waits its turn plus random jitter, so the retries do not arrive together.
 */
import type { Clock } from '../clock.ts';

export class RateLimiter {
  private tokens: number;
  private last: number;
  private readonly perSecond: number;
  private readonly clock: Clock;
  private readonly jitterMs: number;
  private readonly random: () => number;

  constructor(opts: { perSecond: number; clock: Clock; jitterMs?: number; random?: () => number }) {
    this.perSecond = opts.perSecond;
    this.clock = opts.clock;
    this.jitterMs = opts.jitterMs ?? 1000;
    this.random = opts.random ?? Math.random;
    this.tokens = opts.perSecond;
    this.last = opts.clock.now();
  }

  /** 0: go ahead (a token was taken). Otherwise: try again after this many milliseconds. */
  take(): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    const wait = ((1 - this.tokens) / this.perSecond) * 1000;
    return Math.ceil(wait + this.random() * this.jitterMs);
  }
}
