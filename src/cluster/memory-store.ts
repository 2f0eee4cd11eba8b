/**
 * The in-memory cluster's store: the objects it holds (frozen, handed out as they are), the
 * resourceVersion counter, the log of the controller's writes and the failures a test injects into
 * them, and what users and other controllers do to the objects (kubectl apply, deletes, another
 * actor's writes), each change delivered to the watches (memory-watch.ts).
 */
import { randomUUID } from 'node:crypto';
import {
  type ConfigMap,
  LABEL_MANAGED_BY,
  MANAGED_BY,
  type EventType,
  type MutualTLSIdentity,
  type ObjectRef,
  type Secret,
} from '../api/types.ts';
import { isLabelValue } from '../api/labels.ts';
import { ClusterError } from './port.ts';
import { MemoryWatch } from './memory-watch.ts';
import type { Owners } from './ssa.ts';

export interface RecordedEvent {
  about: ObjectRef;
  type: EventType;
  reason: string;
  message: string;
}

export type WriteKind =
  | 'applySecret'
  | 'createSecret'
  | 'deleteSecret'
  | 'patchStatus'
  | 'patchSecretAnnotations'
  | 'applyConfigMap'
  | 'writeConfigMap'
  | 'createConfigMap'
  | 'deleteConfigMap'
  | 'patchWorkload';

export interface MemoryClusterOptions {
  caNamespace: string;
  caName: string;
}

export const key = (ns: string | undefined, name: string) => `${ns ?? ''}/${name}`;

/** As the API server validates metadata.labels: a value it would refuse is a 422 here too. */
export function validateLabels(kind: string, meta: { name: string; labels?: Record<string, string> | undefined }): void {
  for (const [k, v] of Object.entries(meta.labels ?? {})) {
    if (!isLabelValue(v)) {
      throw new ClusterError(422, 'Invalid', `${kind} "${meta.name}" is invalid: metadata.labels: Invalid value: "${v.slice(0, 80)}": a valid label must be 63 characters or less (label ${k})`);
    }
  }
}
export const clone = <T>(v: T): T => structuredClone(v);

/** Stored objects are frozen and handed out as they are, like an informer's cache. */
export function frozen<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) frozen(x);
    Object.freeze(v);
  }
  return v;
}

export class MemoryStore {
  readonly identities = new Map<string, MutualTLSIdentity>();
  readonly secrets = new Map<string, Secret>();
  readonly configMaps = new Map<string, ConfigMap>();
  /** Workloads (kind/namespace/name) and their pod-template annotations. */
  readonly workloads = new Map<string, Record<string, string>>();
  readonly events: RecordedEvent[] = [];
  /** ServiceAccounts that exist, as namespace/name. */
  readonly serviceAccounts = new Set<string>();
  /** Every write the controller made, in order. */
  readonly writes: Array<{ kind: WriteKind; key: string }> = [];
  /** API reads that missed the cache (getSecret of a Secret that is not ours). */
  liveReads = 0;
  /** Per Secret: its field managers and the fields each owns (server-side apply). */
  protected readonly applied = new Map<string, Owners>();
  protected readonly watch: MemoryWatch;
  private readonly failures: Array<{ kind: WriteKind; error: Error }> = [];
  private rv = 1;
  private readonly opts: MemoryClusterOptions;

  constructor(opts: MemoryClusterOptions) {
    this.opts = opts;
    this.watch = new MemoryWatch((s) => this.isCA(s), (s) => this.isOurs(s));
  }

  // ---- what users and other controllers do ----

