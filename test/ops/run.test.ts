import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Controller } from '../../src/controller/controller.ts';
import { MemoryCluster } from '../../src/cluster/memory.ts';
import { silentLogger } from '../../src/log.ts';
import { Health } from '../../src/ops/health.ts';
import { LeaderElector } from '../../src/ops/leader.ts';
import { OperatorMetrics } from '../../src/ops/metrics.ts';
import { runOperator, type ControllerLike, type RunParts } from '../../src/ops/run.ts';
import { startOpsServer } from '../../src/ops/server.ts';
import { generateRootCA } from '../../src/pki/index.ts';
import { FakeTime } from '../support/fake-time.ts';
import { caSecret, CA_NAME, CA_NS } from '../support/harness.ts';
import { flush, LeaseStore, type MemoryLeaseClient } from './memory-lease.ts';

const LEASE = 60_000;
const RENEW = 40_000;
const RETRY = 15_000;
const logger = silentLogger();

class FakeController implements ControllerLike {
  readonly calls: string[] = [];
  startGate: Promise<void> = Promise.resolve();
  async start(): Promise<void> {
    this.calls.push('start');
    await this.startGate;
  }
  async stop(graceMs?: number): Promise<void> {
    this.calls.push(`stop ${graceMs}`);
  }
}

function settled(p: Promise<unknown>): Promise<boolean> {
  return Promise.race([p.then(() => true), flush().then(() => false)]);
}

