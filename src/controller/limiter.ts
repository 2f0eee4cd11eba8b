/**
 * A token bucket for mass re-issuance (a CA change touches every Secret at once): at most
 * `perSecond` re-issues a second, with a burst of the same size. It hands out reservations, as
 * golang.org/x/time/rate's Reserve does: a key that finds the bucket empty is given its own slot
 * (the bucket goes into debt), waits in the work queue until then without doing any work, and is
 * admitted when it asks again at or after its slot. Asking again before the slot returns the same
 * slot: a key is never given two, and a refused key is not polled.
 */
import type { Clock } from '../clock.ts';

/** A reservation this long past its slot and never claimed (its identity went away) is dropped. */
const STALE_MS = 60_000;

export class RateLimiter {
  private tokens: number;
  private last: number;
  private readonly perSecond: number;
  private readonly clock: Clock;
  /** key -> when its slot comes (ms on the clock). */
  private readonly slots = new Map<string, number>();

  constructor(opts: { perSecond: number; clock: Clock }) {
    this.perSecond = opts.perSecond;
    this.clock = opts.clock;
    this.tokens = opts.perSecond;
    this.last = opts.clock.now();
  }

  /** Reservations handed out and not yet claimed. */
  get pending(): number {
    return this.slots.size;
  }

  /**
   * 0: go ahead now (a token was taken, or this key's slot came). Otherwise the milliseconds until
   * this key's slot; the reservation is kept for it.
   */
  reserve(key: string): number {
    const now = this.clock.now();
    const slot = this.slots.get(key);
    if (slot !== undefined) {
      if (slot > now) return slot - now;
      this.slots.delete(key);
      return 0;
    }
    if (this.slots.size >= 1024) this.prune(now);
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    this.tokens -= 1;
    if (this.tokens >= 0) return 0;
    const wait = Math.ceil((-this.tokens / this.perSecond) * 1000);
    this.slots.set(key, now + wait);
    return wait;
  }

  /** The key no longer needs a rate-limited re-issue: forget its reservation (the token is not refunded). */
  cancel(key: string): void {
    this.slots.delete(key);
  }

  private prune(now: number): void {
    for (const [key, at] of this.slots) if (at < now - STALE_MS) this.slots.delete(key);
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
