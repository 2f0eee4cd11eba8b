/** Injected time. Everything that decides by the clock takes one of these. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** setTimeout overflows (fires at once) past 2^31-1 ms, about 24.8 days. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A delay safe to hand to setTimeout: never negative, never past the overflow. */
export function clampDelay(ms: number): number {
  if (!Number.isFinite(ms) || ms <= 0) return 0;
  return Math.min(Math.ceil(ms), MAX_TIMER_MS);
}
