/**
 * Leader election on a coordination.k8s.io/v1 Lease, in the shape of client-go's leaderelection:
 *
 *   candidate: every retryPeriod (+ up to 20% jitter) read the Lease; take it when it is absent,
 *     released (holderIdentity empty) or expired. Expiry is judged on OUR monotonic clock: a Lease
 *     is expired when its record has not changed for leaseDurationSeconds since we saw it change
 *     (observedAt, client-go's observedTime). Neither the holder's renewTime nor our wall clock
 *     takes part, so clock skew between nodes and an NTP step on ours do not matter.
 *   leader: renew every retryPeriod; while the record we last wrote is current, a renewal is one
 *     PUT (client-go's fast path), else GET + PUT. Each try is bounded by tryTimeoutMs and by what
 *     is left of the renew deadline, so a stalled apiserver costs one short try, not the deadline.
 *     A renewal not achieved within renewDeadline of the last good one, or a Lease found held by
 *     someone else, ends leadership AT ONCE (a timer fires at the deadline even if a call hangs):
 *     signal aborts, onStoppedLeading runs and the elector is done. It does not re-enter
 *     candidacy; its owner exits (run.ts) and Kubernetes restarts the pod.
 *   fence: canWrite() is true only while the start of our last successful renewal is younger
 *     than renewDeadline on the monotonic clock and on the wall clock (the monotonic one stops while
 *     the machine is suspended). The adapter asks it right before every write, so a leader frozen
 *     (SIGSTOP, GC, a paused VM, a suspended machine) past its deadline writes nothing after it
 *     wakes, even before its timers run. A standby needs leaseDuration from ITS observation of that
 *     renewal, which came after the renewal started: leaseDuration - renewDeadline is the margin
 *     for a write already on the wire and for clock-rate differences.
 *   The Lease's own writes: a leader's renewal leaves only while the deadline has not passed (mayWriteLease), asked
 *     before the write and again by the dispatcher as it goes to the socket, so a frozen leader sends no Lease either.
 *   release(): stop, and if leading write holderIdentity "" with leaseDurationSeconds 1 (as
 *     client-go's ReleaseOnCancel), so a standby takes over on its next retry.
 *
 * Every write is optimistic (create is 409 when the Lease exists, update carries the
 * resourceVersion read), so two candidates cannot both win: the loser's write is refused. The
 * record each step writes: lease-record.ts.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Clock } from '../clock.ts';
import { ClusterError } from '../cluster/port.ts';
import { realTimers, type Timers } from '../controller/queue.ts';
import type { Logger } from '../log.ts';
import { boundedTry } from './bounded-try.ts';
import type { Lease, LeaseClient } from './lease.ts';
import { firstRecord, releasedRecord, renewedRecord, takenRecord } from './lease-record.ts';

export const LEASE_NAME = 'mtls-operator';

export interface LeaderElectorOptions {
  client: LeaseClient;
  namespace: string;
  name?: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** Wall clock: only for the acquireTime/renewTime written into the Lease (for humans). */
  clock: Clock;
  /** Monotonic milliseconds (default performance.now): every duration the elector judges. */
  monotonic?: () => number;
  /** Bound on one try (a PUT, or GET + PUT); default 2 x retryPeriod within [1 s, renewDeadline / 2]. */
  tryTimeoutMs?: number;
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

export function defaultTryTimeoutMs(retryPeriodMs: number, renewDeadlineMs: number): number {
  return Math.round(Math.min(Math.max(2 * retryPeriodMs, 1_000), Math.max(renewDeadlineMs / 2, 100)));
}

type Attempt = 'ok' | 'held' | 'failed';

export class LeaderElector {
  readonly identity: string;
  private readonly o: LeaderElectorOptions;
  private readonly name: string;
  private readonly timers: Timers;
  private readonly mono: () => number;
  private readonly tryTimeoutMs: number;
  /** Aborted when leadership ends (lost or released): what runs on our leadership is cancelled. */
  private readonly ended = new AbortController();
  private leading = false;
  private stopped = false;
  /** Leadership was lost (not released): the Lease is someone else's to take; release writes nothing. */
  private lost = false;
  private observed?: Lease;
  /** Monotonic time when we saw the observed record change. */
  private observedAt = 0;
  /** Monotonic start of the last successful acquire or renew. */
  private lastRenew = 0;
  /** The same moment on the wall clock (the fence's second reading: see canWrite). */
  private lastRenewWall = 0;
  private retryTimer: unknown;
  private deadlineTimer: unknown;
  private attempt?: Promise<void>;
  private leaderSeen = '';

