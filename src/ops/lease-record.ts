/**
 * What each step of leader election writes into the Lease, as client-go's leaderelection does: the
 * first record, a renewal, a take-over (or a renewal after reading the Lease again), and the release.
 * When each is written is the elector's question (leader.ts).
 */
import type { Lease } from './lease.ts';

/** The record of a Lease that does not exist yet: we hold it, no transitions so far. */
export function firstRecord(identity: string, durationSeconds: number, now: number): Lease {
  return { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 };
}

/** The record we wrote last, renewed (its resourceVersion is the precondition). */
export function renewedRecord(held: Lease, durationSeconds: number, now: number): Lease {
  return { ...held, leaseDurationSeconds: durationSeconds, renewTime: now };
}

/**
 * The record read from the server, now ours: kept acquireTime and transitions when it was already
 * ours, else acquired now and one transition more.
 */
export function takenRecord(current: Lease, identity: string, durationSeconds: number, now: number): Lease {
  const mine = current.holderIdentity === identity;
  return {
    holderIdentity: identity,
    leaseDurationSeconds: durationSeconds,
    acquireTime: mine ? current.acquireTime : now,
    renewTime: now,
    leaseTransitions: mine ? current.leaseTransitions : current.leaseTransitions + 1,
    ...(current.resourceVersion !== undefined ? { resourceVersion: current.resourceVersion } : {}),
  };
}

/** Released (client-go's ReleaseOnCancel): nobody holds it, and it expires within a second. */
export function releasedRecord(held: Lease, now: number): Lease {
  return { ...held, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now };
}
