/**
 * An in-memory cluster behind the cluster port, for fast controller tests and the benchmark. It behaves like the
 * API server where the controller can tell: generation moves only on spec changes, status is a subresource merged
 * with JSON merge-patch semantics, server-side apply keeps fields other managers set (a POST's fields belong to an
 * Update manager, never to the Apply manager), label values over 63 characters are refused with 422, owner
 * references garbage-collect, and watches deliver asynchronously. The real kube-apiserver (test/real/) is the
 * judge of all of this; where the two differ, this file is wrong.
 *
 * What it does not model: OpenAPI/CEL validation of identities (a spec is stored as given), admission (the
 * ValidatingAdmissionPolicy, PodSecurity), RBAC, managedFields as the server writes them (only which keys each
 * Apply manager owns), field-level conflicts on anything but Secret data, type, labels and annotations, resourceVersion as etcd's
 * revision across kinds, watch bookmarks, 410 Gone and relists, pagination, foreground deletion and
 * deletionTimestamp (deleting an owner removes what it owns at once), namespaces and their deletion, and the
 * apiserver's limits on object size.
 */
import { randomUUID } from 'node:crypto';
import {
  type ConfigMap,
  LABEL_MANAGED_BY,
  MANAGED_BY,
  type EventType,
  type MutualTLSIdentity,
  type MutualTLSIdentityStatus,
  type ObjectRef,
  type Secret,
  type WorkloadRef,
} from '../api/types.ts';
import { isLabelValue } from '../api/labels.ts';
import { ClusterError, type Cluster, type ClusterHandlers } from './port.ts';
import { FIELD_MANAGER } from '../api/types.ts';
import { apply, type Owners } from './ssa.ts';

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

const key = (ns: string | undefined, name: string) => `${ns ?? ''}/${name}`;

/** As the API server validates metadata.labels: a value it would refuse is a 422 here too. */
function validateLabels(kind: string, meta: { name: string; labels?: Record<string, string> | undefined }): void {
  for (const [k, v] of Object.entries(meta.labels ?? {})) {
    if (!isLabelValue(v)) {
      throw new ClusterError(422, 'Invalid', `${kind} "${meta.name}" is invalid: metadata.labels: Invalid value: "${v.slice(0, 80)}": a valid label must be 63 characters or less (label ${k})`);
    }
  }
}
const clone = <T>(v: T): T => structuredClone(v);

/** Stored objects are frozen and handed out as they are, like an informer's cache. */
function frozen<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) frozen(x);
    Object.freeze(v);
  }
  return v;
}

export class MemoryCluster implements Cluster {
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
  private readonly applied = new Map<string, Owners>();
  private readonly failures: Array<{ kind: WriteKind; error: Error }> = [];
  private handlers: ClusterHandlers | undefined;
  private rv = 1;
  private readonly opts: MemoryClusterOptions;

  constructor(opts: MemoryClusterOptions) {
    this.opts = opts;
  }

  // ---- the port ----

  async start(handlers: ClusterHandlers): Promise<void> {
    this.handlers = handlers;
  }

  async stop(): Promise<void> {
    this.handlers = undefined;
  }

  getIdentity(namespace: string, name: string): MutualTLSIdentity | undefined {
    return this.identities.get(key(namespace, name));
  }

  listIdentities(): MutualTLSIdentity[] {
    return [...this.identities.values()];
  }

  async getSecret(namespace: string, name: string): Promise<Secret | undefined> {
    const s = this.secrets.get(key(namespace, name));
    if (s && !this.isOurs(s) && !this.isCA(s)) this.liveReads++;
    return s;
  }

  async serviceAccountExists(namespace: string, name: string): Promise<boolean> {
    return this.serviceAccounts.has(key(namespace, name));
  }

