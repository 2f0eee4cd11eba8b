/**
 * One HTTP connection pool per API server, not one per request.
 *
 * @kubernetes/client-node 2.0.1 builds a new undici Agent in `createDispatcher` for every request
 * whose kubeconfig carries any TLS option (always in a cluster: the service account's CA). Each
 * request then opens its own connection and TLS handshake, and the agents and their buffers
 * linger: driving the operator against an API server, its heap grew by about 200 KB per identity
 * (bench/process.ts). This keeps one dispatcher per distinct set of connection options (a rotated
 * client certificate gets a new one; the old one is closed once idle).
 */
import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';

interface Closable {
  close?(): Promise<void>;
}

interface DispatcherFactory {
  createDispatcher?(cluster: unknown, agentOptions: unknown): unknown;
  createDispatcherOptions?(cluster: unknown, agentOptions: unknown): unknown;
}

/** Make `kc` reuse its dispatchers. Returns false when this client-node has no such hook. */
export function shareDispatcher(kc: KubeConfig): boolean {
  const target = kc as unknown as DispatcherFactory;
  const create = target.createDispatcher;
  const options = target.createDispatcherOptions;
  if (typeof create !== 'function' || typeof options !== 'function') return false;
  let current: { key: string; dispatcher: unknown } | undefined;
  target.createDispatcher = (cluster, agentOptions) => {
    const key = createHash('sha256').update(JSON.stringify(options.call(kc, cluster, agentOptions) ?? null)).digest('hex');
    if (current?.key === key) return current.dispatcher;
    const previous = current?.dispatcher as Closable | undefined;
    current = { key, dispatcher: create.call(kc, cluster, agentOptions) };
    void previous?.close?.().catch(() => undefined); // waits for in-flight requests
    return current.dispatcher;
  };
  return true;
}
