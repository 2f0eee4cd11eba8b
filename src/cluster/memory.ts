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
 *
 * This file is the port; the objects, the write log and what users and other actors do are the store
 * (memory-store.ts), server-side apply is ssa.ts, and the delivery of changes is memory-watch.ts.
 */
import { randomUUID } from 'node:crypto';
import {
  type ConfigMap,
  FIELD_MANAGER,
  type EventType,
  type MutualTLSIdentity,
  type MutualTLSIdentityStatus,
  type ObjectRef,
  type Secret,
  type WorkloadRef,
} from '../api/types.ts';
import { ClusterError, type Cluster, type ClusterHandlers } from './port.ts';
import { clone, frozen, key, MemoryStore, validateLabels } from './memory-store.ts';
import { applySecret } from './ssa.ts';

export type { MemoryClusterOptions, RecordedEvent, WriteKind } from './memory-store.ts';

export class MemoryCluster extends MemoryStore implements Cluster {
  // ---- the port ----

  async start(handlers: ClusterHandlers): Promise<void> {
    this.watch.handlers = handlers;
    this.releasedViews.clear(); // a new process's cache starts whole, and its first list passes every Secret by the handler
    await handlers.trustSynced?.().catch(() => undefined);
    for (const s of this.secrets.values()) this.arrived(s);
  }

  async stop(): Promise<void> {
    this.watch.handlers = undefined;
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
    return s && this.view(s);
  }

  /**
   * As the real adapter's cache does (src/adapter/kube-secrets.ts): this version of the Secret is
   * answered without tls.crt and tls.key until a newer one is written; wholeSecret reads it whole.
   */
  releaseKeyPair(namespace: string, name: string, resourceVersion: string): void {
    const s = this.secrets.get(key(namespace, name));
    if (!s?.data || s.metadata.resourceVersion !== resourceVersion || !this.isOurs(s)) return;
    this.release(s);
  }

  /** As the adapter does on a list page or a watch event: the handler's facts, then the version without its key pair. */
  protected override arrived(s: Secret): void {
    const h = this.watch.handlers;
    if (!h?.issuedSecretArrived || !s.data || !this.isOurs(s) || this.isCA(s)) return;
    let known = false;
    try {
      known = h.issuedSecretArrived(s);
    } catch {
      // counts as false, as in the adapter
    }
    if (known) this.release(s);
  }

  private release(s: Secret): void {
    const { 'tls.crt': _crt, 'tls.key': _key, ...rest } = s.data ?? {};
    const view = frozen({ ...s, data: rest });
    this.releasedViews.set(key(s.metadata.namespace, s.metadata.name), view);
    this.views.add(view);
  }

  async wholeSecret(secret: Secret): Promise<Secret | undefined> {
    if (!this.views.has(secret)) return secret;
    this.wholeReads++;
    return this.secrets.get(key(secret.metadata.namespace, secret.metadata.name));
  }

  /** Secrets read whole because their key pair had been released (a GET each on a real API server). */
  wholeReads = 0;
  private readonly releasedViews = new Map<string, Secret>();
  private readonly views = new WeakSet<Secret>();

  private view(s: Secret): Secret {
    const v = this.releasedViews.get(key(s.metadata.namespace, s.metadata.name));
    return v && v.metadata.resourceVersion === s.metadata.resourceVersion && v.metadata.uid === s.metadata.uid ? v : s;
  }

  async serviceAccountExists(namespace: string, name: string): Promise<boolean> {
    return this.serviceAccounts.has(key(namespace, name));
  }

  async applySecret(secret: Secret, options: { force?: boolean; fieldManager?: string } = {}): Promise<Secret> {
    const k = key(secret.metadata.namespace, secret.metadata.name);
    this.record('applySecret', k);
    validateLabels('Secret', secret.metadata);
    const prev = this.secrets.get(k);
    const manager = options.fieldManager ?? FIELD_MANAGER;
    const { next, owners } = applySecret(prev, this.applied.get(k) ?? new Map(), manager, secret, options.force ?? true, () => this.nextResourceVersion());
    this.applied.set(k, owners);
    this.secrets.set(k, frozen(next));
    this.watch.secret(next);
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
      metadata: { ...id.metadata, resourceVersion: this.nextResourceVersion() },
      status: merged as MutualTLSIdentityStatus,
    }));
    this.watch.identity(namespace, name);
  }

  listSecrets(): Secret[] {
    return [...this.secrets.values()].filter((s) => this.isOurs(s)).map((s) => this.view(s));
  }

  /** Our labeled Secrets as stored, key pairs included (tests: what the API server holds, not what the cache shows). */
  storedSecrets(): Secret[] {
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
    next.metadata.resourceVersion = this.nextResourceVersion();
    this.secrets.set(k, frozen(next));
    this.watch.secret(next);
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
        resourceVersion: this.nextResourceVersion(),
      },
      data: clone(configMap.data ?? {}),
    };
    this.configMaps.set(k, frozen(next));
    this.watch.configMap(next.metadata.namespace!, next.metadata.name);
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
      metadata: { ...clone(configMap.metadata), uid: prev?.metadata.uid ?? randomUUID(), resourceVersion: this.nextResourceVersion() },
      data: clone(configMap.data ?? {}),
    };
    this.configMaps.set(k, frozen(next));
    this.watch.configMap(next.metadata.namespace!, next.metadata.name);
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
    if (this.configMaps.delete(k)) this.watch.configMap(namespace, name);
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
}
