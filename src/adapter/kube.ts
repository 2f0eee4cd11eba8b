/**
 * The cluster port on @kubernetes/client-node 2.x.
 *
 * Watches: a small supervised reflector per collection (reflector.ts, session.ts) on client-node's
 * `Watch` class plus the typed list calls, rather than `makeInformer`/`ListWatch`. In 2.0.1
 * ListWatch stops for good on the first watch error that is not 410 or a client timeout (it emits
 * 'error' and never reconnects: the silent informer stalls), never asks for bookmarks, has no
 * watchdog and no periodic relist, and an ERROR event in the stream only clears its
 * resourceVersion. Owning the loop gives full control of abort, bookmarks, resourceVersion, 410
 * recovery and backoff, and lets us count restarts (stats()).
 *
 * Reads of identities, of our Secrets and of our ConfigMaps come from the caches; writes go to the
 * API and the server's answer is written through to the cache, so a read right after a write sees it.
 */
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type KubeConfig,
  type V1ConfigMap,
  type V1Secret,
} from '@kubernetes/client-node';
import {
  FIELD_MANAGER,
  GROUP,
  KIND,
  LABEL_MANAGED_BY,
  MANAGED_BY,
  PLURAL,
  TRUST_ROTATION_CONFIGMAP,
  VERSION,
  type ConfigMap,
  type EventType,
  type MutualTLSIdentity,
  type MutualTLSIdentityStatus,
  type ObjectRef,
  type Secret,
  type WorkloadRef,
} from '../api/types.ts';
import { ClusterError, type Cluster, type ClusterHandlers } from '../cluster/port.ts';
import { DEFAULT_BACKOFF } from './backoff.ts';
import { cachedConfigMap, cachedIdentity, cachedStateConfigMap, cachedSecret, toSecret, writableConfigMap, writableSecret } from './convert.ts';
import { isPartial } from './reduce.ts';
import { describeError } from './errors.ts';
import { ServiceAccountCache } from './service-accounts.ts';
import { EventRecorder } from './events.ts';
import { callApi, type CallOptions, type WriteFence } from './timing.ts';
import type { AdapterLogger } from './types.ts';
import { buildWatches, forNamespace, type WatchSet } from './watches.ts';

export type { AdapterLogger } from './types.ts';

export interface KubeClusterOptions {
  kubeConfig: KubeConfig;
  /**
   * Watch identities (and our Secrets and ConfigMaps) only in these namespaces; default all.
   * ConfigMaps are watched in the operator namespace as well.
   */
  namespaces?: string[];
  operatorNamespace: string;
  caSecretName: string;
  logger: AdapterLogger;
  /** Events: how many at once, then per second, before a storm is folded into summaries (event-storm.ts). */
  events?: { burst: number; perSecond: number };
  /**
   * Periodic resync from the cache (every cached object handed to the controller again; no list,
   * the watch stays up); default 10 min. Lists happen only at start and after 410 Gone.
   */
  resyncIntervalMs?: number;
  /** Restart a watch with no event or bookmark for this long; default 5 min. */
  watchdogMs?: number;
  /** Restart backoff; default 1 s .. 60 s, with jitter. */
  backoff?: { initialMs: number; maxMs: number };
  /** Deadline of each read/write request; default 30 s. */
  requestTimeoutMs?: number;
  /**
   * Leader election's fence, asked right before every write request (Secrets, status, ConfigMaps,
   * Events, workloads): a process whose leadership is not current sends nothing.
   */
  fence?: WriteFence;
  /** Aborted when leadership ends: every request in flight is cancelled. stop() cancels them too. */
  signal?: AbortSignal;
}

