/**
 * core/v1 Events, with client-side aggregation: the same reason and message about the same object
 * within `windowMs` bumps count/lastTimestamp on the existing Event (merge patch) instead of
 * creating another one, as client-go's event correlator does. In a storm (thousands of issuances at
 * once) Events past a token bucket are folded into one summary per namespace, type and reason
 * (event-storm.ts).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { PatchStrategy, setHeaderOptions, type CoreV1Api, type CoreV1Event } from '@kubernetes/client-node';
import type { EventType, ObjectRef } from '../api/types.ts';
import { redact } from './errors.ts';
import { EventStorm, foldedMessage, type EventStormOptions } from './event-storm.ts';
import { callApi, type CallOptions } from './timing.ts';

export const EVENT_COMPONENT = 'mtls-operator';
const MAX_MESSAGE = 1024;

interface Seen {
  name: string;
  count: number;
  lastSeen: number;
}

export interface EventRecorderOptions {
  core: CoreV1Api;
  timeoutMs: number;
  /** Signal and write fence of every Event request. */
  call?: CallOptions;
  windowMs?: number;
  maxTracked?: number;
  now?: () => number;
  /** The storm's token bucket and fold window (defaults: 100 at once, then 5/s, folded per 10 s). */
  storm?: Omit<EventStormOptions, 'now'>;
  /** A summary Event that could not be written (nobody awaits it). */
  onError?: (err: Error) => void;
}

export class EventRecorder {
  private readonly core: CoreV1Api;
  private readonly timeoutMs: number;
  private readonly call: CallOptions;
  private readonly windowMs: number;
  private readonly maxTracked: number;
  private readonly now: () => number;
  private readonly instance = hostname();
  /** Most recently used last (Map keeps insertion order). */
  private readonly seen = new Map<string, Seen>();
  readonly storm: EventStorm;
  private readonly onError: (err: Error) => void;
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(opts: EventRecorderOptions) {
    this.core = opts.core;
    this.timeoutMs = opts.timeoutMs;
    this.call = opts.call ?? {};
    this.windowMs = opts.windowMs ?? 5 * 60_000;
    this.maxTracked = opts.maxTracked ?? 1_000;
    this.now = opts.now ?? Date.now;
    this.storm = new EventStorm({ ...opts.storm, now: this.now });
    this.onError = opts.onError ?? (() => {});
  }

  async record(about: ObjectRef, type: EventType, reason: string, message: string): Promise<void> {
    const text = redact(message, MAX_MESSAGE);
    if (!this.storm.admit()) {
      const endsAt = this.storm.fold(about, type, reason, text);
      if (!this.flushTimer) {
        this.flushTimer = setTimeout(() => { this.flushTimer = undefined; void this.flushFolded(); }, Math.max(0, endsAt - this.now()));
        this.flushTimer.unref();
      }
      return;
    }
    const key = [about.namespace, about.kind, about.name, about.uid ?? '', type, reason, text].join('\u0000');
    const now = this.now();
    const prior = this.seen.get(key);
    if (prior && now - prior.lastSeen < this.windowMs) {
      if (await this.bump(about.namespace, prior, now)) {
        this.track(key, prior);
        return;
      }
    }
    const name = await this.create(about, type, reason, text, 1);
    this.track(key, { name, count: 1, lastSeen: now });
  }

  /** Write the summaries of folded Events whose window has ended; returns how many were written. */
  async flushFolded(): Promise<number> {
    let written = 0;
    for (const f of this.storm.due()) {
      try {
        await this.create(f.about, f.type, f.reason, redact(foldedMessage(f, this.storm), MAX_MESSAGE), f.count);
        written++;
      } catch (err) {
        this.onError(err as Error);
      }
    }
    return written;
  }

  /** At shutdown: the summaries pending are written now rather than lost with the timer. */
  async stop(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.storm.pendingCount === 0) return;
    this.storm.endWindow();
    await this.flushFolded();
  }

  private async create(about: ObjectRef, type: EventType, reason: string, text: string, count: number): Promise<string> {
    const name = `${about.name.slice(0, 236)}.${randomBytes(8).toString('hex')}`; // <= 253 chars
    const at = new Date(this.now());
    const body: CoreV1Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: about.namespace },
      involvedObject: {
        apiVersion: about.apiVersion,
        kind: about.kind,
        name: about.name,
        namespace: about.namespace,
        uid: about.uid,
      },
      reason,
      message: text,
      type,
      source: { component: EVENT_COMPONENT },
      firstTimestamp: at,
      lastTimestamp: at,
      count,
      reportingComponent: EVENT_COMPONENT,
      reportingInstance: this.instance,
    };
    await callApi(`POST events/${about.namespace}/${name}`, this.timeoutMs, (o) =>
      this.core.createNamespacedEvent({ namespace: about.namespace, body }, o), this.call);
    return name;
  }

  /** Patch count and lastTimestamp; false if the Event is gone (expired by the apiserver's TTL). */
  private async bump(namespace: string, prior: Seen, now: number): Promise<boolean> {
    const count = prior.count + 1;
    try {
      await callApi(`PATCH events/${namespace}/${prior.name}`, this.timeoutMs, (o) =>
        this.core.patchNamespacedEvent(
          { namespace, name: prior.name, body: { count, lastTimestamp: new Date(now).toISOString() } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch, o),
        ), this.call);
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) return false;
      throw err;
    }
    prior.count = count;
    prior.lastSeen = now;
    return true;
  }

  private track(key: string, seen: Seen): void {
    this.seen.delete(key);
    this.seen.set(key, seen);
    while (this.seen.size > this.maxTracked) {
      const oldest = this.seen.keys().next().value;
      if (oldest === undefined) break;
      this.seen.delete(oldest);
    }
  }
}
