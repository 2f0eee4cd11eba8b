/**
 * Controller.stop: in-flight reconciles get the grace; past it the cluster is stopped, which (as
 * KubeCluster does) cancels every request still in flight, and stop() returns once the workers
 * unwind: it never waits on a hung request.
 */
import assert from 'node:assert/strict';
import type { Secret } from '../../src/api/types.ts';
import { MemoryCluster } from '../../src/cluster/memory.ts';
import { ClusterError } from '../../src/cluster/port.ts';
import { CA_NAME, CA_NS, startHarness } from '../support/harness.ts';

/** Secret writes hang until released, or until stop() cancels them as KubeCluster does. */
class SlowWrites extends MemoryCluster {
  hang = false;
  stopped = false;
  readonly cancelled: string[] = [];
  private readonly waiting = new Set<() => void>();

  releaseAll(): void {
    for (const release of this.waiting) release();
    this.waiting.clear();
  }

  override async applySecret(secret: Secret, options: { force?: boolean } = {}): Promise<Secret> {
    if (this.hang) await this.wait(`PATCH secrets/${secret.metadata.namespace}/${secret.metadata.name}`);
    return super.applySecret(secret, options);
  }

  override async stop(): Promise<void> {
    this.stopped = true;
    for (const cancel of [...this.cancellers]) cancel();
    await super.stop();
  }

  private readonly cancellers = new Set<() => void>();

  private wait(op: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const cancel = () => {
        this.cancelled.push(op);
        reject(new ClusterError(0, 'Cancelled', `${op}: cancelled (the operator is stopping)`));
      };
      this.cancellers.add(cancel);
      this.waiting.add(() => {
        this.cancellers.delete(cancel);
        resolve();
      });
    });
  }
}

describe('Controller.stop: the grace, then cancellation', () => {
  it('a reconcile hung on a write is cancelled once the grace is over; stop() returns right after', async () => {
    const cluster = new SlowWrites({ caNamespace: CA_NS, caName: CA_NAME });
    const h = await startHarness({ cluster });
    cluster.hang = true;
    h.identity('web', { secretName: 'web-tls' });
    await new Promise((r) => setTimeout(r, 200)); // the reconcile is now waiting on its Secret write
    assert.equal(h.controller.queue.inFlight, 1);
    const t0 = performance.now();
    await h.controller.stop(300);
    const took = performance.now() - t0;
    assert.ok(took >= 290 && took < 1_000, `stop took ${Math.round(took)} ms`);
    assert.deepEqual(cluster.cancelled, ['PATCH secrets/dev/web-tls']);
    assert.equal(h.controller.queue.inFlight, 0, 'no reconcile left running');
    assert.equal(cluster.secrets.get('dev/web-tls'), undefined, 'the cancelled write did not land');
  });

  it('a reconcile that finishes within the grace is not cancelled', async () => {
    const cluster = new SlowWrites({ caNamespace: CA_NS, caName: CA_NAME });
    const h = await startHarness({ cluster });
    cluster.hang = true;
    h.identity('web', { secretName: 'web-tls' });
    await new Promise((r) => setTimeout(r, 200));
    setTimeout(() => cluster.releaseAll(), 100);
    const t0 = performance.now();
    await h.controller.stop(5_000);
    assert.ok(performance.now() - t0 < 2_000);
    assert.deepEqual(cluster.cancelled, []);
    assert.ok(cluster.secrets.get('dev/web-tls'), 'the write landed');
  });
});
