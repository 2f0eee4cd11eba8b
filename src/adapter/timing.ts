/** Deadlines for calls client-node cannot time out or cancel itself. */
import { ClusterError } from '../cluster/port.ts';
import { toClusterError } from './errors.ts';

export interface Cancellable<T> {
  /** The call's result; rejects after `ms`; undefined once cancelled. */
  promise: Promise<T | undefined>;
  cancel(): void;
}

/**
 * Bound a promise by a deadline and make it cancellable. The timer is always cleared when the
 * promise settles either way, so nothing is left running. The call itself cannot be aborted (the
 * typed client-node APIs take no signal): its late result is ignored.
 */
export function bounded<T>(call: Promise<T>, ms: number, onTimeout: () => Error): Cancellable<T> {
  let cancel: () => void = () => {};
  const promise = new Promise<T | undefined>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    cancel = () => {
      clearTimeout(timer);
      resolve(undefined);
    };
    call.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
  return { promise, cancel: () => cancel() };
}

/**
 * One API request: bounded by `timeoutMs` (undici alone would wait 5 minutes for a silent
 * server), every failure mapped to a ClusterError named by `op` ("PATCH secrets/ns/name").
 */
export async function callApi<T>(op: string, timeoutMs: number, call: () => Promise<T>): Promise<T> {
  try {
    const result = await bounded(call(), timeoutMs, () =>
      new ClusterError(0, 'Timeout', `${op}: no answer within ${timeoutMs} ms`),
    ).promise;
    return result as T;
  } catch (err) {
    throw toClusterError(err, op);
  }
}
