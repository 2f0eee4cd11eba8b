import assert from 'node:assert/strict';
import nock from 'nock';
import { KubeCluster, type KubeClusterOptions } from '../../src/adapter/kube.ts';
import {
  CA_PATH,
  BUNDLE_SELECTOR,
  CA_SELECTOR,
  CONFIGMAPS,
  ROTATION_SELECTOR,
  FakeApi,
  IDENTITIES,
  MANAGED_SELECTOR,
  RecordingHandlers,
  SECRETS,
  SERVER,
  configMap,
  configMapsIn,
  identity,
  secret,
  sleep,
  testKubeConfig,
  testLogger,
  waitFor,
} from './helpers.ts';

describe('KubeCluster watches', () => {
  let api: FakeApi;
  let cluster: KubeCluster | undefined;
  let handlers: RecordingHandlers;
  let logger: ReturnType<typeof testLogger>;

  function make(overrides: Partial<KubeClusterOptions> = {}): KubeCluster {
    cluster = new KubeCluster({
      kubeConfig: testKubeConfig(),
      operatorNamespace: 'mtls-system',
      caSecretName: 'mtls-root-ca',
      logger,
      backoff: { initialMs: 5, maxMs: 20 },
      ...overrides,
    });
    return cluster;
  }

  function serveDefaults(): void {
    api.set(IDENTITIES, '', [identity('a', 'x', '10'), identity('b', 'y', '11')], '100');
    api.set(SECRETS, MANAGED_SELECTOR, [secret('a', 'x-tls', '12')], '101');
    api.set(CA_PATH, CA_SELECTOR, [secret('mtls-system', 'mtls-root-ca', '13', {})], '102');
  }

  beforeEach(() => {
    nock.disableNetConnect();
    api = new FakeApi();
    api.install();
    handlers = new RecordingHandlers();
    logger = testLogger();
  });

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
    api.close();
    nock.cleanAll();
    nock.enableNetConnect();
  });

  it('lists every cache once, with selectors, then watches from the list resourceVersion', async () => {
    serveDefaults();
    const c = make();
    await c.start(handlers);

    assert.deepEqual(c.listIdentities().map((i) => i.metadata.name).sort(), ['x', 'y']);
    assert.equal(c.getIdentity('a', 'x')?.spec?.secretName, 'x-tls');
    assert.equal((await c.getSecret('a', 'x-tls'))?.metadata.resourceVersion, '12');
    assert.equal((await c.getSecret('mtls-system', 'mtls-root-ca'))?.metadata.resourceVersion, '13');
    assert.equal(c.stats().synced, true);
    assert.deepEqual(handlers.calls.filter((h) => h.startsWith('identity')).sort(), ['identity a/x', 'identity b/y']);
    assert.ok(handlers.calls.includes('ca'));
    assert.ok(!handlers.calls.includes('resynced'), 'the first list is not a resync');

    assert.equal(api.listsOf(SECRETS)[0]?.query.get('labelSelector'), MANAGED_SELECTOR);
    assert.equal(api.listsOf(CA_PATH)[0]?.query.get('fieldSelector'), CA_SELECTOR);
    await waitFor('five watches', () => api.watches.length === 5);
    const [secrets] = api.watchesOf(SECRETS, MANAGED_SELECTOR);
    assert.equal(secrets?.query.get('resourceVersion'), '101');
    assert.equal(secrets?.query.get('allowWatchBookmarks'), 'true');
    const [ca] = api.watchesOf(CA_PATH, CA_SELECTOR);
    assert.equal(ca?.query.get('resourceVersion'), '102');
    assert.equal(api.watchesOf(IDENTITIES)[0]?.query.get('resourceVersion'), '100');
    assert.equal(api.watches.filter((w) => !w.query.get('labelSelector') && w.path === SECRETS).length, 0);
  });

  it('applies ADDED, MODIFIED and DELETED events to the caches and the handlers', async () => {
    serveDefaults();
    const c = make();
    await c.start(handlers);
    await waitFor('watches', () => api.watches.length === 5);
    handlers.calls.length = 0;
    const ids = api.watchesOf(IDENTITIES)[0]!;
    const secrets = api.watchesOf(SECRETS, MANAGED_SELECTOR)[0]!;
    const ca = api.watchesOf(CA_PATH, CA_SELECTOR)[0]!;

    ids.send('ADDED', identity('c', 'z', '20'));
    ids.send('MODIFIED', { ...identity('a', 'x', '21'), spec: { secretName: 'other' } });
    ids.send('DELETED', identity('b', 'y', '22'));
    secrets.send('ADDED', secret('c', 'z-tls', '23'));
    secrets.send('DELETED', secret('a', 'x-tls', '24'));
    ca.send('MODIFIED', secret('mtls-system', 'mtls-root-ca', '25', {}));
    await waitFor('all events', () => handlers.calls.length === 6);

    assert.deepEqual(handlers.calls, [
      'identity c/z',
      'identity a/x',
      'identity b/y',
      'secret c/z-tls 1',
      'secret a/x-tls 1',
      'ca',
    ]);
    assert.equal(c.getIdentity('a', 'x')?.spec?.secretName, 'other');
    assert.equal(c.getIdentity('b', 'y'), undefined);
    assert.ok(c.getIdentity('c', 'z'));
    assert.equal((await c.getSecret('c', 'z-tls'))?.metadata.resourceVersion, '23');
    assert.equal((await c.getSecret('mtls-system', 'mtls-root-ca'))?.metadata.resourceVersion, '25');
    assert.ok(c.stats().lastEventAt.identities! > 0);
  });

  it('a write is seen at once, and a lagging watch event never rolls it back', async () => {
    serveDefaults();
    const c = make();
    await c.start(handlers);
    await waitFor('watch', () => api.watchesOf(SECRETS, MANAGED_SELECTOR).length === 1);
    nock(SERVER)
      .patch('/api/v1/namespaces/a/secrets/x-tls')
      .query(true)
      .reply(200, { ...secret('a', 'x-tls', '50'), data: { 'tls.crt': 'bmV3' } });
    await c.applySecret(secret('a', 'x-tls', '12'));
    assert.equal((await c.getSecret('a', 'x-tls'))?.metadata.resourceVersion, '50');

    const watch = api.watchesOf(SECRETS, MANAGED_SELECTOR)[0]!;
    watch.send('MODIFIED', secret('a', 'x-tls', '40'));
    await waitFor('the stale event', () => handlers.calls.filter((h) => h.startsWith('secret a/x-tls')).length === 2);
    assert.equal((await c.getSecret('a', 'x-tls'))?.metadata.resourceVersion, '50');
    watch.send('MODIFIED', secret('a', 'x-tls', '51'));
    await waitFor('the newer event', () => handlers.calls.filter((h) => h.startsWith('secret a/x-tls')).length === 3);
    assert.equal((await c.getSecret('a', 'x-tls'))?.metadata.resourceVersion, '51');
  });

  it('runs one watch per listed namespace', async () => {
    for (const ns of ['a', 'b']) {
      api.set(`/apis/mtls.dev/v1alpha1/namespaces/${ns}/mutualtlsidentities`, '', [identity(ns, 'i', '1')], '5');
      api.set(`/api/v1/namespaces/${ns}/secrets`, MANAGED_SELECTOR, [], '5');
    }
    api.set(CA_PATH, CA_SELECTOR, [], '5');
    const c = make({ namespaces: ['a', 'b'] });
    await c.start(handlers);
    assert.deepEqual(Object.keys(c.stats().restarts).sort(), [
      'ca-secret',
      'configmaps/a',
      'configmaps/b',
      'identities/a',
      'identities/b',
      'rotation-state',
      'secrets/a',
      'secrets/b',
    ]);
    assert.equal(c.listIdentities().length, 2);
    assert.equal(api.listsOf(IDENTITIES).length, 0);
    assert.equal(api.listsOf(SECRETS).length, 0);
    await waitFor('eight watches', () => api.watches.length === 8);
  });

  it('watches our ConfigMaps by name and label: trust bundles everywhere, the rotation state in the operator namespace', async () => {
    serveDefaults();
    api.set(CONFIGMAPS, BUNDLE_SELECTOR, [configMap('a', 'mtls-trust-bundle', '14')], '103');
    api.set(configMapsIn('mtls-system'), ROTATION_SELECTOR, [configMap('mtls-system', 'mtls-trust-rotation', '15', { phase: 'Idle' })], '104');
    const c = make();
    await c.start(handlers);

    assert.equal(api.listsOf(CONFIGMAPS).length, 1);
    assert.equal(api.listsOf(CONFIGMAPS)[0]!.query.get('labelSelector'), MANAGED_SELECTOR);
    assert.equal(api.listsOf(CONFIGMAPS)[0]!.query.get('fieldSelector'), 'metadata.name=mtls-trust-bundle');
    assert.equal(api.listsOf(configMapsIn('mtls-system'))[0]!.query.get('fieldSelector'), 'metadata.name=mtls-trust-rotation');
    assert.deepEqual(c.getConfigMap('a', 'mtls-trust-bundle'), configMap('a', 'mtls-trust-bundle', '14'));
    assert.deepEqual(c.getConfigMap('mtls-system', 'mtls-trust-rotation')?.data, { phase: 'Idle' });
    assert.equal(c.getConfigMap('a', 'absent'), undefined);
    assert.deepEqual(c.listConfigMaps().map((m) => `${m.metadata.namespace}/${m.metadata.name}`).sort(), [
      'a/mtls-trust-bundle',
      'mtls-system/mtls-trust-rotation',
    ]);
    assert.deepEqual(handlers.calls.filter((h) => h.startsWith('configmap')).sort(), [
      'configmap a/mtls-trust-bundle',
      'configmap mtls-system/mtls-trust-rotation',
    ]);
    assert.ok('configmaps' in c.stats().restarts);
    assert.ok('rotation-state' in c.stats().restarts);

    await waitFor('five watches', () => api.watches.length === 5);
    const [watch] = api.watchesOf(CONFIGMAPS, BUNDLE_SELECTOR);
    assert.equal(watch?.query.get('resourceVersion'), '103');
    assert.equal(watch?.query.get('allowWatchBookmarks'), 'true');
    const [rotation] = api.watchesOf(configMapsIn('mtls-system'), ROTATION_SELECTOR);
    assert.equal(rotation?.query.get('resourceVersion'), '104');
    assert.equal(api.watches.filter((w) => w.path === CONFIGMAPS && w.query.get('fieldSelector') !== 'metadata.name=mtls-trust-bundle').length, 0);

    handlers.calls.length = 0;
    watch!.send('ADDED', configMap('b', 'mtls-trust-bundle', '16'));
    watch!.send('MODIFIED', configMap('a', 'mtls-trust-bundle', '17', { 'ca.crt': 'new' }));
    rotation!.send('DELETED', configMap('mtls-system', 'mtls-trust-rotation', '18'));
    await waitFor('three events', () => handlers.calls.length === 3);
    assert.deepEqual(handlers.calls.sort(), [
      'configmap a/mtls-trust-bundle',
      'configmap b/mtls-trust-bundle',
      'configmap mtls-system/mtls-trust-rotation',
    ]);
    assert.equal(c.getConfigMap('b', 'mtls-trust-bundle')?.metadata.resourceVersion, '16');
    assert.deepEqual(c.getConfigMap('a', 'mtls-trust-bundle')?.data, { 'ca.crt': 'new' });
    assert.equal(c.getConfigMap('mtls-system', 'mtls-trust-rotation'), undefined);
    assert.ok(c.stats().lastEventAt.configmaps! > 0);
  });

  it('a throwing or missing configMapChanged never stops the ConfigMap watch', async () => {
    serveDefaults();
    const c = make();
    const throwing = Object.assign(new RecordingHandlers(), {
      configMapChanged: () => {
        throw new Error('handler exploded');
      },
    });
    await c.start(throwing);
    await waitFor('watch', () => api.watchesOf(CONFIGMAPS, BUNDLE_SELECTOR).length === 1);
    api.watchesOf(CONFIGMAPS, BUNDLE_SELECTOR)[0]!.send('ADDED', configMap('a', 'mtls-trust-bundle', '40'));
    await waitFor('the event', () => c.getConfigMap('a', 'mtls-trust-bundle') !== undefined);
    assert.ok(logger.entries.some((e) => e.msg === 'cluster handler threw' && (e.meta as { handler?: string }).handler === 'configMapChanged'));
    await c.stop();

    // Without the optional handler at all.
    const bare = make();
    await bare.start({ identityChanged: () => {}, secretChanged: () => {}, caSecretChanged: () => {} });
    await waitFor('the second watch', () => api.watchesOf(CONFIGMAPS, BUNDLE_SELECTOR).length === 2);
    api.watchesOf(CONFIGMAPS, BUNDLE_SELECTOR)[1]!.send('ADDED', configMap('b', 'mtls-trust-bundle', '41'));
    await waitFor('the event', () => bare.getConfigMap('b', 'mtls-trust-bundle') !== undefined);
    assert.equal(bare.stats().restarts.configmaps, 0);
  });

  it('with a namespace list, trust bundles are watched there and the rotation state in the operator namespace', async () => {
    for (const ns of ['a', 'b']) {
      api.set(`/apis/mtls.dev/v1alpha1/namespaces/${ns}/mutualtlsidentities`, '', [], '5');
      api.set(`/api/v1/namespaces/${ns}/secrets`, MANAGED_SELECTOR, [], '5');
      api.set(configMapsIn(ns), BUNDLE_SELECTOR, [configMap(ns, 'mtls-trust-bundle', '6')], '7');
    }
    api.set(CA_PATH, CA_SELECTOR, [], '5');
    api.set(configMapsIn('mtls-system'), ROTATION_SELECTOR, [configMap('mtls-system', 'mtls-trust-rotation', '8')], '9');
    const c = make({ namespaces: ['a', 'b'] });
    await c.start(handlers);

    assert.equal(api.listsOf(CONFIGMAPS).length, 0, 'no cluster-wide ConfigMap list');
    for (const ns of ['a', 'b']) {
      assert.equal(api.listsOf(configMapsIn(ns))[0]?.query.get('fieldSelector'), 'metadata.name=mtls-trust-bundle', ns);
    }
    assert.ok(c.getConfigMap('mtls-system', 'mtls-trust-rotation'), 'the rotation state is cached');
    assert.ok(c.getConfigMap('b', 'mtls-trust-bundle'));
    assert.equal(c.listConfigMaps().length, 3);
    assert.ok(handlers.calls.includes('configmap mtls-system/mtls-trust-rotation'));
    await waitFor('eight watches', () => api.watches.length === 8);
    const [rotation] = api.watchesOf(configMapsIn('mtls-system'), ROTATION_SELECTOR);
    assert.equal(rotation?.query.get('resourceVersion'), '9');
    // Only the operator namespace is added: no identity or Secret watch there (the CA watch aside).
    assert.equal(api.watches.filter((w) => w.path.startsWith('/api/v1/namespaces/mtls-system/') && !w.path.endsWith('/configmaps')).length, 1);
  });

  it('a namespace list naming the operator namespace watches its trust bundle once and its rotation state once', async () => {
    for (const ns of ['a', 'mtls-system']) {
      api.set(`/apis/mtls.dev/v1alpha1/namespaces/${ns}/mutualtlsidentities`, '', [], '5');
      api.set(`/api/v1/namespaces/${ns}/secrets`, MANAGED_SELECTOR, [], '5');
    }
    api.set(CA_PATH, CA_SELECTOR, [], '5');
    const c = make({ namespaces: ['mtls-system', 'a', 'mtls-system'] });
    await c.start(handlers);
    assert.deepEqual(Object.keys(c.stats().restarts).filter((k) => k.startsWith('configmaps') || k === 'rotation-state').sort(), [
      'configmaps/a',
      'configmaps/mtls-system',
      'rotation-state',
    ]);
    assert.equal(api.listsOf(configMapsIn('mtls-system')).length, 2);
  });

  it('listSecrets returns every cached Secret a live identity owns, across the per-namespace watches', async () => {
    for (const ns of ['a', 'b']) {
      api.set(`/apis/mtls.dev/v1alpha1/namespaces/${ns}/mutualtlsidentities`, '', [identity(ns, ns, '4'), identity(ns, 'c', '4')], '5');
      api.set(`/api/v1/namespaces/${ns}/secrets`, MANAGED_SELECTOR, [secret(ns, `${ns}-tls`, '6')], '7');
    }
    api.set(CA_PATH, CA_SELECTOR, [secret('mtls-system', 'mtls-root-ca', '8', {})], '9');
    const c = make({ namespaces: ['a', 'b'] });
    await c.start(handlers);
    const names = () => c.listSecrets().map((s) => `${s.metadata.namespace}/${s.metadata.name}`).sort();
    assert.deepEqual(names(), ['a/a-tls', 'b/b-tls'], 'the unlabeled CA Secret is not one of ours');

    await waitFor('watch', () => api.watchesOf('/api/v1/namespaces/b/secrets', MANAGED_SELECTOR).length === 1);
    const watch = api.watchesOf('/api/v1/namespaces/b/secrets', MANAGED_SELECTOR)[0]!;
    watch.send('ADDED', secret('b', 'c-tls', '10'));
    watch.send('DELETED', secret('b', 'b-tls', '11'));
    await waitFor('both events', () => handlers.calls.filter((h) => h.startsWith('secret b/')).length === 3);
    assert.deepEqual(names(), ['a/a-tls', 'b/c-tls']);
  });

  it('relists on a 410 ERROR event: deletes what vanished, then resynced', async () => {
    serveDefaults();
    const c = make();
    await c.start(handlers);
    await waitFor('watch', () => api.watchesOf(IDENTITIES).length === 1);
    handlers.calls.length = 0;
    api.set(IDENTITIES, '', [identity('b', 'y', '30'), identity('c', 'new', '31')], '300');

    api.watchesOf(IDENTITIES)[0]!.send('ERROR', {
      kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 100 (250)',
    });
    await waitFor('a second list', () => api.listsOf(IDENTITIES).length === 2);
    await waitFor('resynced', () => handlers.calls.includes('resynced'));

    assert.ok(handlers.calls.includes('identity a/x'), 'vanished object produced a delete callback');
    assert.ok(handlers.calls.includes('identity c/new'));
    assert.equal(handlers.calls.at(-1), 'resynced');
    assert.equal(c.getIdentity('a', 'x'), undefined);
    assert.equal(c.getIdentity('b', 'y')?.metadata.resourceVersion, '30');
    await waitFor('a new watch', () => api.watchesOf(IDENTITIES).length === 2);
    assert.equal(api.watchesOf(IDENTITIES)[1]!.query.get('resourceVersion'), '300');
    assert.equal(c.stats().restarts.identities, 1);
    assert.equal(c.stats().relists.identities, 1);
  });

  it('relists when the watch request itself answers 410 Gone', async () => {
    serveDefaults();
    api.failNextWatch(SECRETS, 410);
    const c = make();
    await c.start(handlers);
    await waitFor('a second list', () => api.listsOf(SECRETS).length === 2);
    await waitFor('the watch', () => api.watchesOf(SECRETS, MANAGED_SELECTOR).length === 1);
    assert.ok(handlers.calls.includes('resynced'));
  });

  it('restarts after the stream ends or errors, from the last resourceVersion, with backoff', async () => {
    serveDefaults();
    const c = make();
    await c.start(handlers);
    await waitFor('watch', () => api.watchesOf(IDENTITIES).length === 1);
    const first = api.watchesOf(IDENTITIES)[0]!;
    first.send('BOOKMARK', { kind: 'MutualTLSIdentity', metadata: { resourceVersion: '150' } });
    await sleep(20);
    api.failNextWatch(IDENTITIES, 500, 503);
    first.stream.end();

    await waitFor('a third watch attempt', () => api.watchesOf(IDENTITIES).length === 2);
    assert.equal(api.watchesOf(IDENTITIES)[1]!.query.get('resourceVersion'), '150');
    assert.equal(api.listsOf(IDENTITIES).length, 1, 'no relist for an ordinary error');
    assert.equal(c.stats().restarts.identities, 3);
    const restarts = logger.entries.filter((e) => e.msg === 'watch restarting');
    assert.equal(restarts.length, 3);
    assert.ok(restarts.every((e) => typeof (e.meta as { delayMs?: number }).delayMs === 'number'));
  });

  it('the watchdog restarts a silent watch, while bookmarks keep it alive', async () => {
    serveDefaults();
    const c = make({ watchdogMs: 400 });
    // The identity watch opens first (the Secret reduction needs the identity cache): bookmark it at once.
    const started = c.start(handlers);
    await waitFor('the identity watch', () => api.watchesOf(IDENTITIES).length === 1);
    const ids = api.watchesOf(IDENTITIES)[0]!;
    const timer = setInterval(() => ids.send('BOOKMARK', { metadata: { resourceVersion: '100' } }), 40);
    try {
      await started;
      await waitFor('watches', () => api.watches.length === 5);
      await waitFor('the silent secret watch to restart', () => api.watchesOf(SECRETS, MANAGED_SELECTOR).length >= 2);
    } finally {
      clearInterval(timer);
    }
    assert.ok(c.stats().restarts.secrets! >= 1);
    assert.equal(c.stats().restarts.identities, 0, 'bookmarks kept the identity watch alive');
    assert.equal(api.watchesOf(IDENTITIES).length, 1);
    const entry = logger.entries.find((e) => e.msg === 'watch restarting');
    assert.equal((entry?.meta as { reason?: string }).reason, 'watchdog');
  });

  it('the watchdog abandons a watch whose connection never answers', async () => {
    serveDefaults();
    api.hangWatches = true;
    const c = make({ watchdogMs: 100 });
    await c.start(handlers);
    await waitFor('a second hung attempt', () => api.watchesOf(IDENTITIES).length >= 2);
    assert.ok(c.stats().restarts.identities! >= 1);
    api.hangWatches = false;
    // Let a hung connection answer late: its session is over, so it is closed, not used.
    api.watchesOf(IDENTITIES)[0]!.stream.write('\n');
    await waitFor('a live watch', () => api.watchesOf(IDENTITIES).length >= 3);
  });

  it('resyncs periodically from the cache: no list, the watch stays up (issue 11)', async () => {
    serveDefaults();
    const c = make({ resyncIntervalMs: 100 });
    await c.start(handlers);
    await waitFor('two resyncs', () => handlers.calls.filter((h) => h === 'resynced').length >= 2);
    assert.equal(api.listsOf(IDENTITIES).length, 1, 'listed once, at start');
    assert.equal(api.listsOf(SECRETS).length, 1, 'listed once, at start');
    assert.equal(api.watchesOf(IDENTITIES).length, 1, 'the watch was never aborted');
    assert.equal(c.stats().relists.identities ?? 0, 0);
    assert.equal(c.stats().restarts.identities, 0);
  });

  it('a throwing handler never stops the watch', async () => {
    serveDefaults();
    handlers.throwOnIdentity = true;
    const c = make();
    await c.start(handlers);
    await waitFor('watch', () => api.watchesOf(IDENTITIES).length === 1);
    const ids = api.watchesOf(IDENTITIES)[0]!;
    ids.send('ADDED', identity('c', 'one', '40'));
    ids.send('ADDED', identity('c', 'two', '41'));
    await waitFor('both events', () => c.getIdentity('c', 'two') !== undefined);
    assert.ok(c.getIdentity('c', 'one'));
    assert.equal(c.stats().restarts.identities, 0);
    assert.equal(api.watchesOf(IDENTITIES).length, 1);
    assert.ok(logger.entries.some((e) => e.level === 'error' && e.msg === 'cluster handler threw'));
  });

  it('keeps retrying a failing first list; start resolves once it succeeds', async () => {
    serveDefaults();
    api.failNextList(CA_PATH, 500, 403);
    const c = make();
    await c.start(handlers);
    assert.equal(c.stats().synced, true);
    assert.equal(c.stats().restarts['ca-secret'], 2);
    assert.ok(logger.entries.some((e) => e.msg === 'list failed'));
  });

  it('stop() before the first sync rejects start() and leaves nothing running', async () => {
    api.failNextList(IDENTITIES, 500, 500, 500, 500, 500, 500, 500, 500);
    serveDefaults();
    const c = make({ backoff: { initialMs: 50, maxMs: 50 } });
    const started = c.start(handlers);
    await sleep(20);
    await c.stop();
    await assert.rejects(started, /stopped before its first sync/);
    assert.equal(c.stats().synced, false);
  });
});
