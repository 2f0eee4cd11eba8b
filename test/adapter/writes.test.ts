import assert from 'node:assert/strict';
import nock from 'nock';
import { KubeCluster } from '../../src/adapter/kube.ts';
import { ClusterError } from '../../src/cluster/port.ts';
import { MANAGED, SERVER, configMap, secret, status, testKubeConfig, testLogger } from './helpers.ts';

const KEY_B64 = Buffer.from('-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n').toString('base64');

function desired() {
  const s = secret('team-a', 'web-tls', '7');
  s.metadata.uid = 'u-1';
  s.metadata.creationTimestamp = '2026-01-01T00:00:00Z';
  s.metadata.ownerReferences = [{ apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity', name: 'web', uid: 'i-1', controller: true }];
  s.metadata.annotations = { 'mtls.dev/serial': '01' };
  s.data = { 'tls.crt': 'Y2VydA==', 'tls.key': KEY_B64, 'ca.crt': 'Y2E=' };
  delete s.metadata.resourceVersion;
  return s;
}

/** The object the apiserver returns: the body plus server fields. */
function served(body: Record<string, unknown>, rv: string): object {
  const meta = body.metadata as Record<string, unknown>;
  return { ...body, metadata: { ...meta, uid: 'u-1', resourceVersion: rv, creationTimestamp: '2026-01-01T00:00:00Z' } };
}

function parse(body: unknown): Record<string, unknown> {
  return (typeof body === 'string' ? JSON.parse(body) : body) as Record<string, unknown>;
}

describe('KubeCluster writes and reads', () => {
  let cluster: KubeCluster;
  let logger: ReturnType<typeof testLogger>;

  beforeEach(() => {
    nock.disableNetConnect();
    logger = testLogger();
    cluster = new KubeCluster({
      kubeConfig: testKubeConfig(),
      operatorNamespace: 'mtls-system',
      caSecretName: 'mtls-root-ca',
      logger,
    });
  });

  afterEach(async () => {
    await cluster.stop();
    const pending = nock.pendingMocks();
    nock.cleanAll();
    nock.enableNetConnect();
    assert.deepEqual(pending, [], 'every expected request was made');
  });

  it('applySecret: server-side apply of the whole object, force, our field manager; cache updated', async () => {
    let sent: Record<string, unknown> | undefined;
    nock(SERVER)
      .patch('/api/v1/namespaces/team-a/secrets/web-tls', (body) => {
        sent = parse(body);
        return true;
      })
      .query({ fieldManager: 'mtls-operator', force: 'true' })
      .matchHeader('content-type', 'application/apply-patch+yaml')
      .reply(200, () => served(sent!, '8'));

    const result = await cluster.applySecret(desired());

    assert.deepEqual(sent, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'web-tls',
        namespace: 'team-a',
        labels: { 'app.kubernetes.io/managed-by': 'mtls-operator' },
        annotations: { 'mtls.dev/serial': '01' },
        ownerReferences: [{ apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity', name: 'web', uid: 'i-1', controller: true }],
      },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': 'Y2VydA==', 'tls.key': KEY_B64, 'ca.crt': 'Y2E=' },
    });
    assert.equal(result.metadata.resourceVersion, '8');
    assert.equal(result.metadata.creationTimestamp, '2026-01-01T00:00:00Z', 'timestamps stay strings');
    assert.equal(result.kind, 'Secret');
    // Read-your-write from the cache: no GET is mocked, so a live read would fail.
    assert.deepEqual(await cluster.getSecret('team-a', 'web-tls'), result);
  });

  it('releaseKeyPair: the cached version answers without tls.crt and tls.key; wholeSecret reads it from the API; another version is left whole', async () => {
    let sent: Record<string, unknown> | undefined;
    nock(SERVER)
      .patch('/api/v1/namespaces/team-a/secrets/web-tls', (body) => {
        sent = parse(body);
        return true;
      })
      .query(true)
      .reply(200, () => served(sent!, '8'))
      .get('/api/v1/namespaces/team-a/secrets/web-tls')
      .reply(200, () => served(sent!, '8'))
      .get('/api/v1/namespaces/team-a/secrets/web-tls')
      .reply(404, status(404, 'NotFound', 'secrets "web-tls" not found'));
    const written = await cluster.applySecret(desired());
    cluster.releaseKeyPair('team-a', 'web-tls', '7'); // not the cached version: nothing happens
    assert.deepEqual(await cluster.getSecret('team-a', 'web-tls'), written);
    cluster.releaseKeyPair('team-a', 'web-tls', '8');
    const slim = (await cluster.getSecret('team-a', 'web-tls'))!;
    assert.deepEqual(slim.data, { 'ca.crt': 'Y2E=' }, 'the key pair is gone from the cache, the bundle stays');
    assert.equal(slim.metadata.resourceVersion, '8');
    assert.deepEqual(cluster.listSecrets(), [slim]);
    assert.strictEqual(await cluster.wholeSecret(written), written, 'a Secret the cache holds whole is its own answer');
    const whole = await cluster.wholeSecret(slim);
    assert.deepEqual(whole?.data, { 'tls.crt': 'Y2VydA==', 'tls.key': KEY_B64, 'ca.crt': 'Y2E=' }, 'read whole from the API');
    assert.deepEqual((await cluster.getSecret('team-a', 'web-tls'))?.data, { 'ca.crt': 'Y2E=' }, 'the read is not cached');
    assert.equal(await cluster.wholeSecret(slim), undefined, 'gone since: undefined');
  });

  it('applySecret with a resourceVersion sends it as a precondition; a changed Secret is 409', async () => {
    let sent: Record<string, unknown> | undefined;
    nock(SERVER)
      .patch('/api/v1/namespaces/team-a/secrets/web-tls', (body) => {
        sent = parse(body);
        return true;
      })
      .query({ fieldManager: 'mtls-operator', force: 'true' })
      .reply(409, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Conflict', code: 409, message: 'Operation cannot be fulfilled on secrets "web-tls": the object has been modified; please apply your changes to the latest version and try again' });
    const s = desired();
    s.metadata.resourceVersion = '7';
    await assert.rejects(cluster.applySecret(s), (err: unknown) => {
      assert.ok(err instanceof ClusterError);
      assert.equal(err.code, 409);
      assert.equal(err.reason, 'Conflict');
      assert.doesNotMatch(err.message, /PRIVATE KEY|MIGHAgEA/);
      return true;
    });
    assert.equal((sent!.metadata as Record<string, unknown>).resourceVersion, '7');
  });

  it('patchIdentityStatus: merge patch of {status} on the status subresource', async () => {
    const status = { observedGeneration: 3, conditions: [] };
    let sent: unknown;
    nock(SERVER)
      .patch('/apis/mtls.dev/v1alpha1/namespaces/team-a/mutualtlsidentities/web/status', (body) => {
        sent = parse(body);
        return true;
      })
      .query(true)
      .matchHeader('content-type', 'application/merge-patch+json')
      .reply(200, { apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity', metadata: { name: 'web', namespace: 'team-a', resourceVersion: '9' }, status });
    await cluster.patchIdentityStatus('team-a', 'web', status);
    assert.deepEqual(sent, { status });
  });

  it('patchSecretAnnotations: merge patch of {metadata: {annotations}}, null removes; the CA cache takes the answer', async () => {
    let sent: unknown;
    const ca = secret('mtls-system', 'mtls-root-ca', '1', {});
    ca.metadata.annotations = { 'mtls.dev/rotate': 'requested', keep: 'me' };
    nock(SERVER)
      .post('/api/v1/namespaces/mtls-system/secrets')
      .query(true)
      .reply(201, (_req: Request) => served(ca as unknown as Record<string, unknown>, '3'))
      .patch('/api/v1/namespaces/mtls-system/secrets/mtls-root-ca', (body) => {
        sent = parse(body);
        return true;
      })
      .query({ fieldManager: 'mtls-operator' })
      .matchHeader('content-type', 'application/merge-patch+json')
      .reply(200, () => served({ ...ca, metadata: { ...ca.metadata, annotations: { keep: 'me', added: 'x' } } }, '4'));
    await cluster.createSecret(ca);
    assert.equal((await cluster.getSecret('mtls-system', 'mtls-root-ca'))?.metadata.annotations?.['mtls.dev/rotate'], 'requested');

    await cluster.patchSecretAnnotations('mtls-system', 'mtls-root-ca', { 'mtls.dev/rotate': null, added: 'x' });

    assert.equal(JSON.stringify(sent), '{"metadata":{"annotations":{"mtls.dev/rotate":null,"added":"x"}}}');
    // Read from the CA cache: no GET is mocked.
    const cached = await cluster.getSecret('mtls-system', 'mtls-root-ca');
    assert.equal(cached?.metadata.resourceVersion, '4');
    assert.deepEqual(cached?.metadata.annotations, { keep: 'me', added: 'x' });
    assert.deepEqual(cached?.data, ca.data, 'the whole answer is cached, not just the annotations');
    assert.deepEqual(cluster.listSecrets(), [], 'the unlabeled CA Secret is not one of our managed Secrets');
  });

  it('patchSecretAnnotations: a labelled Secret no live identity owns is cached without data and not listed; 404 is ClusterError 404', async () => {
    nock(SERVER)
      .patch('/api/v1/namespaces/team-a/secrets/web-tls')
      .query(true)
      .matchHeader('content-type', 'application/merge-patch+json')
      .reply(200, () => served({ ...secret('team-a', 'web-tls', '0'), metadata: { name: 'web-tls', namespace: 'team-a', labels: MANAGED, annotations: { a: 'b' } } }, '12'))
      .patch('/api/v1/namespaces/team-a/secrets/gone')
      .query(true)
      .reply(404, status(404, 'NotFound', 'secrets "gone" not found'));

    await cluster.patchSecretAnnotations('team-a', 'web-tls', { a: 'b' });
    assert.deepEqual(cluster.listSecrets(), [], 'its owner web is not in the identity cache');

    const err = await cluster.patchSecretAnnotations('team-a', 'gone', { a: null }).then(() => undefined, (e: unknown) => e);
    assert.ok(ClusterError.isNotFound(err));
    assert.equal((err as ClusterError).message, 'PATCH secrets/team-a/gone: 404 Not Found: secrets "gone" not found');
  });

  it('applyConfigMap: server-side apply of the whole object, force, our field manager; cache updated', async () => {
    let sent: Record<string, unknown> | undefined;
    nock(SERVER)
      .patch('/api/v1/namespaces/team-a/configmaps/mtls-trust-bundle', (body) => {
        sent = parse(body);
        return true;
      })
      .query({ fieldManager: 'mtls-operator', force: 'true' })
      .matchHeader('content-type', 'application/apply-patch+yaml')
      .reply(200, () => served(sent!, '8'));

    const desiredMap = configMap('team-a', 'mtls-trust-bundle', '5', { 'ca.crt': '-----BEGIN CERTIFICATE-----\n...' });
    desiredMap.metadata.uid = 'u-9';
    desiredMap.metadata.creationTimestamp = '2026-01-01T00:00:00Z';
    desiredMap.metadata.annotations = { 'mtls.dev/ca-fingerprint': 'ab12' };
    desiredMap.metadata.ownerReferences = [{ apiVersion: 'v1', kind: 'Namespace', name: 'team-a', uid: 'ns-1' }];
    const result = await cluster.applyConfigMap(desiredMap);

    assert.deepEqual(sent, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'mtls-trust-bundle',
        namespace: 'team-a',
        resourceVersion: '5', // the one read: a ConfigMap changed since is refused
        labels: MANAGED,
        annotations: { 'mtls.dev/ca-fingerprint': 'ab12' },
        ownerReferences: [{ apiVersion: 'v1', kind: 'Namespace', name: 'team-a', uid: 'ns-1' }],
      },
      data: { 'ca.crt': '-----BEGIN CERTIFICATE-----\n...' },
    });
    assert.equal(result.kind, 'ConfigMap');
    assert.equal(result.metadata.resourceVersion, '8');
    assert.equal(result.metadata.creationTimestamp, '2026-01-01T00:00:00Z', 'timestamps stay strings');
    assert.deepEqual(cluster.getConfigMap('team-a', 'mtls-trust-bundle'), result);
    assert.deepEqual(cluster.listConfigMaps(), [result]);
  });

  it('applyConfigMap maps errors to ClusterError', async () => {
    nock(SERVER)
      .patch('/api/v1/namespaces/team-a/configmaps/mtls-trust-bundle')
      .query(true)
      .reply(409, status(409, 'Conflict', 'Apply failed with 1 conflict: conflict with "kubectl"'));
    const err = await cluster.applyConfigMap(configMap('team-a', 'mtls-trust-bundle', '1')).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ClusterError);
    assert.equal(err.code, 409);
    assert.equal(err.message, 'PATCH configmaps/team-a/mtls-trust-bundle: 409 Conflict: Apply failed with 1 conflict: conflict with "kubectl"');
    assert.equal(cluster.getConfigMap('team-a', 'mtls-trust-bundle'), undefined);
  });

  it('deleteConfigMap: DELETE removes it from the cache; 404 is success, 403 throws', async () => {
    nock(SERVER)
      .patch('/api/v1/namespaces/team-a/configmaps/mtls-trust-bundle')
      .query(true)
      .reply(200, () => configMap('team-a', 'mtls-trust-bundle', '8'))
      .delete('/api/v1/namespaces/team-a/configmaps/mtls-trust-bundle')
      .reply(200, { kind: 'Status', apiVersion: 'v1', status: 'Success', details: { name: 'mtls-trust-bundle', kind: 'configmaps' } })
      .delete('/api/v1/namespaces/team-a/configmaps/mtls-trust-bundle')
      .reply(404, status(404, 'NotFound', 'configmaps "mtls-trust-bundle" not found'))
      .delete('/api/v1/namespaces/team-b/configmaps/mtls-trust-bundle')
      .reply(403, status(403, 'Forbidden', 'configmaps "mtls-trust-bundle" is forbidden'));

    await cluster.applyConfigMap(configMap('team-a', 'mtls-trust-bundle', '1'));
    assert.ok(cluster.getConfigMap('team-a', 'mtls-trust-bundle'));
    await cluster.deleteConfigMap('team-a', 'mtls-trust-bundle');
    assert.equal(cluster.getConfigMap('team-a', 'mtls-trust-bundle'), undefined);
    await cluster.deleteConfigMap('team-a', 'mtls-trust-bundle');

    await assert.rejects(cluster.deleteConfigMap('team-b', 'mtls-trust-bundle'), (err: unknown) => {
      assert.ok(err instanceof ClusterError);
      assert.equal(err.code, 403);
      assert.equal(err.message, 'DELETE configmaps/team-b/mtls-trust-bundle: 403 Forbidden: configmaps "mtls-trust-bundle" is forbidden');
      return true;
    });
  });

  it('createSecret: POST; 409 becomes ClusterError 409 AlreadyExists', async () => {
    nock(SERVER)
      .post('/api/v1/namespaces/mtls-system/secrets')
      .query(true)
      .reply(201, (_req: Request) => served({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'mtls-root-ca', namespace: 'mtls-system' }, data: {} }, '3'))
      .post('/api/v1/namespaces/mtls-system/secrets')
      .query(true)
      .reply(409, status(409, 'AlreadyExists', 'secrets "mtls-root-ca" already exists'));

    const ca = secret('mtls-system', 'mtls-root-ca', '1', {});
    const created = await cluster.createSecret(ca);
    assert.equal(created.metadata.resourceVersion, '3');
    assert.equal((await cluster.getSecret('mtls-system', 'mtls-root-ca'))?.metadata.resourceVersion, '3');

    const err = await cluster.createSecret(ca).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ClusterError);
    assert.equal(err.code, 409);
    assert.equal(err.reason, 'AlreadyExists');
    assert.ok(ClusterError.isConflict(err));
    assert.equal(err.message, 'POST secrets/mtls-system/mtls-root-ca: 409 Conflict: secrets "mtls-root-ca" already exists');
  });

  it('getSecret: a cache miss reads the API; 404 is undefined, 403 throws', async () => {
    nock(SERVER)
      .get('/api/v1/namespaces/team-a/secrets/foreign')
      .reply(200, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'foreign', namespace: 'team-a', resourceVersion: '4', creationTimestamp: '2026-02-03T04:05:06Z' }, type: 'Opaque' })
      .get('/api/v1/namespaces/team-a/secrets/absent')
      .reply(404, status(404, 'NotFound', 'secrets "absent" not found'))
      .get('/api/v1/namespaces/team-a/secrets/hidden')
      .reply(403, status(403, 'Forbidden', 'secrets "hidden" is forbidden: User "x" cannot get resource'));

    const foreign = await cluster.getSecret('team-a', 'foreign');
    assert.equal(foreign?.metadata.creationTimestamp, '2026-02-03T04:05:06Z');
    assert.equal(foreign?.type, 'Opaque');
    assert.equal(await cluster.getSecret('team-a', 'absent'), undefined);
    await assert.rejects(cluster.getSecret('team-a', 'hidden'), (err: unknown) => {
      assert.ok(err instanceof ClusterError);
      assert.equal(err.code, 403);
      assert.equal(err.reason, 'Forbidden');
      assert.match(err.message, /^GET secrets\/team-a\/hidden: 403 Forbidden: secrets "hidden" is forbidden/);
      return true;
    });
  });

  it('maps 409 and 422 Status bodies; the request body (keys) never reaches the error', async () => {
    nock(SERVER)
      .patch('/api/v1/namespaces/team-a/secrets/web-tls')
      .query(true)
      .reply(409, status(409, 'Conflict', 'Apply failed with 1 conflict: conflict with "kubectl"'))
      .patch('/api/v1/namespaces/team-a/secrets/web-tls')
      .query(true)
      .reply(422, status(422, 'Invalid', 'Secret "web-tls" is invalid: data[tls.key]: Invalid value'));

    const conflict = await cluster.applySecret(desired()).then(() => undefined, (e: unknown) => e);
    assert.ok(conflict instanceof ClusterError);
    assert.equal(conflict.code, 409);
    assert.equal(conflict.reason, 'Conflict');
    assert.equal(conflict.message, 'PATCH secrets/team-a/web-tls: 409 Conflict: Apply failed with 1 conflict: conflict with "kubectl"');

    const invalid = await cluster.applySecret(desired()).then(() => undefined, (e: unknown) => e);
    assert.ok(invalid instanceof ClusterError);
    assert.equal(invalid.code, 422);
    assert.equal(invalid.reason, 'Invalid');
    assert.match(invalid.message, /^PATCH secrets\/team-a\/web-tls: 422 Unprocessable Entity: Secret "web-tls" is invalid/);
    for (const err of [conflict, invalid]) {
      assert.ok(!err.message.includes(KEY_B64) && !String(err.stack).includes(KEY_B64));
    }
    assert.ok(!JSON.stringify(logger.entries).includes(KEY_B64));
  });

  it('maps a response without a Status body, and transport failures', async () => {
    nock(SERVER)
      .patch('/apis/mtls.dev/v1alpha1/namespaces/team-a/mutualtlsidentities/web/status')
      .query(true)
      .reply(403, 'forbidden', { 'Content-Type': 'text/plain' });

    const forbidden = await cluster.patchIdentityStatus('team-a', 'web', {}).then(() => undefined, (e: unknown) => e);
    assert.ok(forbidden instanceof ClusterError);
    assert.equal(forbidden.code, 403);
    assert.equal(forbidden.reason, 'Forbidden');
    assert.equal(forbidden.message, 'PATCH mutualtlsidentities/team-a/web/status: 403 Forbidden');

    // A host nock knows nothing of: the connection is refused (replyWithError hangs undici's fetch).
    const elsewhere = new KubeCluster({
      kubeConfig: testKubeConfig('https://nowhere.test'),
      operatorNamespace: 'mtls-system',
      caSecretName: 'mtls-root-ca',
      logger,
    });
    const refused = await elsewhere.patchIdentityStatus('team-a', 'web', {}).then(() => undefined, (e: unknown) => e);
    assert.ok(refused instanceof ClusterError);
    assert.equal(refused.code, 0);
    assert.equal(refused.reason, 'TransportError');
    assert.equal(refused.message, 'PATCH mutualtlsidentities/team-a/web/status: fetch failed (ENETUNREACH)');
    await elsewhere.stop();
  });

  it('recordEvent: creates a core/v1 Event, then aggregates a repeat into count 2', async () => {
    let created: Record<string, unknown> | undefined;
    let patched: unknown;
    nock(SERVER)
      .post('/api/v1/namespaces/team-a/events', (body) => {
        created = parse(body);
        return true;
      })
      .query(true)
      .reply(201, () => created!)
      .patch(/\/api\/v1\/namespaces\/team-a\/events\/web\.[0-9a-f]{16}$/, (body) => {
        patched = parse(body);
        return true;
      })
      .query(true)
      .matchHeader('content-type', 'application/merge-patch+json')
      .reply(200, {});

    const about = { apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity', namespace: 'team-a', name: 'web', uid: 'i-1' };
    await cluster.recordEvent(about, 'Normal', 'Issued', 'certificate issued, serial 01');
    await cluster.recordEvent(about, 'Normal', 'Issued', 'certificate issued, serial 01');

    assert.ok(created);
    assert.match((created.metadata as { name: string }).name, /^web\.[0-9a-f]{16}$/);
    assert.deepEqual(created.involvedObject, { apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity', name: 'web', namespace: 'team-a', uid: 'i-1' });
    assert.equal(created.reason, 'Issued');
    assert.equal(created.message, 'certificate issued, serial 01');
    assert.equal(created.type, 'Normal');
    assert.equal(created.count, 1);
    assert.deepEqual(created.source, { component: 'mtls-operator' });
    assert.equal(created.reportingComponent, 'mtls-operator');
    assert.equal(typeof created.firstTimestamp, 'string');
    assert.equal(created.firstTimestamp, created.lastTimestamp);
    assert.equal((patched as { count: number }).count, 2);
    assert.equal(typeof (patched as { lastTimestamp: unknown }).lastTimestamp, 'string');
  });
});