  /** Create or update an identity as `kubectl apply` would (spec and metadata, not status). */
  applyIdentity(identity: Omit<MutualTLSIdentity, 'apiVersion' | 'kind'> & Partial<MutualTLSIdentity>): MutualTLSIdentity {
    const k = key(identity.metadata.namespace, identity.metadata.name);
    const prev = this.identities.get(k);
    const specChanged = !prev || JSON.stringify(prev.spec ?? {}) !== JSON.stringify(identity.spec ?? {});
    const next: MutualTLSIdentity = {
      apiVersion: 'mtls.dev/v1alpha1',
      kind: 'MutualTLSIdentity',
      metadata: {
        ...clone(identity.metadata),
        uid: prev?.metadata.uid ?? randomUUID(),
        generation: (prev?.metadata.generation ?? 0) + (specChanged ? 1 : 0),
        resourceVersion: this.nextResourceVersion(),
        creationTimestamp: prev?.metadata.creationTimestamp ?? new Date().toISOString(),
      },
      spec: clone(identity.spec ?? {}),
      ...(prev?.status ? { status: prev.status } : {}),
    };
    this.identities.set(k, frozen(next));
    this.watch.identity(next.metadata.namespace!, next.metadata.name);
    return next;
  }

  /** Delete an identity; the garbage collector removes the Secrets it controls. */
  deleteIdentity(namespace: string, name: string): void {
    const k = key(namespace, name);
    const id = this.identities.get(k);
    if (!id) return;
    this.identities.delete(k);
    this.watch.identity(namespace, name);
    for (const s of this.secrets.values()) {
      if (s.metadata.ownerReferences?.some((r) => r.controller && r.uid === id.metadata.uid)) this.deleteSecret(s.metadata.namespace!, s.metadata.name);
    }
  }

  /** Write a Secret as another actor would (create or replace). */
  putSecret(secret: Secret): Secret {
    const next = this.stored(this.secrets, clone(secret));
    this.arrived(next);
    this.watch.secret(next);
    return next;
  }

  /** A version written by another actor reaches the operator's cache (the port: ClusterHandlers.issuedSecretArrived). */
  protected arrived(_secret: Secret): void {}

  deleteSecret(namespace: string, name: string): void {
    const k = key(namespace, name);
    const s = this.secrets.get(k);
    if (!s) return;
    this.secrets.delete(k);
    this.applied.delete(k);
    this.watch.secret(s);
  }

  /** Write a ConfigMap as another actor would (create or replace). */
  putConfigMap(configMap: ConfigMap): ConfigMap {
    const next = this.stored(this.configMaps, { apiVersion: 'v1', kind: 'ConfigMap', ...clone(configMap) });
    this.watch.configMap(next.metadata.namespace!, next.metadata.name);
    return next;
  }

  /** The field managers of a Secret and what each owns (for tests). */
  managersOf(namespace: string, name: string): string[] {
    return [...(this.applied.get(key(namespace, name)) ?? new Map()).keys()];
  }

  /** Make the next write of this kind fail with this error. */
  failNext(kind: WriteKind, error: Error): void {
    this.failures.push({ kind, error });
  }

  writesOf(kind?: WriteKind): number {
    return kind ? this.writes.filter((w) => w.kind === kind).length : this.writes.length;
  }

  /** Store what another actor wrote (a copy of it): a new resourceVersion, a uid if it has none, frozen. */
  private stored<T extends Secret | ConfigMap>(objects: Map<string, T>, next: T): T {
    next.metadata.resourceVersion = this.nextResourceVersion();
    next.metadata.uid ??= randomUUID();
    objects.set(key(next.metadata.namespace, next.metadata.name), frozen(next));
    return next;
  }

  /** The next resourceVersion: one counter across all kinds. */
  protected nextResourceVersion(): string {
    return String(++this.rv);
  }

  /** A write of the controller: the failure injected for its kind, if any, else logged. */
  protected record(kind: WriteKind, k: string): void {
    const i = this.failures.findIndex((f) => f.kind === kind);
    if (i >= 0) {
      const [f] = this.failures.splice(i, 1);
      throw f!.error;
    }
    this.writes.push({ kind, key: k });
  }

  protected isOurs(s: Secret): boolean {
    return s.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY;
  }

  protected isCA(s: Secret): boolean {
    return s.metadata.namespace === this.opts.caNamespace && s.metadata.name === this.opts.caName;
  }
}
