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
import { toConfigMap, toIdentity, toSecret, writableConfigMap, writableSecret } from './convert.ts';
import { describeError } from './errors.ts';
import { EventRecorder } from './events.ts';
import { callApi } from './timing.ts';
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
  /** Periodic relist; default 10 min. */
  relistIntervalMs?: number;
  /** Restart a watch with no event or bookmark for this long; default 5 min. */
  watchdogMs?: number;
  /** Restart backoff; default 1 s .. 60 s, with jitter. */
  backoff?: { initialMs: number; maxMs: number };
  /** Deadline of each read/write request; default 30 s. */
  requestTimeoutMs?: number;
}

export interface KubeClusterStats {
  /** Per watch: restarts (errors, ends, watchdog, 410, failed lists). */
  restarts: Record<string, number>;
  /** Per watch: relists after the first list (410 and periodic). */
  relists: Record<string, number>;
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

  constructor(opts: KubeClusterOptions) {
    this.opts = opts;
    this.log = opts.logger;
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.apps = opts.kubeConfig.makeApiClient(AppsV1Api);
    this.custom = opts.kubeConfig.makeApiClient(CustomObjectsApi);
    this.timeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.events = new EventRecorder({ core: this.core, timeoutMs: this.timeoutMs });
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
      relistIntervalMs: opts.relistIntervalMs ?? 10 * 60_000,
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
    await Promise.all(this.watches.all.map((r) => r.start()));
    this.log.info('cluster caches synced', { watches: this.watches.all.map((r) => r.name) });
  }

  /** Aborts every watch and clears every timer. */
  async stop(): Promise<void> {
    await Promise.all(this.watches.all.map((r) => r.stop()));
  }

  stats(): KubeClusterStats {
    const stats: KubeClusterStats = { restarts: {}, relists: {}, lastEventAt: {}, synced: true };
    for (const r of this.watches.all) {
      stats.restarts[r.name] = r.restarts;
      stats.relists[r.name] = r.relists;
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
    if (cached) return cached;
    try {
      return toSecret(await callApi(`GET secrets/${key}`, this.timeoutMs, () =>
        this.core.readNamespacedSecret({ namespace, name })));
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) return undefined;
      throw err;
    }
  }

  async applySecret(secret: Secret, options: { force?: boolean; fieldManager?: string } = {}): Promise<Secret> {
    const { name, namespace = '' } = secret.metadata;
    const fieldManager = options.fieldManager ?? FIELD_MANAGER;
    const applied = await callApi(`PATCH secrets/${namespace}/${name}`, this.timeoutMs, () =>
      this.core.patchNamespacedSecret(
        { name, namespace, body: writableSecret(secret), fieldManager, force: options.force ?? true },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      ));
    return this.remember(toSecret(applied));
  }

  async deleteOwnedSecret(namespace: string, name: string, precondition: { uid: string; resourceVersion: string }): Promise<void> {
    try {
      await callApi(`DELETE secrets/${namespace}/${name}`, this.timeoutMs, () =>
        this.core.deleteNamespacedSecret({ name, namespace, body: { preconditions: precondition } }));
    } catch (err) {
      if (!ClusterError.isNotFound(err)) throw err;
    }
    forNamespace(this.watches.secrets, namespace)?.forget(`${namespace}/${name}`);
  }

  async createSecret(secret: Secret): Promise<Secret> {
    const { name, namespace = '' } = secret.metadata;
    const created = await callApi(`POST secrets/${namespace}/${name}`, this.timeoutMs, () =>
      this.core.createNamespacedSecret({
        namespace,
        // Plain JSON without timestamps: client-node's V1Secret serializer passes it through.
        body: writableSecret(secret) as V1Secret,
        fieldManager: FIELD_MANAGER,
      }));
    return this.remember(toSecret(created));
  }

