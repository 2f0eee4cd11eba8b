/**
 * The loop: watches only enqueue `namespace/name` (watch-router.ts); workers take keys from a
 * de-duplicating queue and reconcile them; a failure retries with backoff, a success schedules the
 * renewal check.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Clock } from '../clock.ts';
import { ClusterError, type Cluster, type ClusterHandlers, type PodCertificateCluster } from '../cluster/port.ts';
import type { Logger } from '../log.ts';
import { BUNDLE_KEY_PREFIX, BundleReconciler } from './bundles.ts';
import { ClusterTrustBundleReconciler, CTB_KEY } from './cluster-trust-bundle.ts';
import { PCR_KEY_MARK, pcrKey, PodCertificateSigner } from './podcert.ts';
import { CASource } from './ca-source.ts';
import { RateLimiter } from './limiter.ts';
import { ROTATION_KEY, RotationReconciler, type RotationConfig } from './rotation.ts';
import { noObserver, type ControllerObserver } from './observer.ts';
import { WorkQueue, type Timers } from './queue.ts';
import { Reconciler, type ReconcilerConfig } from './reconciler.ts';
import { Arrivals } from './arrival-cas.ts';
import { WatchRouter } from './watch-router.ts';

export interface ControllerConfig extends ReconcilerConfig, Partial<RotationConfig> {
  bootstrapCA: boolean;
  /** Re-issues a second when a CA change touches every Secret (token bucket, with jitter). */
  reissuePerSecond?: number;
  /** Reconciles running at once. */
  workers: number;
  /** Retry backoff after a failed reconcile. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** Wall-clock re-check of deadlines. */
  tickMs?: number;
  /**
   * The pod-certificate signer (with `pods` in the deps) runs when the cluster serves the API and
   * the operator may use it (one log line when not); with this set, start() fails instead.
   */
  requirePodCertificates?: boolean;
}

/** After the grace, cancelled reconciles unwind within this. */
const UNWIND_MS = 1_000;

/** True when `p` settles within `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([
    p.then(() => true, () => true),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]);
  clearTimeout(timer);
  return done;
}

export interface ControllerDeps {
  cluster: Cluster;
  clock: Clock;
  logger: Logger;
  config: ControllerConfig;
  timers?: Timers;
  observer?: ControllerObserver;
  /** The pod-certificate API (absent: the signer is off, --pod-certificates=false). */
  pods?: PodCertificateCluster;
}

export class Controller {
  readonly queue: WorkQueue;
  readonly ca: CASource;
  readonly reconciler: Reconciler;
  /** What each issued Secret is inspected for as it arrives in the cache. */
  private readonly arrivals: Arrivals;
  readonly bundles: BundleReconciler;
  readonly rotation: RotationReconciler;
  /** Set once start() found the pod-certificate API usable. */
  signer?: PodCertificateSigner;
  clusterTrustBundle?: ClusterTrustBundleReconciler;
  private readonly pods: PodCertificateCluster | undefined;
  private readonly limiter: RateLimiter;
  private readonly clock: Clock;
  private readonly cluster: Cluster;
  private readonly logger: Logger;
  private readonly config: ControllerConfig;
  private readonly observer: ControllerObserver;
  private readonly router: WatchRouter;
  /** Watch handlers (the WatchRouter's): each only enqueues keys, and never throws into a watch. */
  readonly handlers: ClusterHandlers;
  private workers: Promise<void>[] = [];
  private running = false;
  /** start() was called; stopRequested: stop() came before the first sync finished. */
  private starting = false;
  /** Every cache has synced once (cluster.start resolved): the CA is read from then on, never from half-listed caches. */
  private synced = false;
  private stopRequested = false;

