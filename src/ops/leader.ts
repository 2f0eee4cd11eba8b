/**
 * Leader election on a coordination.k8s.io/v1 Lease, in the shape of client-go's leaderelection:
 *
 *   candidate: every retryPeriod (+ up to 20% jitter) read the Lease; take it when it is absent,
 *     released (holderIdentity empty) or expired. Expiry is judged by OUR clock: a Lease is
 *     expired when its record has not changed for leaseDurationSeconds since we first saw it
 *     that way (observedAt), so clock skew between nodes does not matter.
 *   leader: renew every retryPeriod. A renewal not achieved within renewDeadline of the last
 *     good one, or a Lease found held by someone else, ends leadership AT ONCE (a timer fires at
 *     the deadline even if the API call hangs): onStoppedLeading runs and the elector is done.
 *     It does not re-enter candidacy; its owner exits (run.ts) and Kubernetes restarts the pod.
 *   release(): stop, and if leading write holderIdentity "" with leaseDurationSeconds 1 (as
 *     client-go's ReleaseOnCancel), so a standby takes over on its next retry.
 *
 * Every write is optimistic (create is 409 when the Lease exists, update carries the
 * resourceVersion read), so two candidates cannot both win: the loser's write is refused.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Clock } from '../clock.ts';
import { ClusterError } from '../cluster/port.ts';
import { realTimers, type Timers } from '../controller/queue.ts';
import type { Logger } from '../log.ts';
import type { Lease, LeaseClient } from './lease.ts';

export const LEASE_NAME = 'mtls-operator';

export interface LeaderElectorOptions {
  client: LeaseClient;
  namespace: string;
  name?: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  clock: Clock;
  timers?: Timers;
  logger: Logger;
  /** [0, 1): jitter of the candidate's retries. */
  random?: () => number;
  /** We hold the Lease: start working. */
  onStartedLeading(): void;
  /** Leadership was lost (not released): stop working at once. */
  onStoppedLeading(reason: string): void;
}

/** POD_NAME (downward API) or the hostname, plus a random suffix: unique per process. */
export function candidateIdentity(env: NodeJS.ProcessEnv): string {
  return `${env.POD_NAME || hostname()}_${randomBytes(4).toString('hex')}`;
}

type Attempt = 'ok' | 'held' | 'failed';

export class LeaderElector {
  readonly identity: string;
  private readonly o: LeaderElectorOptions;
  private readonly name: string;
  private readonly timers: Timers;
  private leading = false;
  private stopped = false;
  private observed?: Lease;
  /** Our clock when the observed record last changed. */
  private observedAt = 0;
  /** Start of the last successful acquire or renew. */
  private lastRenew = 0;
  private retryTimer: unknown;
  private deadlineTimer: unknown;
  private attempt?: Promise<void>;
  private leaderSeen = '';

  constructor(opts: LeaderElectorOptions) {
    this.o = opts;
    this.identity = opts.identity;
    this.name = opts.name ?? LEASE_NAME;
    this.timers = opts.timers ?? realTimers;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Enter candidacy: the first attempt is made at once. */
  start(): void {
    this.o.logger.info('leader election: candidate', { identity: this.identity, lease: `${this.o.namespace}/${this.name}` });
    this.schedule(0);
  }

  /** Stop trying; if leading, release the Lease so a standby takes over on its next retry. */
  async release(): Promise<void> {
    this.stopped = true;
    this.clearTimers();
    await this.attempt;
    this.leading = false;
    // By the last record we read or wrote (an attempt that ended after stop() counts too): the
    // resourceVersion precondition refuses the release if anyone changed the Lease since.
    const held = this.observed;
    if (!held || held.holderIdentity !== this.identity) return;
    const now = this.o.clock.now();
    try {
      await this.o.client.update(this.o.namespace, this.name, {
        ...held, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now,
      });
      this.o.logger.info('leader election: lease released', { identity: this.identity });
    } catch (err) {
      this.o.logger.warn('leader election: lease not released, a standby takes over when it expires', { detail: (err as Error).message });
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = undefined;
      this.attempt = this.tick();
    }, ms);
  }

