/**
 * The Lease port on client-node's CoordinationV1Api. update is a PUT carrying the
 * resourceVersion read, so the apiserver refuses it (409) when the Lease changed since; every
 * failure is a ClusterError (callApi); a call is bounded by its timeout and cancelled by the
 * caller's signal (the elector bounds each try by what is left of its renew deadline). MicroTime fields are written with six fractional digits,
 * the format the apiserver parses.
 */
import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Lease, LeaseClient } from '../ops/lease.ts';
import { callApi } from './timing.ts';

/** RFC 3339 with microseconds: 2026-11-23T12:00:00.123000Z. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function epochMs(v: unknown): number {
  const ms = v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isNaN(ms) ? 0 : ms;
}

export function fromV1Lease(raw: V1Lease): Lease {
  const spec = raw.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: epochMs(spec.acquireTime),
    renewTime: epochMs(spec.renewTime),
    leaseTransitions: spec.leaseTransitions ?? 0,
    ...(raw.metadata?.resourceVersion ? { resourceVersion: raw.metadata.resourceVersion } : {}),
  };
}

export function toV1Lease(namespace: string, name: string, lease: Lease): V1Lease {
  // Plain JSON: client-node's serializer passes unknown MicroTime values through as they are.
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, ...(lease.resourceVersion ? { resourceVersion: lease.resourceVersion } : {}) },
    spec: {
      holderIdentity: lease.holderIdentity,
      leaseDurationSeconds: lease.leaseDurationSeconds,
      acquireTime: microTime(lease.acquireTime),
      renewTime: microTime(lease.renewTime),
      leaseTransitions: lease.leaseTransitions,
    },
  } as unknown as V1Lease;
}

export class KubeLeaseClient implements LeaseClient {
  private readonly api: CoordinationV1Api;
  private readonly timeoutMs: number;

  constructor(kubeConfig: KubeConfig, timeoutMs = 10_000) {
    this.api = kubeConfig.makeApiClient(CoordinationV1Api);
    this.timeoutMs = timeoutMs;
  }

  async get(namespace: string, name: string, signal?: AbortSignal): Promise<Lease | undefined> {
    try {
      return fromV1Lease(await callApi(`GET leases/${namespace}/${name}`, this.timeoutMs, (o) =>
        this.api.readNamespacedLease({ namespace, name }, o), signal ? { signal } : {}));
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) return undefined;
      throw err;
    }
  }

  async create(namespace: string, name: string, lease: Lease, signal?: AbortSignal): Promise<Lease> {
    const { resourceVersion: _, ...fresh } = lease;
    return fromV1Lease(await callApi(`POST leases/${namespace}/${name}`, this.timeoutMs, (o) =>
      this.api.createNamespacedLease({ namespace, body: toV1Lease(namespace, name, fresh) }, o), signal ? { signal } : {}));
  }

  async update(namespace: string, name: string, lease: Lease, signal?: AbortSignal): Promise<Lease> {
    if (!lease.resourceVersion) throw new Error(`PUT leases/${namespace}/${name}: no resourceVersion to guard the write`);
    return fromV1Lease(await callApi(`PUT leases/${namespace}/${name}`, this.timeoutMs, (o) =>
      this.api.replaceNamespacedLease({ namespace, name, body: toV1Lease(namespace, name, lease) }, o), signal ? { signal } : {}));
  }
}
