/**
 * The watch router before the caches have synced: the CA is not read from half-listed caches (a CA Secret found
 * missing while the issued Secrets are not listed yet could look like a first install), and what the issued Secrets
 * are checked against as they arrive is read once the CA Secret and the rotation state are in (trustSynced).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { ROTATION_KEY } from '../../src/controller/rotation.ts';
import { WatchRouter, type WatchRouterDeps } from '../../src/controller/watch-router.ts';
import { createLogger } from '../../src/log.ts';

function router(synced: boolean, prepareArrivals?: () => Promise<void>) {
  const queued: string[] = [];
  const lines: string[] = [];
  let refreshes = 0;
  let all = 0;
  const deps: WatchRouterDeps = {
    queue: { add: (key: string) => queued.push(key) } as never,
    cluster: { getConfigMap: () => undefined } as never,
    ca: { refresh: async () => (refreshes++, true), trust: { resourceVersion: undefined } } as never,
    config: { operatorNamespace: 'mtls-system' },
    logger: createLogger('info', new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } })),
    enqueueAll: () => all++,
    synced: () => synced,
    ...(prepareArrivals ? { prepareArrivals } : {}),
  };
  const r = new WatchRouter(deps);
  return { r, queued, lines, refreshes: () => refreshes, all: () => all, sync: () => (synced = true) };
}

describe('watch router: the CA before and after the caches sync', () => {
  it('a CA Secret event while the caches sync queues the rotation but does not read the CA; after the sync it does', async () => {
    const t = router(false);
    t.r.handlers.caSecretChanged();
    t.r.handlers.configMapChanged!('mtls-system', 'mtls-trust-rotation');
    await new Promise((r) => setImmediate(r));
    assert.equal(t.refreshes(), 0, 'the start reads the CA once every cache is whole');
    assert.deepEqual(t.queued, [ROTATION_KEY, ROTATION_KEY]);
    t.sync();
    t.r.handlers.caSecretChanged();
    await new Promise((r) => setImmediate(r));
    assert.equal(t.refreshes(), 1);
    assert.equal(t.all(), 1, 'what signs changed: everything is looked at');
  });

  it('trustSynced runs prepareArrivals; a failure is logged (no key material) and never thrown into the start', async () => {
    let called = 0;
    const ok = router(false, async () => void called++);
    await ok.r.handlers.trustSynced!();
    assert.equal(called, 1);
    const failing = router(false, async () => {
      throw new Error('CA Secret unreadable');
    });
    await failing.r.handlers.trustSynced!();
    assert.equal(failing.lines.length, 1);
    const entry = JSON.parse(failing.lines[0]!) as Record<string, unknown>;
    assert.deepEqual([entry.reason, entry.error], ['InspectionDeferred', 'CA Secret unreadable']);
  });
});
