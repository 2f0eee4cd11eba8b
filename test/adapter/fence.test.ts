/**
 * The write fence, cancellation and timeouts of KubeCluster's requests, against a real local HTTP
 * server (not nock: what matters here is what reaches the socket, and whether the connection of
 * a cancelled request is really closed).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import nock from 'nock';
import { shareDispatcher } from '../../src/adapter/dispatcher.ts';
import { KubeCluster } from '../../src/adapter/kube.ts';
import { KubeLeaseClient } from '../../src/adapter/lease.ts';
import { notLeader, type WriteFence } from '../../src/adapter/timing.ts';
import { ClusterError } from '../../src/cluster/port.ts';
import { configMap, secret, testKubeConfig, testLogger } from './helpers.ts';

interface Seen {
  method: string;
  url: string;
  closedEarly: boolean;
}

/** Answers every request with `{}` (or a Status 404 for GET .../missing); `hold` paths never answer. */
class LocalServer {
  readonly seen: Seen[] = [];
  hold = /\/slow/;
  private server = http.createServer((req, res) => {
    const entry: Seen = { method: req.method ?? '', url: req.url ?? '', closedEarly: false };
    this.seen.push(entry);
    res.on('close', () => {
      if (!res.writableFinished) entry.closedEarly = true;
    });
    req.resume();
    if (this.hold.test(entry.url)) return;
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x', namespace: 'team-a', resourceVersion: '1' } }));
    });
  });

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  writes(): Seen[] {
    return this.seen.filter((s) => s.method !== 'GET');
  }
}