  async applySecret(secret: Secret, options: { force?: boolean; fieldManager?: string } = {}): Promise<Secret> {
    const k = key(secret.metadata.namespace, secret.metadata.name);
    this.record('applySecret', k);
    validateLabels('Secret', secret.metadata);
    const prev = this.secrets.get(k);
    const rv = secret.metadata.resourceVersion;
    if (rv !== undefined && rv !== prev?.metadata.resourceVersion) {
      throw new ClusterError(409, 'Conflict', `Operation cannot be fulfilled on secrets "${secret.metadata.name}": the object has been modified`);
    }
    const manager = options.fieldManager ?? FIELD_MANAGER;
    const out = apply(prev, this.applied.get(k) ?? new Map(), manager, secret, options.force ?? true);
    if (!out.ok) throw new ClusterError(409, 'Conflict', `Apply failed with ${out.conflicts.length} conflicts: ${out.conflicts.join(', ')}`);
    const next: Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: secret.type ?? prev?.type ?? 'Opaque',
      metadata: {
        ...(prev ? clone(prev.metadata) : { uid: randomUUID(), creationTimestamp: new Date().toISOString() }),
        name: secret.metadata.name,
        namespace: secret.metadata.namespace!,
        labels: out.labels,
        annotations: out.annotations,
        ownerReferences: mergeOwnerReferences(prev?.metadata.ownerReferences, secret.metadata.ownerReferences),
        resourceVersion: String(++this.rv),
      },
      data: out.data,
    };
    if (prev && prev.type !== next.type) throw new ClusterError(422, 'Invalid', `Secret ${k}: field is immutable: type`);
    this.applied.set(k, out.owners);
    this.secrets.set(k, frozen(next));
    this.notifySecret(next);
    return next;
  }

  async deleteOwnedSecret(namespace: string, name: string, precondition: { uid: string; resourceVersion: string }): Promise<void> {
    const k = key(namespace, name);
    this.record('deleteSecret', k);
    const s = this.secrets.get(k);
    if (!s) return;
    if (s.metadata.uid !== precondition.uid || s.metadata.resourceVersion !== precondition.resourceVersion) {
      throw new ClusterError(409, 'Conflict', `Precondition failed: UID in precondition: ${precondition.uid}, UID in object meta: ${s.metadata.uid}`);
    }
    this.deleteSecret(namespace, name);
  }

  /** The field managers of a Secret and what each owns (for tests). */
  managersOf(namespace: string, name: string): string[] {
    return [...(this.applied.get(key(namespace, name)) ?? new Map()).keys()];
  }

  async createSecret(secret: Secret): Promise<Secret> {
    const k = key(secret.metadata.namespace, secret.metadata.name);
    this.record('createSecret', k);
    validateLabels('Secret', secret.metadata);
    if (this.secrets.has(k)) throw new ClusterError(409, 'AlreadyExists', `secrets "${secret.metadata.name}" already exists`);
    // A POST makes its manager an Update manager: none of these fields are Apply-owned, so a later apply that
    // omits one does not remove it (as on a real API server; test/real/ssa.test.ts).
    this.applied.delete(k);
    return this.putSecret(secret);
  }

  async patchIdentityStatus(namespace: string, name: string, status: MutualTLSIdentityStatus): Promise<void> {
    const k = key(namespace, name);
    this.record('patchStatus', k);
    const id = this.identities.get(k);
    if (!id) throw new ClusterError(404, 'NotFound', `mutualtlsidentities.mtls.dev "${name}" not found`);
    const merged: Record<string, unknown> = { ...(id.status ?? {}) };
    for (const [f, v] of Object.entries(status)) {
      if (v === null) delete merged[f];
      else merged[f] = clone(v);
    }
    this.identities.set(k, frozen({
      ...id,
      metadata: { ...id.metadata, resourceVersion: String(++this.rv) },
      status: merged as MutualTLSIdentityStatus,
    }));
    this.notify(() => this.handlers?.identityChanged(namespace, name));
  }

  listSecrets(): Secret[] {
    return [...this.secrets.values()].filter((s) => this.isOurs(s));
  }

  async patchSecretAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<void> {
    const k = key(namespace, name);
    this.record('patchSecretAnnotations', k);
    const s = this.secrets.get(k);
    if (!s) throw new ClusterError(404, 'NotFound', `secrets "${name}" not found`);
    const next = clone(s);
    const merged: Record<string, string> = { ...(next.metadata.annotations ?? {}) };
    for (const [a, v] of Object.entries(annotations)) {
      if (v === null) delete merged[a];
      else merged[a] = v;
    }
    next.metadata.annotations = merged;
    next.metadata.resourceVersion = String(++this.rv);
    this.secrets.set(k, frozen(next));
    this.notifySecret(next);
  }

  getConfigMap(namespace: string, name: string): ConfigMap | undefined {
    return this.configMaps.get(key(namespace, name));
  }

  listConfigMaps(): ConfigMap[] {
    return [...this.configMaps.values()];
  }

  async applyConfigMap(configMap: ConfigMap): Promise<ConfigMap> {
    const k = key(configMap.metadata.namespace, configMap.metadata.name);
    this.record('applyConfigMap', k);
    validateLabels('ConfigMap', configMap.metadata);
    const prev = this.configMaps.get(k);
    const rv = configMap.metadata.resourceVersion;
    if (rv !== undefined && rv !== prev?.metadata.resourceVersion) {
      throw new ClusterError(409, 'Conflict', `Operation cannot be fulfilled on configmaps "${configMap.metadata.name}": the object has been modified`);
    }
    const next: ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        ...(prev ? clone(prev.metadata) : { uid: randomUUID() }),
        ...clone(configMap.metadata),
        resourceVersion: String(++this.rv),
      },
      data: clone(configMap.data ?? {}),
    };
    this.configMaps.set(k, frozen(next));
    this.notify(() => this.handlers?.configMapChanged?.(next.metadata.namespace!, next.metadata.name));
    return next;
  }

  async writeConfigMap(configMap: ConfigMap): Promise<ConfigMap> {
    const k = key(configMap.metadata.namespace, configMap.metadata.name);
    this.record('writeConfigMap', k);
    const prev = this.configMaps.get(k);
    const rv = configMap.metadata.resourceVersion;
    if (rv === undefined && prev) throw new ClusterError(409, 'AlreadyExists', `configmaps "${configMap.metadata.name}" already exists`);
    if (rv !== undefined && !prev) throw new ClusterError(404, 'NotFound', `configmaps "${configMap.metadata.name}" not found`);
    if (rv !== undefined && rv !== prev!.metadata.resourceVersion) {
      throw new ClusterError(409, 'Conflict', `Operation cannot be fulfilled on configmaps "${configMap.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    const next: ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { ...clone(configMap.metadata), uid: prev?.metadata.uid ?? randomUUID(), resourceVersion: String(++this.rv) },
      data: clone(configMap.data ?? {}),
    };
    this.configMaps.set(k, frozen(next));
    this.notify(() => this.handlers?.configMapChanged?.(next.metadata.namespace!, next.metadata.name));
    return next;
  }

  async createConfigMap(configMap: ConfigMap): Promise<ConfigMap> {
    const k = key(configMap.metadata.namespace, configMap.metadata.name);
    this.record('createConfigMap', k);
    if (this.configMaps.has(k)) throw new ClusterError(409, 'AlreadyExists', `configmaps "${configMap.metadata.name}" already exists`);
    return this.putConfigMap(configMap);
  }

  async deleteConfigMap(namespace: string, name: string, precondition?: { uid: string; resourceVersion: string }): Promise<void> {
    const k = key(namespace, name);
    this.record('deleteConfigMap', k);
    const cm = this.configMaps.get(k);
    if (cm && precondition && (cm.metadata.uid !== precondition.uid || cm.metadata.resourceVersion !== precondition.resourceVersion)) {
      throw new ClusterError(409, 'Conflict', `Precondition failed: UID in precondition: ${precondition.uid}, UID in object meta: ${cm.metadata.uid}`);
    }
    if (this.configMaps.delete(k)) this.notify(() => this.handlers?.configMapChanged?.(namespace, name));
  }

  /** Write a ConfigMap as another actor would (create or replace). */
  putConfigMap(configMap: ConfigMap): ConfigMap {
    const k = key(configMap.metadata.namespace, configMap.metadata.name);
    const next: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', ...clone(configMap) };
    next.metadata.resourceVersion = String(++this.rv);
    next.metadata.uid ??= randomUUID();
    this.configMaps.set(k, frozen(next));
    this.notify(() => this.handlers?.configMapChanged?.(next.metadata.namespace!, next.metadata.name));
    return next;
  }

  async patchWorkloadTemplate(namespace: string, workload: WorkloadRef, annotations: Record<string, string>): Promise<void> {
    const k = `${workload.kind}/${namespace}/${workload.name}`;
    this.record('patchWorkload', k);
    const w = this.workloads.get(k);
    if (!w) throw new ClusterError(404, 'NotFound', `${workload.kind.toLowerCase()}s.apps "${workload.name}" not found`);
    this.workloads.set(k, { ...w, ...annotations });
  }

  async recordEvent(about: ObjectRef, type: EventType, reason: string, message: string): Promise<void> {
    this.events.push({ about, type, reason, message });
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
        resourceVersion: String(++this.rv),
        creationTimestamp: prev?.metadata.creationTimestamp ?? new Date().toISOString(),
      },
      spec: clone(identity.spec ?? {}),
      ...(prev?.status ? { status: prev.status } : {}),
    };
    this.identities.set(k, frozen(next));
    this.notify(() => this.handlers?.identityChanged(next.metadata.namespace!, next.metadata.name));
    return next;
  }

  /** Delete an identity; the garbage collector removes the Secrets it controls. */
  deleteIdentity(namespace: string, name: string): void {
    const k = key(namespace, name);
    const id = this.identities.get(k);
    if (!id) return;
    this.identities.delete(k);
    this.notify(() => this.handlers?.identityChanged(namespace, name));
    for (const [sk, s] of this.secrets) {
      if (s.metadata.ownerReferences?.some((r) => r.controller && r.uid === id.metadata.uid)) {
        this.secrets.delete(sk);
        this.applied.delete(sk);
        this.notifySecret(s);
      }
    }
  }

  /** Write a Secret as another actor would (create or replace). */
  putSecret(secret: Secret): Secret {
    const k = key(secret.metadata.namespace, secret.metadata.name);
    const next = clone(secret);
    next.metadata.resourceVersion = String(++this.rv);
    next.metadata.uid ??= randomUUID();
    this.secrets.set(k, frozen(next));
    this.notifySecret(next);
    return next;
  }

  deleteSecret(namespace: string, name: string): void {
    const k = key(namespace, name);
    const s = this.secrets.get(k);
    if (!s) return;
    this.secrets.delete(k);
    this.applied.delete(k);
    this.notifySecret(s);
  }

  /** Make the next write of this kind fail with this error. */
  failNext(kind: WriteKind, error: Error): void {
    this.failures.push({ kind, error });
  }

  writesOf(kind?: WriteKind): number {
    return kind ? this.writes.filter((w) => w.kind === kind).length : this.writes.length;
  }

  private record(kind: WriteKind, k: string): void {
    const i = this.failures.findIndex((f) => f.kind === kind);
    if (i >= 0) {
      const [f] = this.failures.splice(i, 1);
      throw f!.error;
    }
    this.writes.push({ kind, key: k });
  }

  private isOurs(s: Secret): boolean {
    return s.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY;
  }

  private isCA(s: Secret): boolean {
    return s.metadata.namespace === this.opts.caNamespace && s.metadata.name === this.opts.caName;
  }

  private notifySecret(s: Secret): void {
    const labels = { ...(s.metadata.labels ?? {}) };
    if (this.isCA(s)) this.notify(() => this.handlers?.caSecretChanged());
    const owner = s.metadata.ownerReferences?.find((r) => r.controller && r.kind === 'MutualTLSIdentity')?.name;
    if (!this.isCA(s) && this.isOurs(s)) this.notify(() => this.handlers?.secretChanged(s.metadata.namespace!, s.metadata.name, labels, owner));
  }

  /** Watches deliver after the write returns, as a real watch would. */
  private notify(fn: () => void): void {
    setImmediate(() => {
      try {
        fn();
      } catch {
        // a handler that throws must not break the "watch"
      }
    });
  }
}

/**
 * ownerReferences is a list keyed by uid under server-side apply: entries of other owners stay,
 * an entry with the same uid is replaced. (The operator never removes one by apply.)
 */
function mergeOwnerReferences(prev: Secret['metadata']['ownerReferences'], mine: Secret['metadata']['ownerReferences']): NonNullable<Secret['metadata']['ownerReferences']> {
  const out = (prev ?? []).filter((r) => !(mine ?? []).some((m) => m.uid === r.uid)).map((r) => clone(r));
  return [...out, ...clone(mine ?? [])];
}
