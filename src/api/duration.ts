/**
 * Go durations ("24h", "1h30m", "300ms"): the text form of spec.duration and spec.renewBefore,
 * and of the operator's duration flags.
 *
 * Pure: no clock, no I/O.
 */
import { GO_DURATION_PATTERN } from './constants.ts';

/** GO_DURATION_PATTERN, compiled. */
export const GO_DURATION_RE = new RegExp(GO_DURATION_PATTERN);

const NS_PER: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
  d: 86_400_000_000_000n, // only to suggest the right spelling
};
/** Go's time.Duration is an int64 of nanoseconds. */
const MAX_DURATION_NS = (1n << 63n) - 1n;
const COMPONENT_RE = /([0-9]*)(?:[.]([0-9]*))?(ns|us|ms|s|m|h|d)/g;
const WITH_DAYS_RE = /^(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|ms|s|m|h|d))+$/;

function sumNanos(s: string): bigint {
  let total = 0n;
  for (const [, int = '', frac = '', unit = ''] of s.matchAll(COMPONENT_RE)) {
    const per = NS_PER[unit] ?? 0n;
    total += BigInt(int || '0') * per;
    if (frac) total += (BigInt(frac) * per) / 10n ** BigInt(frac.length); // truncates, as Go does
  }
  return total;
}

function nanosToMs(ns: bigint): number {
  return Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6;
}

/**
 * Parses a Go duration ("1h30m", "90m", "2160h", "1.5h", "300ms", "45s", "0") into milliseconds
 * (fractional below 1 ms). Rejects negatives, spaces and unknown units; "d" is rejected with the
 * equivalent in hours ("90d" → use "2160h"), as Go has no day unit.
 */
export function parseDuration(s: string): number {
  if (typeof s !== 'string') throw new TypeError(`a duration must be a string, not ${typeof s}`);
  if (s === '') throw new Error('invalid duration "": empty');
  if (/^[-+]/.test(s)) {
    if (s.startsWith('-')) throw new Error(`invalid duration "${s}": negative durations are not allowed`);
    throw new Error(`invalid duration "${s}": write it without a sign`);
  }
  if (!GO_DURATION_RE.test(s)) {
    if (WITH_DAYS_RE.test(s)) {
      throw new Error(
        `invalid duration "${s}": Go durations have no "d" unit; write "${formatDuration(nanosToMs(sumNanos(s)))}"`,
      );
    }
    throw new Error(
      `invalid duration "${s}": expected a Go duration such as "24h", "90m" or "1h30m" (units h, m, s, ms, us, ns)`,
    );
  }
  const ns = sumNanos(s);
  if (ns > MAX_DURATION_NS) throw new Error(`invalid duration "${s}": too long (at most about 2562047h)`);
  return nanosToMs(ns);
}

/**
 * Formats milliseconds as a compact Go duration that parseDuration reads back: "24h", "1h30m",
 * "1s500ms", "0s". Sub-millisecond parts become "us"/"ns" (rounded to the nanosecond).
 * Negative values get a leading "-" (for messages; parseDuration refuses them).
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`cannot format ${ms} as a duration`);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  const whole = Math.trunc(ms);
  let ns = BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6));
  if (ns === 0n) return '0s';
  let out = '';
  for (const unit of ['h', 'm', 's', 'ms', 'us', 'ns'] as const) {
    const per = NS_PER[unit] as bigint;
    const n = ns / per;
    if (n > 0n) out += `${n}${unit}`;
    ns -= n * per;
  }
  return out;
}
