/** Deadlines, cancellation and the write fence for every request the adapter makes. */
import { Observable, type ConfigurationOptions, type ObservableMiddleware, type RequestContext, type ResponseContext } from '@kubernetes/client-node';
import { ClusterError } from '../cluster/port.ts';
import { toClusterError } from './errors.ts';

export interface Cancellable<T> {
  /** The call's result; rejects after `ms`; undefined once cancelled. */
  promise: Promise<T | undefined>;
  cancel(): void;
}

/**
 * Bound a promise by a deadline and make it cancellable. The timer is always cleared when the
 * promise settles either way, so nothing is left running. It does not abort the call itself (used
 * for work that takes no signal): the late result is ignored.
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
 * Whether this process may still write. Leader election provides it: a write is allowed only while
 * the last successful renewal of the Lease is younger than the renew deadline (monotonic clock).
 */
export interface WriteFence {
  /** Throws a ClusterError (reason NotLeader) naming `op` when this process may not write now. */
  assertWritable(op: string): void;
}

/** Per-request options of client-node's typed APIs (compose with setHeaderOptions). */
export type ApiOptions = ConfigurationOptions<ObservableMiddleware>;

export interface CallOptions {
  /** Aborted: the request is cancelled (in flight) or never sent. */
  signal?: AbortSignal;
  /** A write: the fence is asked right before the request leaves (after auth and middleware). */
  fence?: WriteFence;
}

/**
 * One API request: bounded by `timeoutMs` (undici alone would wait 5 minutes for a silent
 * server), cancelled when `signal` aborts, refused unless `fence` allows it, every failure mapped
 * to a ClusterError named by `op` ("PATCH secrets/ns/name").
 *
 * `call` gets client-node configuration options carrying a middleware that puts the AbortSignal on
 * the request (client-node 2.x passes RequestContext's signal to undici's fetch) and checks the
 * fence synchronously just before the request is handed to fetch, so a process that was frozen
 * between deciding to write and writing sees on waking that its time is up. Compose with
 * setHeaderOptions(key, value, options) to add headers.
 */
export async function callApi<T>(
  op: string,
  timeoutMs: number,
  call: (options: ApiOptions) => Promise<T>,
  opts: CallOptions = {},
): Promise<T> {
  const { signal, fence } = opts;
  if (signal?.aborted) throw cancelled(op, signal);
  fence?.assertWritable(op);
  const controller = new AbortController();
  let rejectAbort: (err: Error) => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    rejectAbort = reject;
  });
  const abort = (err: ClusterError): void => {
    if (controller.signal.aborted) return;
    controller.abort(err);
    rejectAbort(err);
  };
  // The error is made only when the deadline passes: an Error captures a stack trace, and making one
  // per call cost ~45 µs of every request (a CPU profile of a cold start at 3,000 identities).
  const timer = setTimeout(() => abort(new ClusterError(0, 'Timeout', `${op}: no answer within ${timeoutMs} ms`)), timeoutMs);
  const onOuterAbort = (): void => abort(cancelled(op, signal!));
  signal?.addEventListener('abort', onOuterAbort, { once: true });
  const options: ApiOptions = {
    middleware: [{
      // The typed object APIs run middleware in client-node's Observable stub (not Promise middleware).
      pre: (ctx: RequestContext) => {
        if (controller.signal.aborted) throw controller.signal.reason as Error;
        fence?.assertWritable(op);
        ctx.setSignal(controller.signal);
        return new Observable(Promise.resolve(ctx));
      },
      post: (ctx: ResponseContext) => new Observable(Promise.resolve(ctx)),
    }],
    middlewareMergeStrategy: 'append',
  };
  try {
    // The race also ends calls that ignore the signal (test doubles, custom transports).
    return await Promise.race([call(options), aborted]);
  } catch (err) {
    // undici rejects an aborted fetch with the abort reason (or an AbortError wrapping it).
    if (controller.signal.aborted) throw controller.signal.reason as ClusterError;
    // A write refused by the dispatcher's last gate: fetch wraps the gate's error as its cause.
    const cause = (err as { cause?: unknown } | null)?.cause;
    if (cause instanceof ClusterError && cause.reason === 'NotLeader') throw cause;
    throw toClusterError(err, op);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onOuterAbort);
    aborted.catch(() => undefined);
  }
}

function cancelled(op: string, signal: AbortSignal): ClusterError {
  const why = signal.reason instanceof Error ? signal.reason.message : typeof signal.reason === 'string' ? signal.reason : 'stopping';
  return new ClusterError(0, 'Cancelled', `${op}: cancelled (${why})`);
}

/** The ClusterError a fence throws. */
export function notLeader(op: string, why: string): ClusterError {
  return new ClusterError(0, 'NotLeader', `${op}: not sent: ${why}`);
}