export interface KubeClusterStats {
  /** Per watch: restarts (errors, ends, watchdog, 410, failed lists). */
  restarts: Record<string, number>;
  /** Per watch: relists after the first list (410 Gone only). */
  relists: Record<string, number>;
  /** Per watch: periodic resyncs from the cache (no list). */
  resyncs: Record<string, number>;
  /** Per watch: BOOKMARK events received (they keep the resourceVersion current). */
  bookmarks: Record<string, number>;
  /** Per watch: events skipped as the echo of our own write (the labelled Secrets' watches). */
  echoes: Record<string, number>;
  /** Per watch: epoch ms of the last list, event or bookmark (0: never). */
  lastEventAt: Record<string, number>;
  /** Every cache has listed at least once. */
  synced: boolean;
}

export class KubeCluster implements Cluster {
  private readonly opts: KubeClusterOptions;
  private readonly log: AdapterLogger;
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly events: EventRecorder;
  private readonly watches: WatchSet;
  private readonly timeoutMs: number;
  private handlers?: ClusterHandlers;
  private started = false;
  private readonly stopping = new AbortController();
  /** Options of every read request, and of every write request (which also pass the fence). */
  private readonly read: CallOptions;
  private readonly write: CallOptions;
  private readonly serviceAccounts: ServiceAccountCache;

  constructor(opts: KubeClusterOptions) {
    this.opts = opts;
    this.log = opts.logger;
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.apps = opts.kubeConfig.makeApiClient(AppsV1Api);
    this.custom = opts.kubeConfig.makeApiClient(CustomObjectsApi);
    this.timeoutMs = opts.requestTimeoutMs ?? 30_000;
    const signal = opts.signal ? AbortSignal.any([opts.signal, this.stopping.signal]) : this.stopping.signal;
    this.read = { signal };
    this.write = opts.fence ? { signal, fence: opts.fence } : { signal };
    this.events = new EventRecorder({ core: this.core, timeoutMs: this.timeoutMs, call: this.write, ...(opts.events ? { storm: opts.events } : {}), onError: (err) => this.log.warn('folded Events not recorded', { reason: 'EventStorm', detail: err.message }) });
    this.serviceAccounts = new ServiceAccountCache({
      now: () => Date.now(),
      get: (namespace, name) => callApi(`GET serviceaccounts/${namespace}/${name}`, this.timeoutMs, (o) =>
        this.core.readNamespacedServiceAccount({ namespace, name }, o), this.read),
    });
    const watchdogMs = opts.watchdogMs ?? 5 * 60_000;
    const watch = new Watch(opts.kubeConfig);
    // Watch aborts a connection after requestTimeoutMs (private, 30 s) without data: shorter than
    // the apiserver's ~1 min bookmark period, so quiet watches would churn. Our watchdog decides;
    // client-node's timer stays as a backstop for a connect that never answers.
    (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = watchdogMs * 2;
    this.watches = buildWatches({
      core: this.core,
      custom: this.custom,
      watch,
      logger: this.log,
      namespaces: opts.namespaces,
      operatorNamespace: opts.operatorNamespace,
      caSecretName: opts.caSecretName,
      resyncIntervalMs: opts.resyncIntervalMs ?? 10 * 60_000,
      watchdogMs,
      backoff: opts.backoff ?? DEFAULT_BACKOFF,
      onIdentity: ({ metadata: m }) => this.call('identityChanged', (h) => h.identityChanged(m.namespace ?? '', m.name)),
      onSecret: ({ metadata: m }) =>
        this.call('secretChanged', (h) => h.secretChanged(m.namespace ?? '', m.name, m.labels ?? {},
          m.ownerReferences?.find((r) => r.controller && r.kind === KIND)?.name)),
      onConfigMap: ({ metadata: m }) =>
        this.call('configMapChanged', (h) => h.configMapChanged?.(m.namespace ?? '', m.name)),
      onCaSecret: () => this.call('caSecretChanged', (h) => h.caSecretChanged()),
      onResync: () => this.call('resynced', (h) => h.resynced?.()),
    });
  }

  async start(handlers: ClusterHandlers): Promise<void> {
    if (this.started) throw new Error('KubeCluster already started');
    this.started = true;
    this.handlers = handlers;
    // Identities first: the Secret cache keeps data only for Secrets a cached identity owns.
    const identities = [...this.watches.identities.values()];
    await Promise.all(identities.map((r) => r.start()));
    await Promise.all(this.watches.all.filter((r) => !identities.includes(r as never)).map((r) => r.start()));
    this.log.info('cluster caches synced', { watches: this.watches.all.map((r) => r.name) });
  }

  /** Cancels every request in flight (and refuses new ones), aborts every watch, clears every timer. */
  async stop(): Promise<void> {
    // Summaries of folded Events are written before requests are refused (at most 2 s).
    await Promise.race([this.events.stop(), new Promise((r) => setTimeout(r, 2_000).unref())]).catch(() => {});
    this.stopping.abort(new Error('the operator is stopping'));
    await Promise.all(this.watches.all.map((r) => r.stop()));
  }

  stats(): KubeClusterStats {
    const stats: KubeClusterStats = { restarts: {}, relists: {}, resyncs: {}, bookmarks: {}, echoes: {}, lastEventAt: {}, synced: true };
    for (const r of this.watches.all) {
      stats.restarts[r.name] = r.restarts;
      stats.relists[r.name] = r.relists;
      stats.resyncs[r.name] = r.resyncs;
      stats.bookmarks[r.name] = r.bookmarks;
      stats.echoes[r.name] = r.echoes;
      stats.lastEventAt[r.name] = r.lastEventAt;
      stats.synced &&= r.synced;
    }
    return stats;
  }

  getIdentity(namespace: string, name: string): MutualTLSIdentity | undefined {
    return forNamespace(this.watches.identities, namespace)?.get(`${namespace}/${name}`);
  }

  listIdentities(): MutualTLSIdentity[] {
    return [...this.watches.identities.values()].flatMap((r) => r.values());
  }

  async getSecret(namespace: string, name: string): Promise<Secret | undefined> {
    const key = `${namespace}/${name}`;
    const cached = (this.isCa(namespace, name) ? this.watches.ca.get(key) : undefined) ??
      forNamespace(this.watches.secrets, namespace)?.get(key);
    // A cached Secret without data (no live identity owned it when it arrived) is read afresh.
    if (cached && !isPartial(cached)) return cached;
    try {
      const read = toSecret(await callApi(`GET secrets/${key}`, this.timeoutMs, (o) =>
        this.core.readNamespacedSecret({ namespace, name }, o), this.read));
      if (cached) return this.remember(read);
      return read;
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) return undefined;
      throw err;
    }
  }

