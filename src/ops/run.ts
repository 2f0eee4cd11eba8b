/**
 * The operator's lifecycle around the controller:
 *
 *   start: ops server up (metrics, /healthz, /readyz); with --leader-elect, stand by as a
 *     candidate (ready) and start the controller on winning the Lease; without it, start at once.
 *   SIGTERM/SIGINT: not ready; stop taking work and let in-flight reconciles finish within
 *     --shutdown-grace; release the Lease (a standby takes over on its next retry); close the
 *     server; exit 0. A second signal exits 1 at once.
 *   leadership lost (renewal failed for renewDeadline, or another holder seen): every API request
 *     in flight is cancelled (the elector's signal) and the work queue is shut AT ONCE
 *     (synchronously, in the elector's callback); the workers get lossGraceMs to unwind; then exit
 *     1 and Kubernetes restarts the container as a fresh candidate. Exiting rather than re-entering
 *     candidacy leaves no half-stopped watches or workers behind.
 *   fence: with --leader-elect every write the adapter makes first asks the elector (canWrite):
 *     a process whose last renewal is older than the renew deadline sends nothing, whatever its
 *     timers have or have not noticed yet.
 */
import { loadKubeConfig } from '../adapter/kubeconfig.ts';
import { KubeCluster } from '../adapter/kube.ts';
import { KubePodCertificates } from '../adapter/podcert.ts';
import { shareDispatcher } from '../adapter/dispatcher.ts';
import { KubeLeaseClient } from '../adapter/lease.ts';
import { notLeader, type WriteFence } from '../adapter/timing.ts';
import { systemClock } from '../clock.ts';
import type { OperatorConfig } from '../config.ts';
import { Controller, type ControllerConfig } from '../controller/controller.ts';
import { createLogger, type Logger } from '../log.ts';
import { Health } from './health.ts';
import { LeaderElector, candidateIdentity } from './leader.ts';
import { OperatorMetrics } from './metrics.ts';
import { startOpsServer, type OpsServer, type OpsServerOptions } from './server.ts';
import { MetricsAuth } from './metrics-auth.ts';
import { KubeReviewer } from '../adapter/reviews.ts';
import { selfSignedServingCert } from '../pki/serving.ts';
import { hostname } from 'node:os';
type KubeConfig = ReturnType<typeof loadKubeConfig>;

export interface ControllerLike {
  start(): Promise<void>;
  stop(graceMs?: number): Promise<void>;
}

export interface ElectorLike {
  start(): void;
  release(): Promise<void>;
}

export interface LeaderCallbacks {
  onStartedLeading(): void;
  onStoppedLeading(reason: string): void;
}

export interface RunParts {
  controller: ControllerLike;
  /** Leader election; absent: this is the only replica and runs at once. */
  makeElector?(callbacks: LeaderCallbacks): ElectorLike;
  server: OpsServer;
  health: Health;
  metrics: { setLeader(leading: boolean): void };
  logger: Logger;
  shutdownGraceMs: number;
  /** After leadership is lost (requests already cancelled, writes fenced): time for the workers to unwind. */
  lossGraceMs: number;
  /** Bound on releasing the Lease at shutdown. */
  releaseTimeoutMs?: number;
  /** Where SIGTERM and SIGINT arrive (process). */
  signals: { on(signal: 'SIGTERM' | 'SIGINT', fn: () => void): unknown };
}