  async patchIdentityStatus(namespace: string, name: string, status: MutualTLSIdentityStatus): Promise<void> {
    const updated: unknown = await callApi(`PATCH ${PLURAL}/${namespace}/${name}/status`, this.timeoutMs, () =>
      this.custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { status }, fieldManager: FIELD_MANAGER },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ));
    if (updated !== null && typeof updated === 'object' && 'metadata' in updated) {
      forNamespace(this.watches.identities, namespace)?.put(toIdentity(updated));
    }
  }

  listSecrets(): Secret[] {
    return [...this.watches.secrets.values()].flatMap((r) => r.values());
  }

  async patchSecretAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<void> {
    const patched = await callApi(`PATCH secrets/${namespace}/${name}`, this.timeoutMs, () =>
      this.core.patchNamespacedSecret(
        { name, namespace, body: { metadata: { annotations } }, fieldManager: FIELD_MANAGER },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ));
    this.remember(toSecret(patched));
  }

  async patchWorkloadTemplate(namespace: string, workload: WorkloadRef, annotations: Record<string, string>): Promise<void> {
    const { kind, name } = workload;
    const body = { spec: { template: { metadata: { annotations } } } };
    const req = { name, namespace, body, fieldManager: FIELD_MANAGER };
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    await callApi<unknown>(`PATCH ${kind.toLowerCase()}s/${namespace}/${name}`, this.timeoutMs, () =>
      kind === 'Deployment'
        ? this.apps.patchNamespacedDeployment(req, merge)
        : kind === 'StatefulSet'
          ? this.apps.patchNamespacedStatefulSet(req, merge)
          : this.apps.patchNamespacedDaemonSet(req, merge));
  }

  getConfigMap(namespace: string, name: string): ConfigMap | undefined {
    return forNamespace(this.watches.configMaps, namespace)?.get(`${namespace}/${name}`);
  }

  listConfigMaps(): ConfigMap[] {
    return [...this.watches.configMaps.values()].flatMap((r) => r.values());
  }

  async applyConfigMap(configMap: ConfigMap): Promise<ConfigMap> {
    const { name, namespace = '' } = configMap.metadata;
    const applied = await callApi(`PATCH configmaps/${namespace}/${name}`, this.timeoutMs, () =>
      this.core.patchNamespacedConfigMap(
        { name, namespace, body: withResourceVersion(writableConfigMap(configMap), configMap.metadata.resourceVersion), fieldManager: FIELD_MANAGER, force: true },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      ));
    const result = toConfigMap(applied);
    const cache = forNamespace(this.watches.configMaps, namespace);
    if (result.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY) cache?.put(result);
    else cache?.forget(`${namespace}/${name}`);
    return result;
  }

  async createConfigMap(configMap: ConfigMap): Promise<ConfigMap> {
    const { namespace = '' } = configMap.metadata;
    const created = await callApi(`POST configmaps/${namespace}/${configMap.metadata.name}`, this.timeoutMs, () =>
      this.core.createNamespacedConfigMap({ namespace, body: writableConfigMap(configMap) as V1ConfigMap, fieldManager: FIELD_MANAGER }));
    const result = toConfigMap(created);
    if (result.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY) forNamespace(this.watches.configMaps, namespace)?.put(result);
    return result;
  }

  async deleteConfigMap(namespace: string, name: string, precondition?: { uid: string; resourceVersion: string }): Promise<void> {
    try {
      await callApi(`DELETE configmaps/${namespace}/${name}`, this.timeoutMs, () =>
        this.core.deleteNamespacedConfigMap({ name, namespace, ...(precondition ? { body: { preconditions: precondition } } : {}) }));
    } catch (err) {
      if (!ClusterError.isNotFound(err)) throw err;
    }
    forNamespace(this.watches.configMaps, namespace)?.forget(`${namespace}/${name}`);
  }

  recordEvent(about: ObjectRef, type: EventType, reason: string, message: string): Promise<void> {
    return this.events.record(about, type, reason, message);
  }

  private isCa(namespace: string, name: string): boolean {
    return namespace === this.opts.operatorNamespace && name === this.opts.caSecretName;
  }

  /** Write-through: the server's answer replaces the cached copy. */
  private remember(secret: Secret): Secret {
    const { namespace = '', name } = secret.metadata;
    if (this.isCa(namespace, name)) this.watches.ca.put(secret);
    const cache = forNamespace(this.watches.secrets, namespace);
    if (secret.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY) cache?.put(secret);
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