async function waitFor(cond: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Every write KubeCluster can make, once each. */
function everyWrite(c: KubeCluster): Array<[string, () => Promise<unknown>]> {
  const s = secret('team-a', 'web-tls', '1');
  delete s.metadata.resourceVersion;
  return [
    ['applySecret', () => c.applySecret(s)],
    ['createSecret', () => c.createSecret(s)],
    ['patchIdentityStatus', () => c.patchIdentityStatus('team-a', 'web', { conditions: [] })],
    ['patchSecretAnnotations', () => c.patchSecretAnnotations('team-a', 'web-tls', { a: 'b' })],
    ['patchWorkloadTemplate', () => c.patchWorkloadTemplate('team-a', { kind: 'Deployment', name: 'web' }, { a: 'b' })],
    ['applyConfigMap', () => c.applyConfigMap(configMap('team-a', 'mtls-trust-bundle', '1'))],
    ['deleteConfigMap', () => c.deleteConfigMap('team-a', 'mtls-trust-bundle')],
    ['recordEvent', () => c.recordEvent({ apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity', namespace: 'team-a', name: 'web' }, 'Normal', 'Issued', 'issued')],
  ];
}

describe('KubeCluster: write fence, cancellation and timeouts (local HTTP server)', () => {
  let server: LocalServer;
  let url: string;
  let cluster: KubeCluster | undefined;

  before(() => nock.enableNetConnect('127.0.0.1'));
  beforeEach(async () => {
    server = new LocalServer();
    url = await server.listen();
  });
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
    await server.close();
  });

  function make(extra: { fence?: WriteFence; signal?: AbortSignal; requestTimeoutMs?: number } = {}, kubeConfig = testKubeConfig(url)): KubeCluster {
    cluster = new KubeCluster({
      kubeConfig,
      operatorNamespace: 'mtls-system',
      caSecretName: 'mtls-root-ca',
      logger: testLogger(),
      ...extra,
    });
    return cluster;
  }

  it('every write passes the fence: with it open each reaches the server, closed none does (reads still go)', async () => {
    let open = true;
    const asked: string[] = [];
    const c = make({ fence: { assertWritable: (op) => { asked.push(op); if (!open) throw notLeader(op, 'this process is not the leader'); } } });
    for (const [name, write] of everyWrite(c)) await write().catch((err: Error) => assert.fail(`${name}: ${err.message}`));
    assert.equal(server.writes().length, 8, server.writes().map((w) => `${w.method} ${w.url}`).join('\n'));
    assert.ok(asked.length >= 8);
    open = false;
    const before = server.seen.length;
    for (const [name, write] of everyWrite(c)) {
      const err = await write().then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof ClusterError, name);
      assert.equal(err.reason, 'NotLeader', name);
      assert.match(err.message, /: not sent: this process is not the leader$/, name);
    }
    assert.equal(server.seen.length, before, 'no request reached the server');
    await c.getSecret('team-a', 'other');
    assert.equal(server.seen.length, before + 1, 'reads are not fenced');
  });

  it('the fence is asked again right before the request leaves: a process that lost it in between sends nothing', async () => {
    let calls = 0;
    // Open at the first question (callApi), closed at the second (the middleware before fetch):
    // as for a process frozen between deciding to write and writing.
    const c = make({ fence: { assertWritable: (op) => { if (calls++ % 2 === 1) throw notLeader(op, 'the last renewal is too old'); } } });
    const err = await c.applySecret(secret('team-a', 'web-tls', '1')).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ClusterError && err.reason === 'NotLeader', String(err));
    assert.equal(calls, 2);
    assert.equal(server.seen.length, 0);
  });

  it('last gate: the shared dispatcher asks again as undici starts writing; a closed gate sends no write, reads and the Lease still go', async () => {
    const kc = testKubeConfig(url);
    let open = true;
    const gated: string[] = [];
    assert.equal(shareDispatcher(kc, { beforeWrite: (op) => { gated.push(op); if (!open) throw notLeader(op, 'the last renewal is too old'); } }), true);
    const c = make({}, kc); // no fence at the callApi level: only the dispatcher's gate
    await c.applySecret(secret('team-a', 'web-tls', '1'));
    assert.deepEqual(gated, ['PATCH /api/v1/namespaces/team-a/secrets/web-tls']);
    open = false;
    const before = server.seen.length;
    for (const [name, write] of everyWrite(c)) {
      const err = await write().then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof ClusterError && err.reason === 'NotLeader', `${name}: ${String(err)}`);
      assert.match(err.message, /^(POST|PATCH|DELETE) \/api.*: not sent: the last renewal is too old$/);
    }
    assert.equal(server.seen.length, before, 'no write reached the server');
    await c.getSecret('team-a', 'other');
    const lease = new KubeLeaseClient(kc, 2_000);
    await lease.update('mtls-system', 'mtls-operator', { holderIdentity: 'a', leaseDurationSeconds: 60, acquireTime: 0, renewTime: 0, leaseTransitions: 0, resourceVersion: '1' }).catch(() => undefined);
    assert.deepEqual(server.seen.slice(before).map((r) => r.method), ['GET', 'PUT'], 'a read and the Lease are not gated');
  });

  it('the Lease has its own last gate: asked for its writes as undici writes them; closed, no Lease write leaves, its read does', async () => {
    const kc = testKubeConfig(url);
    let open = true;
    const gated: string[] = [];
    assert.equal(shareDispatcher(kc, { beforeLeaseWrite: (op) => { gated.push(op); if (!open) throw notLeader(op, 'the renew deadline passed while the Lease write waited'); } }), true);
    const lease = new KubeLeaseClient(kc, 2_000);
    const record = { holderIdentity: 'a', leaseDurationSeconds: 60, acquireTime: 0, renewTime: 0, leaseTransitions: 0, resourceVersion: '1' };
    await lease.update('mtls-system', 'mtls-operator', record).catch(() => undefined);
    assert.deepEqual(gated, ['PUT /apis/coordination.k8s.io/v1/namespaces/mtls-system/leases/mtls-operator']);
    assert.deepEqual(server.seen.map((r) => r.method), ['PUT']);
    open = false;
    for (const write of [() => lease.update('mtls-system', 'mtls-operator', record), () => lease.create('mtls-system', 'mtls-operator', record)]) {
      const err = await write().then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof ClusterError && err.reason === 'NotLeader', String(err));
      assert.match(err.message, /^(PUT|POST) \/apis\/coordination.*: not sent: the renew deadline passed while the Lease write waited$/);
    }
    await lease.get('mtls-system', 'mtls-operator').catch(() => undefined);
    assert.deepEqual(server.seen.map((r) => r.method), ['PUT', 'GET'], 'no Lease write left; the read did');
    const c = make({}, kc);
    await c.applySecret(secret('team-a', 'web-tls', '1'));
    assert.equal(server.seen.at(-1)?.method, 'PATCH', 'other writes are not asked the Lease\'s question');
  });

  it('the leadership signal cancels a write in flight (the connection is closed) and refuses the next at once', async () => {
    const lost = new AbortController();
    const c = make({ signal: lost.signal });
    const s = secret('team-a', 'slow', '1');
    const pending = c.applySecret(s).then(() => undefined, (e: unknown) => e);
    await waitFor(() => server.seen.length === 1);
    const t0 = performance.now();
    lost.abort(new Error('leadership lost: not renewed within 40000 ms'));
    const err = await pending;
    assert.ok(performance.now() - t0 < 500, 'cancelled at once');
    assert.ok(err instanceof ClusterError);
    assert.equal(err.reason, 'Cancelled');
    assert.equal(err.message, 'PATCH secrets/team-a/slow: cancelled (leadership lost: not renewed within 40000 ms)');
    await waitFor(() => server.seen[0]!.closedEarly);
    const next = await c.createSecret(secret('team-a', 'web', '1')).then(() => undefined, (e: unknown) => e);
    assert.ok(next instanceof ClusterError && next.reason === 'Cancelled');
    assert.equal(server.seen.length, 1, 'nothing sent after the signal');
  });

  it('stop() cancels every request in flight', async () => {
    const c = make();
    const pending = c.getSecret('team-a', 'slow').then(() => undefined, (e: unknown) => e);
    await waitFor(() => server.seen.length === 1);
    await c.stop();
    cluster = undefined;
    const err = await pending;
    assert.ok(err instanceof ClusterError && err.reason === 'Cancelled', String(err));
    await waitFor(() => server.seen[0]!.closedEarly);
  });

  it('a request with no answer fails after requestTimeoutMs, and its connection is closed', async () => {
    const c = make({ requestTimeoutMs: 100 });
    const err = await c.getSecret('team-a', 'slow').then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ClusterError);
    assert.equal(err.reason, 'Timeout');
    assert.equal(err.message, 'GET secrets/team-a/slow: no answer within 100 ms');
    await waitFor(() => server.seen[0]!.closedEarly);
  });
});
