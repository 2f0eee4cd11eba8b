/**
 * Prometheus metrics (prom-client, on a Registry of our own, never the global one). The
 * controller reports through the ControllerObserver hooks; queue depth and watch restarts are
 * read at scrape time. Names follow cert-manager's where there is one:
 *
 *   mtls_identity_expiration_timestamp_seconds{namespace,name}   the certificate's notAfter
 *   mtls_identity_renewal_timestamp_seconds{namespace,name}      when it will be renewed
 *   mtls_identity_ready_status{namespace,name,condition}         1 for the current True|False
 *   mtls_issuance_total{result,reason}                           attempts by why and how
 *   mtls_reconcile_duration_seconds{outcome}                     histogram
 *   mtls_queue_depth                                             keys waiting to run
 *   mtls_informer_restarts_total{watch}                          watch restarts (KubeCluster)
 *   mtls_ca_expiration_timestamp_seconds                         the signing CA's notAfter
 *   mtls_leader                                                  1 while this process leads
 *
 * plus prom-client's default process_* and nodejs_* metrics. Hooks never throw.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ControllerObserver, IdentityState } from '../controller/observer.ts';
import { IdentityMetrics } from './identity-metrics.ts';

export interface MetricSources {
  /** Keys waiting in the work queue. */
  queueDepth?(): number;
  /** Restarts per watch so far (KubeCluster.stats().restarts). */
  watchRestarts?(): Record<string, number>;
}

const seconds = (d: Date): number => d.getTime() / 1000;

export class OperatorMetrics implements ControllerObserver {
  readonly registry: Registry;
  private sources: MetricSources = {};
  /** The per-identity families, rendered in slices at scrape time (identity-metrics.ts). */
  private readonly identities = new IdentityMetrics();
  private readonly issuances: Counter<'result' | 'reason'>;
  private readonly duration: Histogram<'outcome'>;
  private readonly caExpiration: Gauge;
  private readonly leader: Gauge;
  private readonly rotation: Gauge<'phase'>;
  private readonly bundleConflict: Gauge<'namespace'>;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registry = (this.registry = new Registry());
    const registers = [registry];
    const sources = () => this.sources;
    this.issuances = new Counter({ name: 'mtls_issuance_total', help: 'Certificate issuance attempts, by result and by why issuance was needed.', labelNames: ['result', 'reason'], registers });
    this.duration = new Histogram({ name: 'mtls_reconcile_duration_seconds', help: 'Time one reconcile of an identity took.', labelNames: ['outcome'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers });
    new Gauge({
      name: 'mtls_queue_depth', help: 'Identities waiting in the work queue.', registers,
      collect() {
        this.set(sources().queueDepth?.() ?? 0);
      },
    });
    new Counter({
      name: 'mtls_informer_restarts_total', help: 'Restarts of each watch (errors, stream ends, watchdog, 410 Gone).', labelNames: ['watch'], registers,
      collect() {
        const restarts = sources().watchRestarts?.() ?? {};
        this.reset();
        for (const [watch, n] of Object.entries(restarts)) this.inc({ watch }, n);
      },
    });
    // Registered only while a CA is usable: an unlabelled gauge cannot be absent otherwise, and
    // a 0 would read as "expired" (on a standby, which never loads the CA, too).
    this.caExpiration = new Gauge({ name: 'mtls_ca_expiration_timestamp_seconds', help: 'The date after which the signing CA certificate expires, in seconds since the epoch (absent while no CA is usable).', registers: [] });
    this.rotation = new Gauge({ name: 'mtls_root_rotation_phase', help: 'The root rotation phase: 1 for the current one (Prepared, Active, Retired, Aborted), 0 for the others; absent before the first rotation.', labelNames: ['phase'], registers });
    this.bundleConflict = new Gauge({ name: 'mtls_trust_bundle_conflict', help: 'Namespaces whose mtls-trust-bundle ConfigMap the operator did not create: 1 while it is in the way (left untouched, no bundle written there).', labelNames: ['namespace'], registers });
    this.leader = new Gauge({ name: 'mtls_leader', help: '1 while this process holds the leader Lease and runs the controller, else 0.', registers });
    this.leader.set(0);
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  }

  /** Where scrape-time values come from (the controller and cluster are built after this). */
  bind(sources: MetricSources): void {
    this.sources = sources;
  }

  setLeader(leading: boolean): void {
    this.leader.set(leading ? 1 : 0);
  }

  /** The exposition text. */
  async scrape(): Promise<string> {
    let text = '';
    for await (const chunk of this.scrapeChunks()) text += chunk;
    return text;
  }

  /**
   * The exposition text in pieces, in order, each made when the reader asks for it (the per-identity families are
   * many: see identity-metrics.ts).
   */
  async *scrapeChunks(): AsyncGenerator<string, void, undefined> {
    yield await this.registry.metrics();
    yield* this.identities.chunks();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  // ---- ControllerObserver ----

  issuance(namespace: string, name: string, reason: string, result: 'success' | 'failure'): void {
    this.issuances.inc({ result, reason });
    // The reconciler keeps Ready=True when only a renewal failed and the identity was Ready.
    if (result === 'failure' && (reason !== 'RenewalTimeReached' || !this.identities.has(namespace, name))) {
      this.identities.setReady(namespace, name, false);
    }
  }

  identityState(namespace: string, name: string, state: IdentityState): void {
    this.identities.setReady(namespace, name, state.ready);
    this.identities.setTimes(namespace, name, state.notAfter, state.renewalTime);
  }

  identityRemoved(namespace: string, name: string): void {
    this.identities.remove(namespace, name);
  }

  reconciled(secs: number, outcome: 'success' | 'error'): void {
    this.duration.observe({ outcome }, secs);
  }

  caLoaded(notAfter: Date | undefined): void {
    const name = 'mtls_ca_expiration_timestamp_seconds';
    const registered = this.registry.getSingleMetric(name) !== undefined;
    if (notAfter) {
      this.caExpiration.set(seconds(notAfter));
      if (!registered) this.registry.registerMetric(this.caExpiration);
    } else if (registered) this.registry.removeSingleMetric(name);
  }

  trustBundleConflict(namespace: string, conflict: boolean): void {
    if (conflict) this.bundleConflict.set({ namespace }, 1);
    else this.bundleConflict.remove({ namespace });
  }

  rotationPhase(phase: string | undefined): void {
    if (!phase) return;
    for (const p of ['Prepared', 'Active', 'Retired', 'Aborted']) this.rotation.set({ phase: p }, p === phase ? 1 : 0);
  }

}