  constructor(deps: ControllerDeps) {
    this.cluster = deps.cluster;
    this.pods = deps.pods;
    this.clock = deps.clock;
    this.logger = deps.logger;
    this.config = deps.config;
    this.observer = deps.observer ?? noObserver;
    this.queue = new WorkQueue({
      clock: deps.clock,
      ...(deps.timers ? { timers: deps.timers } : {}),
      ...(deps.config.baseBackoffMs !== undefined ? { baseBackoffMs: deps.config.baseBackoffMs } : {}),
      ...(deps.config.maxBackoffMs !== undefined ? { maxBackoffMs: deps.config.maxBackoffMs } : {}),
      ...(deps.config.tickMs !== undefined ? { tickMs: deps.config.tickMs } : {}),
    });
    this.ca = new CASource(deps.cluster, deps.clock, deps.logger, {
      namespace: deps.config.operatorNamespace,
      name: deps.config.caSecretName,
      bootstrap: deps.config.bootstrapCA,
    }, this.observer);
    this.arrivals = new Arrivals({ cluster: deps.cluster, ca: this.ca, trustDomain: deps.config.trustDomain });
    this.router = new WatchRouter({
      queue: this.queue, cluster: deps.cluster, ca: this.ca, config: deps.config, logger: deps.logger,
      enqueueAll: () => this.enqueueAll(),
      factsOnArrival: (secret) => this.arrivals.inspect(secret),
      prepareArrivals: () => this.arrivals.prepare(),
      synced: () => this.synced,
    });
    this.handlers = this.router.handlers;
    const limiter = (this.limiter = new RateLimiter({ perSecond: deps.config.reissuePerSecond ?? 20, clock: deps.clock }));
    this.reconciler = new Reconciler({ cluster: deps.cluster, clock: deps.clock, logger: deps.logger, ca: this.ca, config: deps.config, observer: this.observer, limiter });
    this.bundles = new BundleReconciler({ cluster: deps.cluster, ca: this.ca, logger: deps.logger, observer: this.observer });
    this.rotation = new RotationReconciler({
      cluster: deps.cluster, clock: deps.clock, logger: deps.logger, ca: this.ca, observer: this.observer,
      bundleConflicts: () => this.bundles.conflicted(),
      podCertificateLifetimeMs: () => (this.signer ? this.signer.longestLifetimeMs() : undefined),
      config: {
        propagationDelayMs: deps.config.propagationDelayMs ?? 300_000,
        skewMs: deps.config.skewMs ?? 300_000,
        checkIntervalMs: deps.config.checkIntervalMs ?? 10_000,
      },
    });
  }

  /** Start watches, load the CA, queue every identity, start the workers. */
  async start(): Promise<void> {
    this.starting = true;
    await this.cluster.start(this.handlers);
    this.synced = true;
    await this.ca.refresh();
    this.arrivals.caLoaded();
    await this.startSigner();
    // The CA's first parse (a cold JIT) and queueing 10,000 keys were one 135 ms task on a restart: two now.
    await yieldToEventLoop();
    if (this.stopRequested) return; // stopped before the first sync: start nothing
    this.running = true;
    this.enqueueAll();
    for (let i = 0; i < this.config.workers; i++) this.workers.push(this.work());
    this.logger.info('controller started', { workers: this.config.workers, identities: this.cluster.listIdentities().length });
  }

  /** The pod-certificate signer and its ClusterTrustBundle, when the cluster has the API and lets us use it. */
  private async startSigner(): Promise<void> {
    if (!this.pods) return;
    const why = await this.pods.unavailable();
    if (why) {
      if (this.config.requirePodCertificates) throw new Error(`--pod-certificates=true: ${why}`);
      this.logger.info('pod certificate signer off', { reason: 'PodCertificatesUnavailable', detail: why });
      return;
    }
    await this.pods.start({
      requestChanged: (namespace, name) => this.router.guard(() => this.queue.add(pcrKey(namespace, name))),
      resynced: () => this.router.guard(() => this.enqueueAll()),
    });
    this.signer = new PodCertificateSigner({
      pods: this.pods, cluster: this.cluster, clock: this.clock, logger: this.logger, ca: this.ca, limiter: this.limiter,
      config: { trustDomain: this.config.trustDomain, ...(this.config.checkPolicy ? { checkPolicy: this.config.checkPolicy } : {}) },
    });
    this.clusterTrustBundle = new ClusterTrustBundleReconciler({ pods: this.pods, ca: this.ca, logger: this.logger, trustDomain: this.config.trustDomain });
    this.logger.info('pod certificate signer on', {
      signerName: 'mtls.dev/identity', pending: this.signer.pending().length,
      ...(this.pods.requestVersion ? { apiVersion: `certificates.k8s.io/${this.pods.requestVersion()}` } : {}),
    });
  }

