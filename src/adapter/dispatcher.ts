/**
 * One HTTP connection pool per API server, not one per request.
 *
 * @kubernetes/client-node 2.0.1 builds a new undici Agent in `createDispatcher` for every request
 * whose kubeconfig carries any TLS option (always in a cluster: the service account's CA). Each
 * request then opens its own connection and TLS handshake, and the agents and their buffers
 * linger: driving the operator against an API server, its heap grew by about 200 KB per identity
 * (bench/process.ts). This keeps one dispatcher per distinct set of connection options (a rotated
 * client certificate gets a new one; the old one is closed once idle).
 *
 * It is also the last gate of leader election's write fence (`beforeWrite`): undici calls the
 * request handler's onRequestStart (onConnect for older handlers) synchronously just before it
 * writes the request to the socket, after any wait for a connection. A write whose fence closed
 * since callApi asked it (a process frozen while the request waited for a connection) is aborted
 * there and never leaves. The Lease (leader election's own writes) has its own gate (`beforeLeaseWrite`): a renewal
 * that waited there past the renew deadline does not leave either. Reads are not gated.
 */
import type { KubeConfig } from '@kubernetes/client-node';

interface Closable {
  close?(): Promise<void>;
}

interface Composable extends Closable {
  compose?(interceptor: Interceptor): unknown;
}

type Dispatch = (opts: { method?: string; path?: string }, handler: object) => boolean;
type Interceptor = (dispatch: Dispatch) => Dispatch;

export interface ShareOptions {
  /** Throws to refuse a write (not GET/HEAD, not a Lease): asked right before it is written to the socket. */
  beforeWrite?(op: string): void;
  /** Throws to refuse a write of a Lease, asked at the same moment. */
  beforeLeaseWrite?(op: string): void;
}

const LEASES = /\/leases(\/|$|\?)/;

/** Wrap the handler of every gated request so its gate is asked again when undici starts writing it. */
export function writeGate(gates: ShareOptions): Interceptor {
  return (dispatch) => (opts, handler) => {
    const method = (opts.method ?? 'GET').toUpperCase();
    const path = opts.path ?? '';
    const beforeWrite = LEASES.test(path) ? gates.beforeLeaseWrite : gates.beforeWrite;
    if (method === 'GET' || method === 'HEAD' || !beforeWrite) return dispatch(opts, handler);
    const op = `${method} ${path.split('?')[0]}`;
    const h = handler as Record<string, unknown>;
    const gated = new Proxy(handler, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        if (typeof value !== 'function') return value;
        if (prop === 'onRequestStart') {
          return (controller: { abort(err: Error): void }, context: unknown) => {
            try {
              beforeWrite(op);
            } catch (err) {
              controller.abort(err as Error);
              return;
            }
            return (h.onRequestStart as (c: unknown, x: unknown) => unknown).call(target, controller, context);
          };
        }
        if (prop === 'onConnect') {
          return (abort: (err: Error) => void, context: unknown) => {
            try {
              beforeWrite(op);
            } catch (err) {
              abort(err as Error);
              return;
            }
            return (h.onConnect as (a: unknown, x: unknown) => unknown).call(target, abort, context);
          };
        }
        return (value as (...args: unknown[]) => unknown).bind(target);
      },
    });
    return dispatch(opts, gated);
  };
}

interface DispatcherFactory {
  createDispatcher?(cluster: unknown, agentOptions: unknown): unknown;
  createDispatcherOptions?(cluster: unknown, agentOptions: unknown): unknown;
}

/**
 * Whether two dispatcher option sets are the same: plain objects and arrays key by key, Buffers and
 * other byte arrays by content, anything else by identity. client-node builds the options afresh
 * for every request (reading the CA and client certificate files again), so this runs per request;
 * it replaced a JSON.stringify + SHA-256 of them that turned every Buffer into an array of numbers
 * (~40 µs a request, a CPU profile of a cold start at 3,000 identities).
 */
export function sameOptions(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.byteLength !== b.byteLength) return false;
    return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  const ra = a as Record<string, unknown>, rb = b as Record<string, unknown>;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(rb, k) && sameOptions(ra[k], rb[k]));
}

/** Make `kc` reuse its dispatchers. Returns false when this client-node has no such hook. */
export function shareDispatcher(kc: KubeConfig, opts: ShareOptions = {}): boolean {
  const target = kc as unknown as DispatcherFactory;
  const create = target.createDispatcher;
  const options = target.createDispatcherOptions;
  if (typeof create !== 'function' || typeof options !== 'function') return false;
  let current: { key: unknown; dispatcher: unknown } | undefined;
  target.createDispatcher = (cluster, agentOptions) => {
    const key = options.call(kc, cluster, agentOptions) ?? null;
    if (current && sameOptions(current.key, key)) return current.dispatcher;
    const previous = current?.dispatcher as Closable | undefined;
    const made = create.call(kc, cluster, agentOptions) as Composable;
    const gated = opts.beforeWrite ?? opts.beforeLeaseWrite;
    current = { key, dispatcher: gated && typeof made.compose === 'function' ? made.compose(writeGate(opts)) : made };
    void previous?.close?.().catch(() => undefined); // waits for in-flight requests
    return current.dispatcher;
  };
  return true;
}