  constructor(opts: LeaderElectorOptions) {
    this.o = opts;
    this.identity = opts.identity;
    this.name = opts.name ?? LEASE_NAME;
    this.timers = opts.timers ?? realTimers;
    this.mono = opts.monotonic ?? (() => performance.now());
    this.tryTimeoutMs = opts.tryTimeoutMs ?? defaultTryTimeoutMs(opts.retryPeriodMs, opts.renewDeadlineMs);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Aborted once leadership ends, lost or released. */
  get signal(): AbortSignal {
    return this.ended.signal;
  }

  /**
   * May this process write now? Only while leading and the start of the last successful renewal
   * is younger than the renew deadline, on the monotonic clock: checked at the moment of asking,
   * not by a timer, so it is right even in the first instant after a frozen process resumes.
   */
  canWrite(): boolean {
    return this.leading && this.renewAge() < this.o.renewDeadlineMs;
  }

  /**
   * How old the last successful renewal is: by the monotonic clock or the wall clock, whichever says older. Linux's
   * monotonic clock does not run while the machine is suspended; the wall clock does. A forward step of the wall clock
   * (NTP) only closes the fence early, until the next renewal.
   */
  private renewAge(): number {
    return Math.max(this.mono() - this.lastRenew, this.o.clock.now() - this.lastRenewWall);
  }

  /**
   * May a write of the Lease leave now? Asked by the elector before each write of a try, and by the shared dispatcher as
   * the request is written to the socket. Not once leadership is lost; not, while leading, once the renew deadline has
   * passed on the monotonic clock: a renewal that waited past it (a process frozen while its GET was answered, or while
   * the request waited for a connection) would prove nothing, and the Lease may be another's by then. A candidate's take
   * and a release are guarded by the resourceVersion they carry.
   */
  mayWriteLease(): boolean {
    return !this.lost && !(this.leading && this.pastDeadline());
  }

  /** Our last successful renewal is a renew deadline old, on the monotonic clock (the deadline timer's own measure). */
  private pastDeadline(): boolean {
    return this.mono() - this.lastRenew >= this.o.renewDeadlineMs;
  }

  /** Why canWrite() is false (for the error a refused write carries). */
  whyNot(): string {
    if (this.canWrite()) return '';
    if (!this.leading) return 'this process is not the leader';
    return `the last renewal of the Lease is ${Math.round(this.renewAge())} ms old (renew deadline ${this.o.renewDeadlineMs} ms)`;
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
    this.ended.abort(new Error('leadership released'));
    if (this.lost) return;
    // By the last record we read or wrote (an attempt that ended after stop() counts too): the
    // resourceVersion precondition refuses the release if anyone changed the Lease since.
    const held = this.observed;
    if (!held || held.holderIdentity !== this.identity) return;
    const now = this.o.clock.now();
    try {
      await this.o.client.update(this.o.namespace, this.name, releasedRecord(held, now), AbortSignal.timeout(this.tryTimeoutMs));
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
    const started = this.mono();
    const startedWall = this.o.clock.now();
    if (this.leading && this.pastDeadline()) {
      // Our timers ran late (a frozen process): the deadline is past, do not try to renew.
      this.lose(`not renewed within ${this.o.renewDeadlineMs} ms`);
      return;
    }
    const budget = this.leading ? Math.min(this.tryTimeoutMs, this.lastRenew + this.o.renewDeadlineMs - started) : this.tryTimeoutMs;
    let result: Attempt;
    try {
      result = await boundedTry(this.timers, budget, (signal) => this.tryAcquireOrRenew(signal));
    } catch (err) {
      result = 'failed';
      const level = ClusterError.isConflict(err) ? 'debug' : 'warn';
      this.o.logger[level]('leader election: lease not written', { message: (err as Error).message });
    }
    if (this.stopped) return;
    if (result === 'ok' && this.mono() - started >= this.o.renewDeadlineMs) {
      // The try itself outlived the deadline (frozen mid-try): it proves nothing about now.
      if (this.leading) {
        this.lose(`not renewed within ${this.o.renewDeadlineMs} ms`);
        return;
      }
      result = 'failed';
    }
    if (result === 'ok') {
      this.lastRenew = started;
      this.lastRenewWall = startedWall;
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
      // A failed try that ended past the deadline (its write refused by mayWriteLease): stop now, not at the next timer.
      if (this.pastDeadline()) this.lose(`not renewed within ${this.o.renewDeadlineMs} ms`);
      else this.schedule(this.o.retryPeriodMs);
      return;
    }
    this.schedule(this.o.retryPeriodMs * (1 + 0.2 * (this.o.random ?? Math.random)()));
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<Attempt> {
    const { client, namespace } = this.o;
    const now = this.o.clock.now();
    const duration = Math.ceil(this.o.leaseDurationMs / 1000);
    const held = this.observed;
    if (this.leading && held?.holderIdentity === this.identity && held.resourceVersion !== undefined) {
      // Fast path: the record we wrote last is most likely still current.
      try {
        this.remember(await client.update(namespace, this.name, renewedRecord(held, duration, now), signal));
        return 'ok';
      } catch (err) {
        if (!ClusterError.isConflict(err)) throw err;
      }
    }
    const current = await client.get(namespace, this.name, signal);
    if (this.stopped || !this.mayWriteLease()) return 'failed';
    if (!current) {
      this.remember(await client.create(namespace, this.name, firstRecord(this.identity, duration, now), signal));
      return 'ok';
    }
    this.remember(current);
    const holder = current.holderIdentity;
    if (holder && holder !== this.identity && this.observedAt + current.leaseDurationSeconds * 1000 > this.mono()) {
      return 'held';
    }
    this.remember(await client.update(namespace, this.name, takenRecord(current, this.identity, duration, now), signal));
    return 'ok';
  }

  /** Track the record; a change restarts its expiry by our monotonic clock. */
  private remember(lease: Lease): void {
    const prev = this.observed;
    if (!prev || prev.resourceVersion !== lease.resourceVersion || prev.holderIdentity !== lease.holderIdentity || prev.renewTime !== lease.renewTime) {
      this.observedAt = this.mono();
    }
    this.observed = lease;
    if (lease.holderIdentity && lease.holderIdentity !== this.leaderSeen) {
      this.leaderSeen = lease.holderIdentity;
      if (lease.holderIdentity !== this.identity) this.o.logger.info('leader election: current leader', { leader: lease.holderIdentity });
    }
  }

  private armDeadline(): void {
    if (this.deadlineTimer !== undefined) this.timers.clearTimeout(this.deadlineTimer);
    const remaining = this.lastRenew + this.o.renewDeadlineMs - this.mono();
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
    this.lost = true;
    this.clearTimers();
    this.ended.abort(new Error(`leadership lost: ${reason}`));
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
