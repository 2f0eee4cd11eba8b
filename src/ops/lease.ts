/**
 * The Lease port: the few calls leader election needs on a coordination.k8s.io/v1 Lease, so the
 * elector is tested without client-node (an in-memory client in the tests, KubeLeaseClient in
 * src/adapter/lease.ts for real).
 *
 * Writes are optimistic: update carries the resourceVersion that was read, and a Lease changed
 * since then is not written (ClusterError 409); create of a Lease that exists is also 409. That
 * is what keeps two candidates from both winning.
 */

export interface Lease {
  /** Empty: nobody holds it (released). */
  holderIdentity: string;
  leaseDurationSeconds: number;
  /** Epoch milliseconds. */
  acquireTime: number;
  renewTime: number;
  leaseTransitions: number;
  /** As read from the server; required by update. */
  resourceVersion?: string;
}

/** Each call is cancelled when `signal` aborts (the elector bounds every try by it). */
export interface LeaseClient {
  /** undefined: no such Lease. */
  get(namespace: string, name: string, signal?: AbortSignal): Promise<Lease | undefined>;
  /** Throws ClusterError 409 if it exists. */
  create(namespace: string, name: string, lease: Lease, signal?: AbortSignal): Promise<Lease>;
  /** Replace, only if lease.resourceVersion is still current; else ClusterError 409. */
  update(namespace: string, name: string, lease: Lease, signal?: AbortSignal): Promise<Lease>;
}
