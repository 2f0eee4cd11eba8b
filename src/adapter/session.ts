/**
 * One watch connection on client-node's `Watch`, supervised: it ends exactly once, with an
 * outcome, however the connection goes (error, end of stream, ERROR event, watchdog, abort).
 *
 * Things about client-node 2.0.1's Watch this works around:
 * - `watch()` returns the AbortController only after the response headers arrive, so a connect
 *   that never answers cannot be aborted by the caller: the session ends on the watchdog anyway
 *   and aborts the controller if it ever turns up.
 * - it swallows exceptions thrown by the event callback (as if they were JSON parse errors), so
 *   the callback here catches and logs everything itself.
 * - lines can still be delivered after an abort; they are dropped once the session has ended.
 */
import type { Watch } from '@kubernetes/client-node';
import { describeError, httpCode, parseStatus } from './errors.ts';

export type OutcomeKind = 'end' | 'error' | 'gone' | 'watchdog' | 'relist' | 'stopped';

export interface Outcome {
  kind: OutcomeKind;
  detail?: string;
}

export interface SessionOptions {
  watch: Pick<Watch, 'watch'>;
  path: string;
  query: Record<string, string | boolean | undefined>;
  watchdogMs: number;
  /** ADDED, MODIFIED, DELETED, BOOKMARK (ERROR is handled here). */
  onEvent(type: string, object: unknown): void;
  onError(msg: string, meta: object): void;
}

export interface WatchSession {
  readonly done: Promise<Outcome>;
  /** End the session now (no-op once ended); aborts the connection. */
  finish(outcome: Outcome): void;
}

export function isGone(code: number | undefined, reason?: string): boolean {
  return code === 410 || reason === 'Expired' || reason === 'Gone';
}

/** How a `done(err)` from client-node's Watch ends a session. */
export function classify(err: unknown): Outcome {
  if (err === null || err === undefined) return { kind: 'end' };
  if (isGone(httpCode(err))) return { kind: 'gone', detail: '410 on watch request' };
  // client-node's own inactivity timer: same meaning as our watchdog.
  if (err instanceof Error && err.name === 'TimeoutError') return { kind: 'watchdog', detail: 'client timeout' };
  return { kind: 'error', detail: describeError(err) };
}

export function openWatch(opts: SessionOptions): WatchSession {
  let ended = false;
  let controller: AbortController | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  let resolveDone: (o: Outcome) => void = () => {};
  const done = new Promise<Outcome>((resolve) => {
    resolveDone = resolve;
  });

  const finish = (outcome: Outcome): void => {
    if (ended) return;
    ended = true;
    clearTimeout(watchdog);
    controller?.abort();
    resolveDone(outcome);
  };
  const pet = (): void => {
    clearTimeout(watchdog);
    watchdog = setTimeout(
      () => finish({ kind: 'watchdog', detail: `silent for ${opts.watchdogMs} ms` }),
      opts.watchdogMs,
    );
  };

  const onLine = (type: string, object: unknown): void => {
    if (ended) return; // a late line from an aborted connection
    pet();
    try {
      if (type === 'ERROR') {
        const status = parseStatus(object);
        const detail = `${status?.code ?? '?'} ${status?.reason ?? ''}: ${status?.message ?? ''}`;
        finish({ kind: isGone(status?.code, status?.reason) ? 'gone' : 'error', detail });
        return;
      }
      opts.onEvent(type, object);
    } catch (err) {
      opts.onError('watch event failed', { type, error: describeError(err) });
    }
  };

  pet();
  opts.watch.watch(opts.path, opts.query, onLine, (err: unknown) => finish(classify(err))).then(
    (c) => {
      if (ended) c.abort(); // the watchdog gave up on this connect before it answered
      else controller = c;
    },
    (err: unknown) => finish({ kind: 'error', detail: describeError(err) }),
  );
  return { done, finish };
}
