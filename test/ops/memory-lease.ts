/** An in-memory Lease with the apiserver's optimistic concurrency, and per-candidate clients. */
import { setImmediate as tick } from 'node:timers/promises';
import { ClusterError } from '../../src/cluster/port.ts';
import type { Lease, LeaseClient } from '../../src/ops/lease.ts';

export class LeaseStore {
  lease: Lease | undefined;
  private rv = 0;
  readonly writes: Array<{ by: string; holder: string }> = [];

  client(name = 'client'): MemoryLeaseClient {
    return new MemoryLeaseClient(this, name);
  }

  /** Someone outside writes the Lease (a bumped resourceVersion). */
  put(lease: Omit<Lease, 'resourceVersion'>, by = 'outside'): Lease {
    this.lease = { ...lease, resourceVersion: String(++this.rv) };
    this.writes.push({ by, holder: lease.holderIdentity });
    return { ...this.lease };
  }
}

/** 'ok'; 'fail': every call rejects (apiserver unreachable); 'hang': calls never answer. */
export type Mode = 'ok' | 'fail' | 'hang';

export class MemoryLeaseClient implements LeaseClient {
  mode: Mode = 'ok';
  /** When set, every call waits for it before answering (a try the test holds in flight). */
  gate: Promise<void> | undefined;
  readonly calls: string[] = [];
  private readonly store: LeaseStore;
  private readonly name: string;

  constructor(store: LeaseStore, name: string) {
    this.store = store;
    this.name = name;
  }

  async get(namespace: string, name: string): Promise<Lease | undefined> {
    await this.io(`get ${namespace}/${name}`);
    return this.store.lease && { ...this.store.lease };
  }

  async create(namespace: string, name: string, lease: Lease): Promise<Lease> {
    await this.io(`create ${namespace}/${name}`);
    if (this.store.lease) throw new ClusterError(409, 'AlreadyExists', `leases ${name} already exists`);
    return this.store.put(lease, this.name);
  }

  async update(namespace: string, name: string, lease: Lease): Promise<Lease> {
    await this.io(`update ${namespace}/${name}`);
    const { resourceVersion: _, ...rest } = lease;
    // The server creates a Lease on a PUT (AllowCreateOnUpdate), whatever resourceVersion it carries (test/real/lease.test.ts).
    if (!this.store.lease) return this.store.put(rest, this.name);
    if (lease.resourceVersion !== this.store.lease.resourceVersion) {
      throw new ClusterError(409, 'Conflict', `the object has been modified; please apply your changes to the latest version`);
    }
    return this.store.put(rest, this.name);
  }

  /** Answers asynchronously (a macrotask), so concurrent candidates interleave. */
  private async io(call: string): Promise<void> {
    this.calls.push(call);
    if (this.mode === 'hang') await new Promise(() => {});
    if (this.gate) await this.gate;
    await tick();
    if (this.mode === 'fail') throw new ClusterError(0, 'TransportError', `${call}: connect ECONNREFUSED`);
  }
}

/** Let every pending macrotask and microtask run. */
export async function flush(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await tick();
}