  async applySecret(secret: Secret, options: { force?: boolean; fieldManager?: string } = {}): Promise<Secret> {
    const { name, namespace = '' } = secret.metadata;
    const fieldManager = options.fieldManager ?? FIELD_MANAGER;
    const applied = await callApi(`PATCH secrets/${namespace}/${name}`, this.timeoutMs, (o) =>
      this.core.patchNamespacedSecret(
        { name, namespace, body: writableSecret(secret), fieldManager, force: options.force ?? true },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply, o),
      ), this.write);
    return this.remember(toSecret(applied), true);
  }

  async deleteOwnedSecret(namespace: string, name: string, precondition: { uid: string; resourceVersion: string }): Promise<void> {
    try {
      await callApi(`DELETE secrets/${namespace}/${name}`, this.timeoutMs, (o) =>
        this.core.deleteNamespacedSecret({ name, namespace, body: { preconditions: precondition } }, o), this.write);
    } catch (err) {
      if (!ClusterError.isNotFound(err)) throw err;
    }
    forNamespace(this.watches.secrets, namespace)?.forget(`${namespace}/${name}`);
  }

  async createSecret(secret: Secret): Promise<Secret> {
    const { name, namespace = '' } = secret.metadata;
    const created = await callApi(`POST secrets/${namespace}/${name}`, this.timeoutMs, (o) =>
      this.core.createNamespacedSecret({
        namespace,
        // Plain JSON without timestamps: client-node's V1Secret serializer passes it through.
        body: writableSecret(secret) as V1Secret,
        fieldManager: FIELD_MANAGER,
      }, o), this.write);
    return this.remember(toSecret(created), true);
  }

  async patchIdentityStatus(namespace: string, name: string, status: MutualTLSIdentityStatus): Promise<void> {
    const updated: unknown = await callApi(`PATCH ${PLURAL}/${namespace}/${name}/status`, this.timeoutMs, (o) =>
      this.custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { status }, fieldManager: FIELD_MANAGER },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch, o),
      ), this.write);
    if (updated !== null && typeof updated === 'object' && 'metadata' in updated) {
      forNamespace(this.watches.identities, namespace)?.put(cachedIdentity(updated));
    }
  }

  /** Only Secrets a live identity owns: a tenant's labelled Secret counts for nothing (rotation progress). */
  listSecrets(): Secret[] {
    return [...this.watches.secrets.values()].flatMap((r) => r.values()).filter((s) => s.data !== undefined && !isPartial(s));
  }

  async patchSecretAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<void> {
    const patched = await callApi(`PATCH secrets/${namespace}/${name}`, this.timeoutMs, (o) =>
      this.core.patchNamespacedSecret(
        { name, namespace, body: { metadata: { annotations } }, fieldManager: FIELD_MANAGER },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch, o),
      ), this.write);
    this.remember(toSecret(patched));
  }

  async patchWorkloadTemplate(namespace: string, workload: WorkloadRef, annotations: Record<string, string>): Promise<void> {
    const { kind, name } = workload;
    const body = { spec: { template: { metadata: { annotations } } } };
    const req = { name, namespace, body, fieldManager: FIELD_MANAGER };
    await callApi<unknown>(`PATCH ${kind.toLowerCase()}s/${namespace}/${name}`, this.timeoutMs, (o) => {
      const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch, o);
      return kind === 'Deployment'
        ? this.apps.patchNamespacedDeployment(req, merge)
        : kind === 'StatefulSet'
          ? this.apps.patchNamespacedStatefulSet(req, merge)
          : this.apps.patchNamespacedDaemonSet(req, merge);
    }, this.write);
  }

  getConfigMap(namespace: string, name: string): ConfigMap | undefined {
    return this.configMapCache(namespace, name)?.get(`${namespace}/${name}`);
  }

  listConfigMaps(): ConfigMap[] {
    return [...this.watches.configMaps.values(), this.watches.rotation].flatMap((r) => r.values());
  }

  /** The cache a ConfigMap of ours lives in: only the two names the operator writes are watched. */
  private isRotationState(namespace: string, name: string): boolean {
    return namespace === this.opts.operatorNamespace && name === TRUST_ROTATION_CONFIGMAP;
  }

  private configMapCache(namespace: string, name: string) {
    if (this.isRotationState(namespace, name)) return this.watches.rotation;
    return forNamespace(this.watches.configMaps, namespace);
  }

  async applyConfigMap(configMap: ConfigMap): Promise<ConfigMap> {
    const { name, namespace = '' } = configMap.metadata;
    const applied = await callApi(`PATCH configmaps/${namespace}/${name}`, this.timeoutMs, (o) =>
      this.core.patchNamespacedConfigMap(
        { name, namespace, body: withResourceVersion(writableConfigMap(configMap), configMap.metadata.resourceVersion), fieldManager: FIELD_MANAGER, force: true },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply, o),
      ), this.write);
    const result = cachedConfigMap(applied);
    const cache = this.configMapCache(namespace, name);
    if (result.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY) cache?.put(result);
    else cache?.forget(`${namespace}/${name}`);
    return result;
  }

  async writeConfigMap(configMap: ConfigMap): Promise<ConfigMap> {
    const { name, namespace = '', resourceVersion } = configMap.metadata;
    // writableConfigMap drops resourceVersion (applies are unconditional); here it is the guard.
    const body = { ...writableConfigMap(configMap), metadata: { ...writableConfigMap(configMap).metadata, ...(resourceVersion ? { resourceVersion } : {}) } } as V1ConfigMap;
    const written = resourceVersion
      ? await callApi(`PUT configmaps/${namespace}/${name}`, this.timeoutMs, (o) =>
        this.core.replaceNamespacedConfigMap({ name, namespace, body, fieldManager: FIELD_MANAGER }, o), this.write)
      : await callApi(`POST configmaps/${namespace}/${name}`, this.timeoutMs, (o) =>
        this.core.createNamespacedConfigMap({ namespace, body, fieldManager: FIELD_MANAGER }, o), this.write);
    const result = this.isRotationState(namespace, name) ? cachedStateConfigMap(written) : cachedConfigMap(written);
    const cache = this.configMapCache(namespace, name);
    if (result.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY) cache?.put(result);
    return result;
  }

  async createConfigMap(configMap: ConfigMap): Promise<ConfigMap> {
    const { namespace = '', name } = configMap.metadata;
    const created = await callApi(`POST configmaps/${namespace}/${name}`, this.timeoutMs, (o) =>
      this.core.createNamespacedConfigMap({ namespace, body: writableConfigMap(configMap) as V1ConfigMap, fieldManager: FIELD_MANAGER }, o), this.write);
    const result = cachedConfigMap(created);
    if (result.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY) this.configMapCache(namespace, name)?.put(result);
    return result;
  }

  async deleteConfigMap(namespace: string, name: string, precondition?: { uid: string; resourceVersion: string }): Promise<void> {
    try {
      await callApi(`DELETE configmaps/${namespace}/${name}`, this.timeoutMs, (o) =>
        this.core.deleteNamespacedConfigMap({ name, namespace, ...(precondition ? { body: { preconditions: precondition } } : {}) }, o), this.write);
    } catch (err) {
      if (!ClusterError.isNotFound(err)) throw err;
    }
    this.configMapCache(namespace, name)?.forget(`${namespace}/${name}`);
  }

  serviceAccountExists(namespace: string, name: string): Promise<boolean> {
    return this.serviceAccounts.exists(namespace, name);
  }

  recordEvent(about: ObjectRef, type: EventType, reason: string, message: string): Promise<void> {
    return this.events.record(about, type, reason, message);
  }

  private isCa(namespace: string, name: string): boolean {
    return namespace === this.opts.operatorNamespace && name === this.opts.caSecretName;
  }

  /**
   * Write-through: the server's answer, reduced as a watch event would be, replaces the cached
   * copy. `ownWrite`: the answer to our own apply/create, whose owner is the identity being
   * reconciled (the reconciler writes only for identities in its cache), so its data is kept.
   */
  private remember(secret: Secret, ownWrite = false): Secret {
    const { namespace = '', name } = secret.metadata;
    if (this.isCa(namespace, name)) this.watches.ca.put(secret);
    const cache = forNamespace(this.watches.secrets, namespace);
    const uidOf = ownWrite ? (_ns: string, _name: string) => secret.metadata.ownerReferences?.find((r) => r.controller)?.uid : this.watches.identityUid;
    if (secret.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY) cache?.put(cachedSecret(secret, uidOf));
    else cache?.forget(`${namespace}/${name}`);
    return secret;
  }

  /** Each handler call on its own: a throwing handler is logged and never reaches a watch. */
  private call(what: string, fn: (h: ClusterHandlers) => void): void {
    const h = this.handlers;
    if (!h) return;
    try {
      fn(h);
    } catch (err) {
      this.log.error('cluster handler threw', { handler: what, error: describeError(err) });
    }
  }
}

/** The apply body with the resourceVersion that was read: a ConfigMap changed since is refused (409). */
function withResourceVersion(cm: ConfigMap, resourceVersion: string | undefined): ConfigMap {
  return resourceVersion ? { ...cm, metadata: { ...cm.metadata, resourceVersion } } : cm;
}