  /**
   * Stop taking work and let in-flight reconciles finish within graceMs; then stop the cluster,
   * which cancels every request still in flight and refuses new ones (KubeCluster), and give the
   * workers a moment to unwind from the cancelled calls.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) {
      // Still syncing: nothing is in flight, so stop the watches now (no grace to wait out,
      // no more "list failed" lines from an unreachable server).
      if (this.starting && !this.stopRequested) {
        this.stopRequested = true;
        await this.cluster.stop();
        await this.pods?.stop();
      }
      return;
    }
    this.running = false;
    this.queue.shutdown();
    const workers = Promise.all(this.workers);
    let finished = await settlesWithin(workers, graceMs);
    await this.cluster.stop();
    await this.pods?.stop();
    if (!finished) finished = await settlesWithin(workers, UNWIND_MS);
    if (!finished) this.logger.warn('reconciles still running after stop', { inFlight: this.queue.inFlight });
    this.workers = [];
  }

  /** Every identity, every namespace's trust bundle, and the rotation. */
  enqueueAll(): void {
    for (const id of this.cluster.listIdentities()) {
      this.queue.add(`${id.metadata.namespace}/${id.metadata.name}`);
    }
    for (const ns of this.bundles.namespaces()) this.queue.add(BUNDLE_KEY_PREFIX + ns);
    this.queue.add(ROTATION_KEY);
    if (this.signer) {
      for (const key of this.signer.pending()) this.queue.add(key);
      this.queue.add(CTB_KEY);
    }
  }

  /** One key: the rotation, a namespace's trust bundle, or an identity. */
  private async dispatch(key: string): Promise<{ requeueAfterMs?: number; holdMs?: number }> {
    if (key === ROTATION_KEY) {
      if (await this.ca.refresh()) this.enqueueAll();
      return this.rotation.reconcile();
    }
    if (key.startsWith(BUNDLE_KEY_PREFIX)) {
      return this.bundles.reconcile(key.slice(BUNDLE_KEY_PREFIX.length));
    }
    if (key === CTB_KEY && this.clusterTrustBundle) return this.clusterTrustBundle.reconcile();
    if (key.includes(PCR_KEY_MARK) && this.signer) return this.signer.reconcile(key);
    return this.reconciler.reconcile(key);
  }

  /** Resolves when nothing is queued or running (tests, benchmarks). */
  async idle(pollMs = 5): Promise<void> {
    while (this.queue.length > 0 || this.queue.inFlight > 0) {
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const started = performance.now();
      try {
        const result = await this.dispatch(key);
        this.observer.reconciled?.((performance.now() - started) / 1000, 'success');
        this.queue.forget(key);
        if (result.holdMs !== undefined) this.queue.hold(key, result.holdMs);
        else if (result.requeueAfterMs !== undefined) this.queue.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        this.observer.reconciled?.((performance.now() - started) / 1000, 'error');
        const [namespace, name] = key.split('/');
        if (ClusterError.isNamespaceTerminating(err)) {
          // Its namespace is being deleted (and the identity with it): a retry could only be refused again.
          this.queue.forget(key);
          this.logger.info('namespace is being deleted: not retried', { namespace, name, reason: 'NamespaceTerminating' });
        } else {
          const delay = this.queue.addRateLimited(key);
          this.logger.warn('reconcile failed, will retry', { namespace, name, retryInMs: delay, detail: (err as Error).message });
        }
      } finally {
        this.queue.done(key);
      }
      // A reconcile that needs no I/O (a valid Secret, read from the cache) completes in
      // microtasks; without this, a worker would drain the whole queue in one turn of the event
      // loop and starve timers, watches, the Lease and the health endpoints.
      await yieldToEventLoop();
    }
  }
}
