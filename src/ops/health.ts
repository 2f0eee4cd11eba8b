/**
 * What /healthz and /readyz answer.
 *
 * Liveness (/healthz): the process is worth keeping. It fails when the event loop is not
 * responsive (a 1 s sampler saw a lag above maxLoopLagMs in the last 10 s, or is that late), or,
 * while the controller runs, when a watch has delivered nothing (no list, event or bookmark) for
 * stallMs: twice the watchdog, so the reflector's own restart had a full period to recover it.
 * A standby and a process shutting down are live.
 *
 * Readiness (/readyz): the process does what its role asks. A leader (or the only replica
 * without leader election) is ready once its caches have synced and the controller runs; a
 * standby waiting for the Lease is ready too: it is healthy and able to take over, and a
 * rollout of a 2-replica Deployment must not stall on it. Not ready while starting, while
 * syncing after winning the Lease, and from the moment shutdown begins.
 */
import type { Clock } from '../clock.ts';
import { realTimers, type Timers } from '../controller/queue.ts';

/** A lag spike keeps liveness failing this long, so a probe (every 10 s) sees it. */
const LAG_MEMORY_MS = 10_000;

export type Phase = 'starting' | 'standby' | 'syncing' | 'running' | 'stopping';

export interface Check {
  ok: boolean;
  detail: string;
}

export interface WatchStats {
  /** Per watch: epoch ms of the last list, event or bookmark. */
  lastEventAt: Record<string, number>;
}

export interface HealthOptions {
  clock: Clock;
  timers?: Timers;
  /** Read while the controller runs (KubeCluster.stats()). */
  watchStats?(): WatchStats;
  /** A watch silent this long is stalled; default 10 min (2 x the 5 min watchdog). */
  stallMs?: number;
  /** Event-loop lag that makes the process unhealthy; default 5 s. */
  maxLoopLagMs?: number;
  /** Event-loop sampling period; default 1 s. */
  sampleMs?: number;
}

export class Health {
  phase: Phase = 'starting';
  private readonly o: HealthOptions;
  private readonly timers: Timers;
  private readonly sampleMs: number;
  private readonly stallMs: number;
  private readonly maxLagMs: number;
  private lastSample: number;
  /** The last lag above the limit, and when it was seen. */
  private badLag = 0;
  private badAt = -Infinity;
  private sampler: unknown;

  constructor(opts: HealthOptions) {
    this.o = opts;
    this.timers = opts.timers ?? realTimers;
    this.sampleMs = opts.sampleMs ?? 1_000;
    this.stallMs = opts.stallMs ?? 10 * 60_000;
    this.maxLagMs = opts.maxLoopLagMs ?? 5_000;
    this.lastSample = opts.clock.now();
  }

  /** Start sampling event-loop lag (an unref'd interval: it never keeps the process up). */
  start(): void {
    this.lastSample = this.o.clock.now();
    this.sampler = this.timers.setInterval(() => {
      const now = this.o.clock.now();
      const lag = now - this.lastSample - this.sampleMs;
      this.lastSample = now;
      if (lag > this.maxLagMs) {
        this.badLag = lag;
        this.badAt = now;
      }
    }, this.sampleMs);
  }

  stop(): void {
    if (this.sampler !== undefined) this.timers.clearInterval(this.sampler);
    this.sampler = undefined;
  }

  liveness(): Check {
    const now = this.o.clock.now();
    const overdue = now - this.lastSample - this.sampleMs;
    if (this.sampler !== undefined && (overdue > this.maxLagMs || now - this.badAt < LAG_MEMORY_MS)) {
      return { ok: false, detail: `event loop lagging by ${overdue > this.maxLagMs ? overdue : this.badLag} ms` };
    }
    if (this.phase === 'running' && this.o.watchStats) {
      const stalled = Object.entries(this.o.watchStats().lastEventAt)
        .filter(([, at]) => now - at > this.stallMs)
        .map(([watch, at]) => `${watch} (${at ? Math.round((now - at) / 1000) : 'never'}${at ? ' s' : ''})`);
      if (stalled.length) return { ok: false, detail: `watches stalled: ${stalled.join(', ')}` };
    }
    return { ok: true, detail: 'ok' };
  }

  readiness(): Check {
    switch (this.phase) {
      case 'running':
        return { ok: true, detail: 'ok: caches synced, controller running' };
      case 'standby':
        return { ok: true, detail: 'ok: standby, waiting for the leader lease' };
      case 'syncing':
        return { ok: false, detail: 'leader, caches not synced yet' };
      case 'stopping':
        return { ok: false, detail: 'shutting down' };
      default:
        return { ok: false, detail: 'starting' };
    }
  }
}