  private async tick(): Promise<void> {
    const started = this.o.clock.now();
    let result: Attempt;
    try {
      result = await this.tryAcquireOrRenew(started);
    } catch (err) {
      result = 'failed';
      const level = ClusterError.isConflict(err) ? 'debug' : 'warn';
      this.o.logger[level]('leader election: lease not written', { message: (err as Error).message });
    }
    if (this.stopped) return;
    if (result === 'ok') {
      this.lastRenew = started;
      this.armDeadline();
      if (!this.leading) {
        this.leading = true;
        this.o.logger.info('leader election: became leader', { identity: this.identity });
        this.o.onStartedLeading();
      }
      this.schedule(this.o.retryPeriodMs);
      return;
    }
    if (this.leading && result === 'held') {
      this.lose(`the lease is held by ${this.observed?.holderIdentity}`);
      return;
    }
    if (this.leading) {
      this.schedule(this.o.retryPeriodMs);
      return;
    }
    this.schedule(this.o.retryPeriodMs * (1 + 0.2 * (this.o.random ?? Math.random)()));
  }

  private async tryAcquireOrRenew(now: number): Promise<Attempt> {
    const { client, namespace } = this.o;
    const current = await client.get(namespace, this.name);
    if (this.stopped) return 'failed';
    const duration = Math.ceil(this.o.leaseDurationMs / 1000);
    if (!current) {
      this.remember(await client.create(namespace, this.name, {
        holderIdentity: this.identity, leaseDurationSeconds: duration, acquireTime: now, renewTime: now, leaseTransitions: 0,
      }));
      return 'ok';
    }
    this.remember(current);
    const holder = current.holderIdentity;
    if (holder && holder !== this.identity && this.observedAt + current.leaseDurationSeconds * 1000 > this.o.clock.now()) {
      return 'held';
    }
    const mine = holder === this.identity;
    this.remember(await client.update(namespace, this.name, {
      holderIdentity: this.identity,
      leaseDurationSeconds: duration,
      acquireTime: mine ? current.acquireTime : now,
      renewTime: now,
      leaseTransitions: mine ? current.leaseTransitions : current.leaseTransitions + 1,
      ...(current.resourceVersion !== undefined ? { resourceVersion: current.resourceVersion } : {}),
    }));
    return 'ok';
  }

  /** Track the record; a change restarts its expiry by our clock. */
  private remember(lease: Lease): void {
    const prev = this.observed;
    if (!prev || prev.resourceVersion !== lease.resourceVersion || prev.holderIdentity !== lease.holderIdentity || prev.renewTime !== lease.renewTime) {
      this.observedAt = this.o.clock.now();
    }
    this.observed = lease;
    if (lease.holderIdentity && lease.holderIdentity !== this.leaderSeen) {
      this.leaderSeen = lease.holderIdentity;
      if (lease.holderIdentity !== this.identity) this.o.logger.info('leader election: current leader', { leader: lease.holderIdentity });
    }
  }

  private armDeadline(): void {
    if (this.deadlineTimer !== undefined) this.timers.clearTimeout(this.deadlineTimer);
    const remaining = this.lastRenew + this.o.renewDeadlineMs - this.o.clock.now();
    this.deadlineTimer = this.timers.setTimeout(() => {
      this.deadlineTimer = undefined;
      this.lose(`not renewed within ${this.o.renewDeadlineMs} ms`);
    }, Math.max(0, remaining));
  }

  /** Leadership is gone: stop at once; the elector is done. */
  private lose(reason: string): void {
    if (!this.leading || this.stopped) return;
    this.leading = false;
    this.stopped = true;
    this.clearTimers();
    this.o.logger.error('leader election: leadership lost', { identity: this.identity, reason });
    this.o.onStoppedLeading(reason);
  }

  private clearTimers(): void {
    if (this.retryTimer !== undefined) this.timers.clearTimeout(this.retryTimer);
    if (this.deadlineTimer !== undefined) this.timers.clearTimeout(this.deadlineTimer);
    this.retryTimer = undefined;
    this.deadlineTimer = undefined;
  }
}