/** Resolves with the exit code once the operator has stopped. */
export function runOperator(p: RunParts): Promise<number> {
  const { controller, health, metrics, logger } = p;
  let finish!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (finish = resolve));
  let stopping = false;
  let starting: Promise<void> | undefined;
  let started = false;

  const startController = (): void => {
    health.phase = 'syncing';
    metrics.setLeader(true);
    starting = controller.start().then(
      () => {
        started = true;
        if (!stopping) health.phase = 'running';
      },
      (err: Error) => {
        if (stopping) return; // the sync was cut short by our own stop
        logger.error('controller failed to start', { detail: err.message });
        void shutdown(1, 'controller failed to start', 0);
      },
    );
  };

  /** Called synchronously: a running controller's queue is shut before this returns. */
  const stopController = (graceMs: number): Promise<void> => {
    if (!starting) return Promise.resolve();
    if (started) return controller.stop(graceMs);
    // Before the first sync nothing is in flight: stop the watches at once instead of waiting
    // out the grace while an unreachable API server keeps failing lists.
    return controller.stop(0);
  };

  let elector: ElectorLike | undefined;
  const shutdown = async (code: number, why: string, graceMs: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    health.phase = 'stopping';
    const stopped = stopController(graceMs);
    logger.info('shutting down', { why, graceMs });
    await stopped.catch((err: Error) => logger.warn('controller stop failed', { detail: err.message }));
    metrics.setLeader(false);
    if (elector) await bounded(elector.release(), p.releaseTimeoutMs ?? 5_000);
    await bounded(p.server.close(), 2_000);
    health.stop();
    logger.info('stopped', { exitCode: code });
    finish(code);
  };

  const onSignal = (signal: string) => {
    if (stopping) {
      logger.warn('second signal: exiting now', { signal });
      finish(1);
      return;
    }
    void shutdown(0, signal, p.shutdownGraceMs);
  };
  p.signals.on('SIGTERM', () => onSignal('SIGTERM'));
  p.signals.on('SIGINT', () => onSignal('SIGINT'));

  if (p.makeElector) {
    health.phase = 'standby';
    metrics.setLeader(false);
    elector = p.makeElector({
      onStartedLeading: () => {
        if (!stopping) startController();
      },
      onStoppedLeading: (reason) => void shutdown(1, `leadership lost: ${reason}`, Math.min(p.lossGraceMs, p.shutdownGraceMs)),
    });
    elector.start();
  } else {
    startController();
  }
  return exited;
}

