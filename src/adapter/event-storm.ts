/**
 * Event storms (issue 11: one Event per issuance at most, "aggregated when thousands happen at once").
 *
 * Every Event the operator records takes a token from one bucket: `burst` at once, then `perSecond`. An Event that
 * finds the bucket empty is folded: per namespace, type and reason, the Events folded within one window become a
 * single summary Event about the first object folded, with `count` set to how many it stands for, up to
 * `maxNames` of their object names and the first one's message. A summary takes no token, so a storm costs at most
 * one Event per namespace, type and reason per window on top of the bucket's rate. Nothing about an object is lost:
 * each identity's status (and each PodCertificateRequest's conditions) carries what its Event said.
 *
 * Pure: the clock is injected, there is no timer here; the recorder calls `due()` when the window ends.
 */
import type { EventType, ObjectRef } from '../api/types.ts';

export interface EventStormOptions {
  /** Events recorded at once before folding starts (default 100). */
  burst?: number;
  /** Tokens added per second (default 5). */
  perSecond?: number;
  /** How long folded Events gather before their summary is written (default 10 s). */
  windowMs?: number;
  /** Object names kept per summary (default 5). */
  maxNames?: number;
  /** Summaries pending at once; past this, folded Events are only counted in `dropped` (default 1,000). */
  maxPending?: number;
  now?: () => number;
}

/** One summary Event to write: `count` Events of `type`/`reason` in `about.namespace`, folded. */
export interface FoldedEvents {
  about: ObjectRef;
  type: EventType;
  reason: string;
  count: number;
  names: string[];
  firstMessage: string;
  windowMs: number;
}

export class EventStorm {
  readonly burst: number;
  readonly perSecond: number;
  readonly windowMs: number;
  private readonly maxNames: number;
  private readonly maxPending: number;
  private readonly now: () => number;
  private tokens: number;
  private refilledAt: number;
  private readonly pending = new Map<string, FoldedEvents>();
  /** When the oldest pending summary's window ends (undefined: none pending). */
  private windowEndsAt: number | undefined;
  /** Events folded so far, and those not even counted in a summary (maxPending reached). */
  folded = 0;
  dropped = 0;

  constructor(opts: EventStormOptions = {}) {
    this.burst = opts.burst ?? 100;
    this.perSecond = opts.perSecond ?? 5;
    this.windowMs = opts.windowMs ?? 10_000;
    this.maxNames = opts.maxNames ?? 5;
    this.maxPending = opts.maxPending ?? 1_000;
    this.now = opts.now ?? Date.now;
    if (!(this.burst >= 1) || !(this.perSecond > 0) || !(this.windowMs > 0)) throw new Error('EventStorm: burst must be >= 1, perSecond and windowMs > 0');
    this.tokens = this.burst;
    this.refilledAt = this.now();
  }

  /** Whether this Event may be written now (takes a token). */
  admit(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.perSecond);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * Fold an Event that was not admitted. Returns when the current window ends, for the caller's timer
   * (the same instant for every Event folded in one window).
   */
  fold(about: ObjectRef, type: EventType, reason: string, message: string): number {
    this.folded++;
    const key = `${about.namespace}\u0000${type}\u0000${reason}`;
    const have = this.pending.get(key);
    if (have) {
      have.count++;
      if (have.names.length < this.maxNames && !have.names.includes(about.name)) have.names.push(about.name);
    } else if (this.pending.size < this.maxPending) {
      this.pending.set(key, { about, type, reason, count: 1, names: [about.name], firstMessage: message, windowMs: this.windowMs });
    } else {
      this.dropped++;
    }
    this.windowEndsAt ??= this.now() + this.windowMs;
    return this.windowEndsAt;
  }

  /** The summaries whose window has ended, removed from pending. */
  due(): FoldedEvents[] {
    if (this.windowEndsAt === undefined || this.now() < this.windowEndsAt) return [];
    const out = [...this.pending.values()];
    this.pending.clear();
    this.windowEndsAt = undefined;
    return out;
  }

  /** Ends the current window now (at shutdown), so that `due()` returns every pending summary. */
  endWindow(): void {
    if (this.windowEndsAt !== undefined) this.windowEndsAt = this.now();
  }

  get pendingCount(): number {
    return this.pending.size;
  }
}

/** The summary Event's message. */
export function foldedMessage(f: FoldedEvents, storm: Pick<EventStorm, 'burst' | 'perSecond'>): string {
  const others = f.count - f.names.length;
  const names = `${f.names.join(', ')}${others > 0 ? ` and ${others} more` : ''}`;
  return `${f.count} ${f.type} ${f.reason} Events in namespace ${f.about.namespace} within ${Math.round(f.windowMs / 1000)} s, folded into this one ` +
    `(the operator writes at most ${storm.burst} Events at once, then ${storm.perSecond}/s; each object's status has its own): ${names}. First: ${f.firstMessage}`;
}
