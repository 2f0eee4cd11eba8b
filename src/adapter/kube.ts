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
 * Secrets: kube-secrets.ts; ConfigMaps: kube-configmaps.ts; status and workload patches:
 * kube-patches.ts; what each request is made with: kube-api.ts. This file wires them and the
 * watches (watches.ts) into the port.
 */
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import {
  KIND,
  type ConfigMap,
  type EventType,
  type MutualTLSIdentity,
  type MutualTLSIdentityStatus,
  type ObjectRef,
  type Secret,
  type WorkloadRef,
} from '../api/types.ts';
import type { Cluster, ClusterHandlers } from '../cluster/port.ts';
import { DEFAULT_BACKOFF } from './backoff.ts';
import { describeError } from './errors.ts';
import { ServiceAccountCache } from './service-accounts.ts';
import { EventRecorder } from './events.ts';
import { kubeApi, type KubeApi } from './kube-api.ts';
import { KubeConfigMaps } from './kube-configmaps.ts';
import { patchIdentityStatus, patchWorkloadTemplate } from './kube-patches.ts';
import { KubeSecrets, withoutKeyPair } from './kube-secrets.ts';
import { callApi, type WriteFence } from './timing.ts';
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
  private readonly log: AdapterLogger;
  private readonly api: KubeApi;
  private readonly events: EventRecorder;
  private readonly watches: WatchSet;
  private readonly secrets: KubeSecrets;
  private readonly configMaps: KubeConfigMaps;
  private handlers?: ClusterHandlers;
  private started = false;
  private readonly stopping = new AbortController();
  private readonly serviceAccounts: ServiceAccountCache;

  constructor(opts: KubeClusterOptions) {
    this.log = opts.logger;
    const signal = opts.signal ? AbortSignal.any([opts.signal, this.stopping.signal]) : this.stopping.signal;
    const api = kubeApi(opts.kubeConfig, opts.requestTimeoutMs ?? 30_000, signal, opts.fence);
    this.api = api;
    this.events = new EventRecorder({ core: api.core, timeoutMs: api.timeoutMs, call: api.write, ...(opts.events ? { storm: opts.events } : {}), onError: (err) => this.log.warn('folded Events not recorded', { reason: 'EventStorm', detail: err.message }) });
    this.serviceAccounts = new ServiceAccountCache({
      now: () => Date.now(),
      get: (namespace, name) => callApi(`GET serviceaccounts/${namespace}/${name}`, api.timeoutMs, (o) =>
        api.core.readNamespacedServiceAccount({ namespace, name }, o), api.read),
    });
    const watchdogMs = opts.watchdogMs ?? 5 * 60_000;
    const watch = new Watch(opts.kubeConfig);
    // Watch aborts a connection after requestTimeoutMs (private, 30 s) without data: shorter than
    // the apiserver's ~1 min bookmark period, so quiet watches would churn. Our watchdog decides;
    // client-node's timer stays as a backstop for a connect that never answers.
    (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = watchdogMs * 2;
    this.watches = buildWatches({
      core: api.core,
      custom: api.custom,
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
      keepSecret: (s) => this.keepSecret(s),
    });
    this.secrets = new KubeSecrets({ api, watches: this.watches, operatorNamespace: opts.operatorNamespace, caSecretName: opts.caSecretName });
    this.configMaps = new KubeConfigMaps({ api, watches: this.watches, operatorNamespace: opts.operatorNamespace });
  }

  async start(handlers: ClusterHandlers): Promise<void> {
    if (this.started) throw new Error('KubeCluster already started');
    this.started = true;
    this.handlers = handlers;
    // Identities first: the Secret cache keeps data only for Secrets a cached identity owns.
    const identities = [...this.watches.identities.values()];
    await Promise.all(identities.map((r) => r.start()));
    // Then the CA Secret and the rotation state, so that the issued Secrets are checked against the CA as they arrive.
    const trust = [this.watches.ca, this.watches.rotation];
    await Promise.all(trust.map((r) => r.start()));
    await this.handlers.trustSynced?.().catch(() => undefined);
    if (this.stopping.signal.aborted) return; // stop() came meanwhile: a stopped reflector never syncs
    await Promise.all(this.watches.all.filter((r) => !identities.includes(r as never) && !trust.includes(r as never)).map((r) => r.start()));
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

  getSecret(namespace: string, name: string): Promise<Secret | undefined> {
    return this.secrets.getSecret(namespace, name);
  }

  releaseKeyPair(namespace: string, name: string, resourceVersion: string): void {
    this.secrets.releaseKeyPair(namespace, name, resourceVersion);
  }

  wholeSecret(secret: Secret): Promise<Secret | undefined> {
    return this.secrets.wholeSecret(secret);
  }

  applySecret(secret: Secret, options: { force?: boolean; fieldManager?: string } = {}): Promise<Secret> {
    return this.secrets.applySecret(secret, options);
  }

  deleteOwnedSecret(namespace: string, name: string, precondition: { uid: string; resourceVersion: string }): Promise<void> {
    return this.secrets.deleteOwnedSecret(namespace, name, precondition);
  }

  createSecret(secret: Secret): Promise<Secret> {
    return this.secrets.createSecret(secret);
  }

  patchIdentityStatus(namespace: string, name: string, status: MutualTLSIdentityStatus): Promise<void> {
    return patchIdentityStatus(this.api, this.watches, namespace, name, status);
  }

  /** Only Secrets a live identity owns: a tenant's labelled Secret counts for nothing (rotation progress). */
  listSecrets(): Secret[] {
    return this.secrets.listSecrets();
  }

  patchSecretAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<void> {
    return this.secrets.patchSecretAnnotations(namespace, name, annotations);
  }

  patchWorkloadTemplate(namespace: string, workload: WorkloadRef, annotations: Record<string, string>): Promise<void> {
    return patchWorkloadTemplate(this.api, namespace, workload, annotations);
  }

  getConfigMap(namespace: string, name: string): ConfigMap | undefined {
    return this.configMaps.getConfigMap(namespace, name);
  }

  listConfigMaps(): ConfigMap[] {
    return this.configMaps.listConfigMaps();
  }

  applyConfigMap(configMap: ConfigMap): Promise<ConfigMap> {
    return this.configMaps.applyConfigMap(configMap);
  }

  writeConfigMap(configMap: ConfigMap): Promise<ConfigMap> {
    return this.configMaps.writeConfigMap(configMap);
  }

  createConfigMap(configMap: ConfigMap): Promise<ConfigMap> {
    return this.configMaps.createConfigMap(configMap);
  }

  deleteConfigMap(namespace: string, name: string, precondition?: { uid: string; resourceVersion: string }): Promise<void> {
    return this.configMaps.deleteConfigMap(namespace, name, precondition);
  }

  serviceAccountExists(namespace: string, name: string): Promise<boolean> {
    return this.serviceAccounts.exists(namespace, name);
  }

  recordEvent(about: ObjectRef, type: EventType, reason: string, message: string): Promise<void> {
    return this.events.record(about, type, reason, message);
  }

  /** ClusterHandlers.issuedSecretArrived: the Secret without its key pair when the controller has its facts. */
  private keepSecret(secret: Secret): Secret {
    let known = false;
    this.call('issuedSecretArrived', (h) => { known = h.issuedSecretArrived?.(secret) === true; });
    return known ? withoutKeyPair(secret) : secret;
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