/** Wait for a promise at most `ms`; never rejects. */
function bounded(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.then(() => undefined, () => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The real parts: client-node cluster and Lease client, metrics, health, the ops server. */
export async function buildOperator(config: OperatorConfig, controllerConfig: ControllerConfig, env: NodeJS.ProcessEnv): Promise<Omit<RunParts, 'signals'>> {
  const logger = createLogger(config.logLevel);
  const kubeConfig = loadKubeConfig({ env });
  if (!kubeConfig.getCurrentCluster()) {
    // A kubeconfig file without a cluster for its context: client-node would fail later with "No active cluster!".
    const source = env.KUBECONFIG ? `KUBECONFIG=${env.KUBECONFIG}` : '~/.kube/config';
    throw new Error(`the kubeconfig (${source}) has no cluster for its current context "${kubeConfig.getCurrentContext() || '(none)'}": point KUBECONFIG at a kubeconfig with a cluster (kubectl config get-contexts lists them), or try it on a local control plane with: npm run local`);
  }
  // The elector is made when runOperator enters candidacy; the cluster's fence and signal defer to it.
  let elector: LeaderElector | undefined;
  const leadershipEnded = new AbortController();
  const fence: WriteFence = {
    assertWritable(op) {
      if (!elector?.canWrite()) throw notLeader(op, elector ? elector.whyNot() : 'leader election has not started');
    },
  };
  // The fence is asked by callApi, again just before the request leaves client-node, and last by
  // the dispatcher just before undici writes it to the socket.
  // The Lease's own writes are asked there too: a renewal that waited past the deadline is not sent.
  const shared = shareDispatcher(kubeConfig, config.leaderElect ? {
    beforeWrite: (op) => fence.assertWritable(op),
    beforeLeaseWrite: (op) => {
      if (elector && !elector.mayWriteLease()) throw notLeader(op, 'the renew deadline passed while the Lease write waited');
    },
  } : {});
  if (!shared) logger.warn('client-node has no createDispatcher hook: one connection per request');
  const cluster = new KubeCluster({
    ...(config.leaderElect ? { fence, signal: leadershipEnded.signal } : {}),
    kubeConfig,
    ...(config.watchNamespaces.length ? { namespaces: config.watchNamespaces } : {}),
    operatorNamespace: config.operatorNamespace,
    caSecretName: config.caSecretName,
    logger,
    events: { burst: config.eventBurst, perSecond: config.eventsPerSecond },
  });
  const metrics = new OperatorMetrics();
  const pods = config.podCertificates === 'false' ? undefined : new KubePodCertificates({
    kubeConfig, logger, ...(config.watchNamespaces.length ? { namespaces: config.watchNamespaces } : {}), ...(config.leaderElect ? { fence, signal: leadershipEnded.signal } : {}),
  });
  const controller = new Controller({
    cluster, clock: systemClock, logger, observer: metrics, ...(pods ? { pods } : {}),
    config: { ...controllerConfig, requirePodCertificates: config.podCertificates === 'true' },
  });
  metrics.bind({ queueDepth: () => controller.queue.length, watchRestarts: () => cluster.stats().restarts });
  const health = new Health({ clock: systemClock, watchStats: () => cluster.stats() });
  health.start();
  const server = await startServers(config, { metrics, health, logger }, kubeConfig);
  logger.info('starting', { context: kubeConfig.getCurrentContext(), operatorNamespace: config.operatorNamespace, caSecret: config.caSecretName, trustDomain: config.trustDomain, leaderElect: config.leaderElect });
  const makeElector = (callbacks: LeaderCallbacks) => {
    const made = new LeaderElector({
      // The elector bounds each try more tightly (tryTimeoutMs and the deadline left); this is a backstop.
      client: new KubeLeaseClient(kubeConfig, config.renewDeadlineMs),
      namespace: config.operatorNamespace,
      identity: candidateIdentity(env),
      leaseDurationMs: config.leaseDurationMs,
      renewDeadlineMs: config.renewDeadlineMs,
      retryPeriodMs: config.retryPeriodMs,
      clock: systemClock,
      logger,
      ...callbacks,
    });
    made.signal.addEventListener('abort', () => leadershipEnded.abort(made.signal.reason), { once: true });
    elector = made;
    return made;
  };
  return {
    controller, server, health, metrics, logger,
    ...(config.leaderElect ? { makeElector } : {}),
    shutdownGraceMs: config.shutdownGraceMs,
    lossGraceMs: 1_000,
  };
}

/**
 * --metrics-auth=none: one plain HTTP port for /metrics, /healthz, /readyz. kubernetes (default): /metrics over HTTPS
 * with a self-signed certificate made now, each request reviewed (TokenReview + SubjectAccessReview, cached 10 s);
 * /healthz and /readyz on --health-port, plain HTTP for the kubelet.
 */
async function startServers(config: OperatorConfig, parts: Pick<OpsServerOptions, 'metrics' | 'health' | 'logger'>, kubeConfig: KubeConfig): Promise<OpsServer> {
  if (config.metricsAuth === 'none') return listen('metrics', config.metricsAddress, config.metricsPort, { ...parts, serve: 'all' });
  const auth = new MetricsAuth({ reviewer: new KubeReviewer(kubeConfig), now: () => Date.now() });
  const host = hostname();
  const tls = await selfSignedServingCert({ dnsNames: [...new Set([host, 'mtls-operator-metrics', `mtls-operator-metrics.${config.operatorNamespace}.svc`, 'localhost'])], now: new Date() });
  const metricsServer = await listen('metrics', config.metricsAddress, config.metricsPort, { ...parts, serve: 'metrics', tls, authorize: (h) => auth.check(h) });
  let healthServer: OpsServer;
  try {
    healthServer = await listen('health', config.healthAddress, config.healthPort, { ...parts, serve: 'health' });
  } catch (err) {
    await metricsServer.close();
    throw err;
  }
  return {
    port: metricsServer.port,
    healthPort: healthServer.port,
    close: async () => {
      await Promise.all([metricsServer.close(), healthServer.close()]);
    },
  };
}

async function listen(which: 'metrics' | 'health', address: string, port: number, opts: Omit<OpsServerOptions, 'host' | 'port'>): Promise<OpsServer> {
  try {
    return await startOpsServer({ ...opts, host: address, port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      const why = code === 'EADDRINUSE' ? 'is already in use (another operator running?)' : code === 'EACCES' ? 'is not allowed for this user' : 'is not an address of this machine';
      const env = which === 'metrics' ? 'MTLS_METRICS_PORT' : 'MTLS_HEALTH_PORT';
      throw new Error(`--${which}-port (${env}): ${address}:${port} ${why}: choose another with --${which}-port=PORT (0: any free port)${code === 'EADDRNOTAVAIL' ? ` or --${which}-address` : ''}`);
    }
    throw err;
  }
}
