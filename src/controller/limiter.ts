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

/**
 * Manual renewals (a new mtls.dev/renew-request value) per identity (issue 19, point 2): at most
 * one every `intervalMs` (default 5 min) for each identity uid. A request that comes sooner is
 * honoured once the interval has passed, not dropped. Without this, one namespace annotating in a
 * loop forced an issuance (and, with restartWorkloads, a rollout) per annotation.
 */
export const MANUAL_RENEWAL_INTERVAL_MS = 5 * 60_000;

export class ManualRenewalLimiter {
  private readonly last = new Map<string, number>();
  private readonly clock: Clock;
  readonly intervalMs: number;

  constructor(opts: { clock: Clock; intervalMs?: number }) {
    this.clock = opts.clock;
    this.intervalMs = opts.intervalMs ?? MANUAL_RENEWAL_INTERVAL_MS;
  }

  /** 0: go ahead (recorded now). Otherwise: the milliseconds until this identity may renew by hand again. */
  take(uid: string): number {
    const now = this.clock.now();
    const previous = this.last.get(uid);
    if (previous !== undefined && now - previous < this.intervalMs) return previous + this.intervalMs - now;
    this.last.set(uid, now);
    if (this.last.size > 1024) this.prune(now);
    return 0;
  }

  /** Entries past the interval say nothing any more: the map holds at most the recent ones. */
  private prune(now: number): void {
    for (const [uid, at] of this.last) if (now - at >= this.intervalMs) this.last.delete(uid);
  }
}