describe('run: lifecycle, leadership and graceful shutdown', () => {
  let time: FakeTime;
  let store: LeaseStore;

  beforeEach(() => {
    time = new FakeTime();
    store = new LeaseStore();
  });

  function operator(id: string, controller: ControllerLike, extra: Partial<RunParts> = {}) {
    const client: MemoryLeaseClient = store.client(id);
    const health = new Health({ clock: time, timers: time });
    const metrics = new OperatorMetrics({ defaultMetrics: false });
    const signals = new EventEmitter();
    const server = { port: 0, closed: false, async close() { this.closed = true; } };
    const parts: RunParts = {
      controller, health, metrics, logger, server, signals,
      makeElector: (cb) => new LeaderElector({
        client, namespace: 'mtls-system', identity: id, leaseDurationMs: LEASE, renewDeadlineMs: RENEW, retryPeriodMs: RETRY,
        clock: time, timers: time, logger, random: () => 0, ...cb,
      }),
      shutdownGraceMs: 5_000, lossGraceMs: LEASE - RENEW, releaseTimeoutMs: 200,
      ...extra,
    };
    return { client, health, metrics, signals, server, parts, exit: runOperator(parts) };
  }

  async function run(ms: number, step = 500): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      time.advance(Math.min(step, ms - t));
      await flush();
    }
  }

  it('SIGTERM: not ready at once, the in-flight reconcile finishes, the Lease is released, exit 0', async () => {
    const cluster = new MemoryCluster({ caNamespace: CA_NS, caName: CA_NAME });
    cluster.putSecret(caSecret(await generateRootCA({ now: new Date(time.now() - 86_400_000) })));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered = false;
    const apply = cluster.applySecret.bind(cluster);
    cluster.applySecret = async (s, o) => {
      entered = true;
      await gate;
      return apply(s, o);
    };
    const controller = new Controller({
      cluster, clock: time, timers: time, logger,
      config: { trustDomain: 'cluster.local', operatorNamespace: CA_NS, caSecretName: CA_NAME, bootstrapCA: false, workers: 2 },
    });
    const health = new Health({ clock: time, timers: time });
    const metrics = new OperatorMetrics({ defaultMetrics: false });
    const server = await startOpsServer({ host: '127.0.0.1', port: 0, metrics, health, logger });
    const op = operator('a', controller, { health, metrics, server, shutdownGraceMs: 10_000 });
    assert.equal(health.phase, 'standby');
    await run(1_000);
    assert.equal(health.phase, 'running');
    assert.match(await metrics.scrape(), /^mtls_leader 1$/m);
    cluster.applyIdentity({ metadata: { name: 'web', namespace: 'dev' }, spec: {} });
    while (!entered) await flush();

    op.signals.emit('SIGTERM');
    assert.equal(health.phase, 'stopping');
    const readyz = await fetch(`http://127.0.0.1:${server.port}/readyz`);
    assert.equal(readyz.status, 503, 'not ready while draining');
    assert.equal(await settled(op.exit), false, 'waits for the in-flight reconcile');
    assert.equal(store.lease?.holderIdentity, 'a', 'still holds the Lease while draining');

    release();
    assert.equal(await op.exit, 0);
    assert.ok(cluster.secrets.has('dev/web-mtls'), 'the in-flight reconcile completed its write');
    assert.equal(store.lease?.holderIdentity, '', 'Lease released');
    assert.match(await metrics.scrape(), /^mtls_leader 0$/m);
    await assert.rejects(fetch(`http://127.0.0.1:${server.port}/healthz`), 'server closed');
  });

  it('leadership lost: the controller is stopped synchronously in the deadline timer, exit 1', async () => {
    const t0 = time.now();
    const controller = new FakeController();
    const op = operator('a', controller, { shutdownGraceMs: 30_000 });
    await run(1_000);
    assert.deepEqual(controller.calls, ['start']);
    op.client.mode = 'hang';
    let stoppedAt: number | undefined;
    for (let t = 0; t < RENEW + RETRY && stoppedAt === undefined; t += 100) {
      time.advance(100);
      if (controller.calls.length > 1) stoppedAt = time.now(); // before any await: synchronous
      await flush();
    }
    assert.ok(stoppedAt !== undefined && stoppedAt - t0 <= RENEW + 1_000, 'stopped at the renew deadline');
    assert.deepEqual(controller.calls, ['start', `stop ${LEASE - RENEW}`], 'in-flight work gets leaseDuration - renewDeadline');
    assert.equal(op.health.phase, 'stopping');
    assert.equal(await op.exit, 1);
    assert.equal(op.server.closed, true);
  });

  it('a standby is ready, takes over within one retry of the leader\'s SIGTERM, then leads', async () => {
    const ca = new FakeController();
    const cb = new FakeController();
    const a = operator('a', ca);
    await run(1_000);
    const b = operator('b', cb);
    await run(RETRY);
    assert.deepEqual([a.health.phase, b.health.phase], ['running', 'standby']);
    assert.equal(b.health.readiness().ok, true, 'standby is ready');
    assert.deepEqual(cb.calls, []);

    a.signals.emit('SIGTERM');
    assert.equal(await a.exit, 0);
    assert.deepEqual(ca.calls, ['start', 'stop 5000']);
    assert.equal(store.lease?.holderIdentity, '');
    await run(RETRY);
    assert.deepEqual(cb.calls, ['start']);
    assert.equal(b.health.phase, 'running');
    assert.equal(store.lease?.holderIdentity, 'b');
    b.signals.emit('SIGINT');
    assert.equal(await b.exit, 0);
  });

  it('SIGTERM while the caches are still syncing: stops at once (no grace to wait out), exits 0', async () => {
    const controller = new FakeController();
    controller.startGate = new Promise(() => {});
    const op = operator('a', controller, { shutdownGraceMs: 20_000 });
    await run(1_000);
    assert.equal(op.health.phase, 'syncing');
    assert.equal(op.health.readiness().ok, false);
    const t0 = performance.now();
    op.signals.emit('SIGTERM');
    assert.equal(await op.exit, 0);
    assert.ok(performance.now() - t0 < 1_000, `took ${performance.now() - t0} ms`);
    assert.deepEqual(controller.calls, ['start', 'stop 0']);
  });

  it('without leader election: starts at once; a second signal exits 1 without waiting', async () => {
    const controller = new FakeController();
    let finishStop!: () => void;
    controller.stop = async (g) => {
      controller.calls.push(`stop ${g}`);
      await new Promise<void>((r) => (finishStop = r));
    };
    const op = operator('solo', controller, { makeElector: undefined });
    await flush();
    assert.deepEqual(controller.calls, ['start']);
    assert.equal(op.health.phase, 'running');
    assert.match(await op.metrics.scrape(), /^mtls_leader 1$/m);
    assert.equal(store.lease, undefined, 'no Lease without --leader-elect');
    op.signals.emit('SIGTERM');
    op.signals.emit('SIGINT');
    assert.equal(await op.exit, 1);
    finishStop();
  });
});
