import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import nock from 'nock';
import { contextNamespace, KubeCliClient, loadKubeConfig } from '../../src/cli/kube-client.ts';
import { ClusterError } from '../../src/cluster/port.ts';

const SERVER = 'https://k8s.cli.test';
const IDENTITIES = '/apis/mtls.dev/v1alpha1';

/** A token user and skipTLSVerify: nock cannot intercept undici once a CA or client cert is set. */
function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: SERVER, skipTLSVerify: true }],
    users: [{ name: 'test', token: 'test-token' }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test', namespace: 'team-a' }],
    currentContext: 'test',
  });
  return kc;
}

const identity = (namespace: string, name: string) => ({
  apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity',
  metadata: { name, namespace, uid: `u-${name}`, managedFields: [{ manager: 'x' }] }, spec: {},
});
const notFound = (what: string) => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${what} not found` });
const parse = (body: unknown) => (typeof body === 'string' ? JSON.parse(body) : body) as Record<string, unknown>;

describe('KubeCliClient (client-node, against nock)', () => {
  let client: KubeCliClient;
  beforeEach(() => {
    nock.disableNetConnect();
    client = new KubeCliClient(kubeConfig(), 5_000);
  });
  afterEach(() => {
    const pending = nock.pendingMocks();
    nock.cleanAll();
    nock.enableNetConnect();
    assert.deepEqual(pending, [], 'every expected request was made');
  });

  it('the context namespace is the default', () => {
    assert.equal(contextNamespace(kubeConfig()), 'team-a');
  });

  it('getIdentity: the object (managedFields dropped); 404 is undefined', async () => {
    nock(SERVER)
      .get(`${IDENTITIES}/namespaces/team-a/mutualtlsidentities/web`).matchHeader('authorization', 'Bearer test-token').reply(200, identity('team-a', 'web'))
      .get(`${IDENTITIES}/namespaces/team-a/mutualtlsidentities/nope`).reply(404, notFound('nope'));
    const got = await client.getIdentity('team-a', 'web');
    assert.equal(got?.metadata.name, 'web');
    assert.equal((got?.metadata as unknown as Record<string, unknown>).managedFields, undefined);
    assert.equal(await client.getIdentity('team-a', 'nope'), undefined);
  });

  it('listIdentities: all namespaces with a label selector, following continue tokens', async () => {
    nock(SERVER)
      .get(`${IDENTITIES}/mutualtlsidentities`).query({ labelSelector: 'tier=back', limit: '500' })
      .reply(200, { items: [identity('a', 'x')], metadata: { continue: 'page2' } })
      .get(`${IDENTITIES}/mutualtlsidentities`).query({ labelSelector: 'tier=back', limit: '500', continue: 'page2' })
      .reply(200, { items: [identity('b', 'y')], metadata: {} })
      .get(`${IDENTITIES}/namespaces/team-a/mutualtlsidentities`).query({ limit: '500' })
      .reply(200, { items: [identity('team-a', 'z')], metadata: {} });
    const all = await client.listIdentities({ labelSelector: 'tier=back' });
    assert.deepEqual(all.map((i) => `${i.metadata.namespace}/${i.metadata.name}`), ['a/x', 'b/y']);
    assert.deepEqual((await client.listIdentities({ namespace: 'team-a' })).map((i) => i.metadata.name), ['z']);
  });

  it('patchIdentityAnnotations: a JSON merge patch of the annotations, content type explicit', async () => {
    let sent: unknown;
    nock(SERVER)
      .patch(`${IDENTITIES}/namespaces/team-a/mutualtlsidentities/web`, (body) => {
        sent = parse(body);
        return true;
      })
      .query({ fieldManager: 'kubectl-mtls' })
      .matchHeader('content-type', 'application/merge-patch+json')
      .reply(200, identity('team-a', 'web'));
    await client.patchIdentityAnnotations('team-a', 'web', { 'mtls.dev/renew-request': '2026-03-01T12:00:00.000Z' });
    assert.deepEqual(sent, { metadata: { annotations: { 'mtls.dev/renew-request': '2026-03-01T12:00:00.000Z' } } });
  });

  it('patchSecretAnnotations: merge patch, null removes', async () => {
    let sent: unknown;
    nock(SERVER)
      .patch('/api/v1/namespaces/mtls-system/secrets/mtls-root-ca', (body) => {
        sent = parse(body);
        return true;
      })
      .query(true)
      .matchHeader('content-type', 'application/merge-patch+json')
      .reply(200, { metadata: { name: 'mtls-root-ca', namespace: 'mtls-system' } });
    await client.patchSecretAnnotations('mtls-system', 'mtls-root-ca', { 'mtls.dev/rotate-to': 'generate', 'mtls.dev/rotation-abort': null });
    assert.deepEqual(sent, { metadata: { annotations: { 'mtls.dev/rotate-to': 'generate', 'mtls.dev/rotation-abort': null } } });
  });

  it('getSecret, createSecret (409 is a ClusterError), getConfigMap (404 is undefined)', async () => {
    nock(SERVER)
      .get('/api/v1/namespaces/team-a/secrets/web-mtls').reply(200, { metadata: { name: 'web-mtls', namespace: 'team-a' }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'eA==' } })
      .post('/api/v1/namespaces/mtls-system/secrets').query({ fieldManager: 'kubectl-mtls' })
      .reply(409, { kind: 'Status', reason: 'AlreadyExists', code: 409, message: 'secrets "mtls-root-ca" already exists' })
      .get('/api/v1/namespaces/mtls-system/configmaps/mtls-trust-rotation').reply(404, notFound('configmap'));
    const s = await client.getSecret('team-a', 'web-mtls');
    assert.deepEqual(s?.data, { 'tls.crt': 'eA==' });
    await assert.rejects(client.createSecret({ metadata: { name: 'mtls-root-ca', namespace: 'mtls-system' }, type: 'kubernetes.io/tls', data: {} }), (err: Error) => {
      assert.ok(ClusterError.isConflict(err));
      assert.equal(err.message, 'POST secrets/mtls-system/mtls-root-ca: 409 Conflict: secrets "mtls-root-ca" already exists');
      return true;
    });
    assert.equal(await client.getConfigMap('mtls-system', 'mtls-trust-rotation'), undefined);
  });

  it('listEvents: fieldSelector on the involved object; summaries', async () => {
    nock(SERVER)
      .get('/api/v1/namespaces/team-a/events')
      .query({ fieldSelector: 'involvedObject.kind=MutualTLSIdentity,involvedObject.name=web' })
      .reply(200, { items: [{ metadata: { name: 'web.1' }, type: 'Normal', reason: 'Issued', message: 'Issued certificate serial 01', count: 2, lastTimestamp: '2026-03-01T11:59:00Z' }] });
    assert.deepEqual(await client.listEvents('team-a', { kind: 'MutualTLSIdentity', name: 'web' }), [
      { type: 'Normal', reason: 'Issued', message: 'Issued certificate serial 01', count: 2, lastSeen: '2026-03-01T11:59:00Z' },
    ]);
  });

  it('a server error is one line naming the call', async () => {
    nock(SERVER).get(`${IDENTITIES}/namespaces/team-a/mutualtlsidentities/web`).reply(403, { kind: 'Status', reason: 'Forbidden', code: 403, message: 'mutualtlsidentities.mtls.dev "web" is forbidden: User "dev" cannot get resource' });
    await assert.rejects(client.getIdentity('team-a', 'web'), /^ClusterError: GET mutualtlsidentities\/team-a\/web: 403 Forbidden: mutualtlsidentities.mtls.dev "web" is forbidden/);
  });

  it('loadKubeConfig: the file must load and --context must exist', () => {
    assert.throws(() => loadKubeConfig({ kubeconfig: '/nonexistent/kubeconfig' }), /^Error: cannot load kubeconfig \/nonexistent\/kubeconfig: ENOENT/);
    const dir = mkdtempSync(join(tmpdir(), 'mtls-cli-kc-'));
    try {
      const file = join(dir, 'config');
      writeFileSync(file, kubeConfig().exportConfig());
      assert.equal(contextNamespace(loadKubeConfig({ kubeconfig: file, context: 'test' })), 'team-a');
      assert.throws(() => loadKubeConfig({ kubeconfig: file, context: 'prod' }), /^Error: context "prod" is not in the kubeconfig$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
