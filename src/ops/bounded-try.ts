/** One try of leader election, bounded in time by the elector's own timers (fake ones in tests). */
import { ClusterError } from '../cluster/port.ts';
import type { Timers } from '../controller/queue.ts';

/** Run `fn` with a signal that aborts after `ms`; a call that ignores the signal is abandoned then (a Timeout error). */
export async function boundedTry<T>(timers: Timers, ms: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: unknown;
  const expired = new Promise<never>((_, reject) => {
    timer = timers.setTimeout(() => {
      const err = new ClusterError(0, 'Timeout', `leader election: no answer within ${Math.round(ms)} ms`);
      controller.abort(err);
      reject(err);
    }, Math.max(0, ms));
  });
  expired.catch(() => undefined);
  try {
    return await Promise.race([fn(controller.signal), expired]);
  } finally {
    timers.clearTimeout(timer);
  }
}
