import assert from 'node:assert/strict';
import nock from 'nock';
import { KubeLeaseClient, microTime } from '../../src/adapter/lease.ts';
import { ClusterError } from '../../src/cluster/port.ts';
import { SERVER, status, testKubeConfig } from '../adapter/helpers.ts';

const PATH = '/apis/coordination.k8s.io/v1/namespaces/mtls-system/leases';
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0, 123);

function served(body: Record<string, unknown>, rv: string): object {
  const meta = body.metadata as Record<string, unknown>;
  return { ...body, metadata: { ...meta, uid: 'l-1', resourceVersion: rv, creationTimestamp: '2026-11-23T12:00:00Z' } };
}

function parse(body: unknown): Record<string, unknown> {
  return (typeof body === 'string' ? JSON.parse(body) : body) as Record<string, unknown>;
}

describe('KubeLeaseClient (client-node CoordinationV1Api over nock)', () => {
  let client: KubeLeaseClient;

  beforeEach(() => {
    nock.disableNetConnect();
    client = new KubeLeaseClient(testKubeConfig(), 2_000);
  });

  afterEach(() => {
    const pending = nock.pendingMocks();
    nock.cleanAll();
    nock.enableNetConnect();
    assert.deepEqual(pending, [], 'every expected request was made');
  });

  it('get: 404 is undefined; a Lease is read with its resourceVersion and times', async () => {
    nock(SERVER).get(`${PATH}/mtls-operator`).reply(404, status(404, 'NotFound'));
    assert.equal(await client.get('mtls-system', 'mtls-operator'), undefined);
    nock(SERVER).get(`${PATH}/mtls-operator`).reply(200, {
      apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
      metadata: { name: 'mtls-operator', namespace: 'mtls-system', resourceVersion: '41' },
      spec: { holderIdentity: 'pod-a_1234', leaseDurationSeconds: 60, acquireTime: '2026-11-23T12:00:00.123000Z', renewTime: '2026-11-23T12:00:15.000000Z', leaseTransitions: 3 },
    });
    assert.deepEqual(await client.get('mtls-system', 'mtls-operator'), {
      holderIdentity: 'pod-a_1234', leaseDurationSeconds: 60, acquireTime: T0, renewTime: Date.UTC(2026, 10, 23, 12, 0, 15), leaseTransitions: 3, resourceVersion: '41',
    });
  });

  it('create: POST of a Lease with microsecond times and no resourceVersion', async () => {
    let sent: Record<string, unknown> | undefined;
    nock(SERVER).post(PATH, (b) => ((sent = parse(b)), true)).reply(201, () => served(sent!, '1'));
    const lease = await client.create('mtls-system', 'mtls-operator', {
      holderIdentity: 'pod-a_1234', leaseDurationSeconds: 60, acquireTime: T0, renewTime: T0, leaseTransitions: 0, resourceVersion: 'stale',
    });
    assert.deepEqual(sent, {
      apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
      metadata: { name: 'mtls-operator', namespace: 'mtls-system' },
      spec: { holderIdentity: 'pod-a_1234', leaseDurationSeconds: 60, acquireTime: '2026-11-23T12:00:00.123000Z', renewTime: '2026-11-23T12:00:00.123000Z', leaseTransitions: 0 },
    });
    assert.equal(lease.resourceVersion, '1');
    assert.equal(lease.renewTime, T0);
  });

  it('update: PUT carrying the resourceVersion read; 409 is a ClusterError conflict', async () => {
    let sent: Record<string, unknown> | undefined;
    nock(SERVER).put(`${PATH}/mtls-operator`, (b) => ((sent = parse(b)), true)).reply(200, () => served(sent!, '42'));
    const renewed = await client.update('mtls-system', 'mtls-operator', {
      holderIdentity: 'pod-a_1234', leaseDurationSeconds: 60, acquireTime: T0, renewTime: T0 + 15_000, leaseTransitions: 0, resourceVersion: '41',
    });
    assert.equal((sent?.metadata as { resourceVersion?: string }).resourceVersion, '41');
    assert.equal((sent?.spec as { renewTime?: string }).renewTime, microTime(T0 + 15_000));
    assert.equal(renewed.resourceVersion, '42');

    nock(SERVER).put(`${PATH}/mtls-operator`).reply(409, status(409, 'Conflict', 'Operation cannot be fulfilled on leases.coordination.k8s.io "mtls-operator": the object has been modified'));
    const err = await client.update('mtls-system', 'mtls-operator', { ...renewed, resourceVersion: '41' }).catch((e: unknown) => e);
    assert.ok(ClusterError.isConflict(err), String(err));
    assert.match((err as Error).message, /^PUT leases\/mtls-system\/mtls-operator: 409 Conflict/);
  });

  it('update refuses to write without a resourceVersion (no blind overwrite)', async () => {
    await assert.rejects(client.update('mtls-system', 'mtls-operator', {
      holderIdentity: 'x', leaseDurationSeconds: 60, acquireTime: T0, renewTime: T0, leaseTransitions: 0,
    }), /no resourceVersion/);
  });

  it('microTime: six fractional digits, as the apiserver parses MicroTime', () => {
    assert.equal(microTime(T0), '2026-11-23T12:00:00.123000Z');
  });
});
