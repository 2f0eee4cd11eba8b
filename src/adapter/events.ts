/**
 * core/v1 Events, with client-side aggregation: the same reason and message about the same object
 * within `windowMs` bumps count/lastTimestamp on the existing Event (merge patch) instead of
 * creating another one, as client-go's event correlator does.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { PatchStrategy, setHeaderOptions, type CoreV1Api, type CoreV1Event } from '@kubernetes/client-node';
import type { EventType, ObjectRef } from '../api/types.ts';
import { redact } from './errors.ts';
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

  constructor(opts: EventRecorderOptions) {
    this.core = opts.core;
    this.timeoutMs = opts.timeoutMs;
    this.call = opts.call ?? {};
    this.windowMs = opts.windowMs ?? 5 * 60_000;
    this.maxTracked = opts.maxTracked ?? 1_000;
    this.now = opts.now ?? Date.now;
  }

  async record(about: ObjectRef, type: EventType, reason: string, message: string): Promise<void> {
    const text = redact(message, MAX_MESSAGE);
    const key = [about.namespace, about.kind, about.name, about.uid ?? '', type, reason, text].join('\u0000');
    const now = this.now();
    const prior = this.seen.get(key);
    if (prior && now - prior.lastSeen < this.windowMs) {
      if (await this.bump(about.namespace, prior, now)) {
        this.track(key, prior);
        return;
      }
    }
    const name = `${about.name.slice(0, 236)}.${randomBytes(8).toString('hex')}`; // <= 253 chars
    const at = new Date(now);
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
      count: 1,
      reportingComponent: EVENT_COMPONENT,
      reportingInstance: this.instance,
    };
    await callApi(`POST events/${about.namespace}/${name}`, this.timeoutMs, (o) =>
      this.core.createNamespacedEvent({ namespace: about.namespace, body }, o), this.call);
    this.track(key, { name, count: 1, lastSeen: now });
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
