/**
 * The signer in the controller (src/controller/podcert.ts, cluster-trust-bundle.ts) over the in-memory cluster and a
 * fake pod-certificate port that keeps resourceVersions like the API server: one answer per request, none when
 * someone answered first, Failed without a CA, off (one log line) where the API is not there. What the real API
 * server accepts is test/real/podcert.test.ts.
 */
import assert from 'node:assert/strict';
import { webcrypto, X509Certificate } from 'node:crypto';
import { POD_SIGNER_NAME, type ClusterTrustBundle, type PodCertificateRequest } from '../../src/api/podcert-types.ts';
import { systemClock } from '../../src/clock.ts';
import { MemoryCluster } from '../../src/cluster/memory.ts';
import { ClusterError, type PodCertificateCluster } from '../../src/cluster/port.ts';
import { CTB_NAME } from '../../src/controller/cluster-trust-bundle.ts';
import { Controller } from '../../src/controller/controller.ts';
import { silentLogger } from '../../src/log.ts';
import { generateRootCA } from '../../src/pki/index.ts';
import { x509 } from '../../src/pki/x509.ts';
import { caSecret, CA_NAME, CA_NS } from '../support/harness.ts';

class FakePods implements PodCertificateCluster {
  readonly requests = new Map<string, PodCertificateRequest>();
  readonly bundles = new Map<string, ClusterTrustBundle>();
  /** Our successful status writes, by key. */
  readonly writes: string[] = [];
  /** The next status write finds the request answered by someone else (409). */
  answeredElsewhere = false;
  /** The next status write fails as an overloaded API server would (500). */
  failNext = false;
  why: string | undefined;
  private rv = 100;
  private handlers?: { requestChanged(namespace: string, name: string): void };

  async unavailable() {
    return this.why;
  }
  async start(handlers: { requestChanged(namespace: string, name: string): void }) {
    this.handlers = handlers;
  }
  async stop() {}
  getRequest(namespace: string, name: string) {
    return this.requests.get(`${namespace}/${name}`);
  }
  listRequests() {
    return [...this.requests.values()];
  }
  async updateRequestStatus(r: PodCertificateRequest) {
    const key = `${r.metadata.namespace}/${r.metadata.name}`;
    const cur = this.requests.get(key);
    if (!cur) throw new ClusterError(404, 'NotFound', 'gone');
    if (this.failNext) {
      this.failNext = false;
      throw new ClusterError(500, 'InternalError', 'PUT podcertificaterequests/dev/x/status: etcdserver: request timed out');
    }
    if (this.answeredElsewhere) {
      this.answeredElsewhere = false;
      this.requests.set(key, { ...cur, metadata: { ...cur.metadata, resourceVersion: String(++this.rv) }, status: { conditions: [{ type: 'Denied', status: 'True', reason: 'Other', message: 'another signer', lastTransitionTime: new Date().toISOString() }] } });
      throw new ClusterError(409, 'Conflict', 'the object has been modified');
    }
    if (cur.metadata.resourceVersion !== r.metadata.resourceVersion) throw new ClusterError(409, 'Conflict', 'the object has been modified');
    this.writes.push(key);
    this.requests.set(key, { ...r, metadata: { ...r.metadata, resourceVersion: String(++this.rv) } });
  }
  async getBundle(name: string) {
    return this.bundles.get(name);
  }
  async createBundle(b: ClusterTrustBundle) {
    if (this.bundles.has(b.metadata.name)) throw new ClusterError(409, 'AlreadyExists', 'exists');
    this.bundles.set(b.metadata.name, { ...b, metadata: { ...b.metadata, resourceVersion: String(++this.rv) } });
  }
  async updateBundle(b: ClusterTrustBundle) {
    if (this.bundles.get(b.metadata.name)?.metadata.resourceVersion !== b.metadata.resourceVersion) throw new ClusterError(409, 'Conflict', 'changed');
    this.bundles.set(b.metadata.name, { ...b, metadata: { ...b.metadata, resourceVersion: String(++this.rv) } });
  }
  /** A request arrives (as a watch event would bring it). */
  async add(name: string, sa = 'web'): Promise<string> {
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
    this.requests.set(`dev/${name}`, {
      metadata: { name, namespace: 'dev', uid: `uid-${name}`, resourceVersion: String(++this.rv) },
      spec: { signerName: POD_SIGNER_NAME, podName: 'p', podUID: 'u', serviceAccountName: sa, serviceAccountUID: 's', nodeName: 'n', nodeUID: 'nu', maxExpirationSeconds: 86_400, stubPKCS10Request: Buffer.from(csr.rawData).toString('base64') },
    });
    this.handlers?.requestChanged('dev', name);
    return Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey)).toString('base64');
  }
}

describe('the pod-certificate signer in the controller (in-memory)', function () {
  this.timeout(30_000);
  let controller: Controller | undefined;
  afterEach(async () => {
    await controller?.stop(100);
    controller = undefined;
  });

  async function start(opts: { ca?: boolean; why?: string } = {}) {
    const cluster = new MemoryCluster({ caNamespace: CA_NS, caName: CA_NAME });
    if (opts.ca !== false) cluster.putSecret(caSecret(await generateRootCA({ now: new Date(Date.now() - 86_400_000) })));
    const pods = new FakePods();
    pods.why = opts.why;
    const logger = silentLogger();
    const infos: string[] = [];
    logger.info = ((msg: string) => (infos.push(msg), logger)) as never;
    controller = new Controller({
      cluster, pods, clock: systemClock, logger,
      config: { trustDomain: 'cluster.local', operatorNamespace: CA_NS, caSecretName: CA_NAME, bootstrapCA: false, workers: 2, baseBackoffMs: 20, maxBackoffMs: 200, reissuePerSecond: 1000 },
    });
    await controller.start();
    await controller.idle(2);
    return { cluster, pods, infos };
  }
  const condition = (r: PodCertificateRequest | undefined) => r?.status?.conditions?.[0];

  it('issues once to the request\'s key; a second look writes nothing; publishes the ClusterTrustBundle', async () => {
    const { cluster, pods } = await start();
    const spki = await pods.add('r1');
    await controller!.idle(2);
    const r = pods.getRequest('dev', 'r1')!;
    assert.equal(condition(r)?.type, 'Issued');
    const leaf = new X509Certificate(r.status!.certificateChain!);
    assert.equal(leaf.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'), spki);
    assert.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/dev/sa/web');
    assert.deepEqual(pods.writes, ['dev/r1']);
    assert.ok(cluster.events.some((e) => e.about.kind === 'PodCertificateRequest' && e.about.name === 'r1' && e.type === 'Normal' && e.reason === 'Issued'));
    controller!.handlers.resynced!();
    controller!.queue.add('dev/@pcr:r1');
    await controller!.idle(2);
    assert.deepEqual(pods.writes, ['dev/r1'], 'never signed twice');
    const ctb = pods.bundles.get(CTB_NAME)!;
    assert.equal(ctb.spec.signerName, POD_SIGNER_NAME);
    assert.match(ctb.spec.trustBundle, /BEGIN CERTIFICATE/);
  });

  it('a request answered by someone else between our read and our write (409) is not signed on the retry', async () => {
    const { pods } = await start();
    pods.answeredElsewhere = true;
    await pods.add('r2');
    await controller!.idle(2);
    await new Promise((r) => setTimeout(r, 300)); // past the retry backoff
    await controller!.idle(2);
    assert.equal(condition(pods.getRequest('dev', 'r2'))?.reason, 'Other');
    assert.deepEqual(pods.writes, []);
  });

  it('a failed write is retried, and the request carries a Warning Event saying why it waits', async () => {
    const { cluster, pods } = await start();
    pods.failNext = true;
    await pods.add('r5');
    await controller!.idle(2);
    await new Promise((r) => setTimeout(r, 300));
    await controller!.idle(2);
    assert.equal(condition(pods.getRequest('dev', 'r5'))?.type, 'Issued');
    assert.deepEqual(pods.writes, ['dev/r5']);
    const ev = cluster.events.find((e) => e.about.name === 'r5' && e.reason === 'AnswerDelayed');
    assert.equal(ev?.type, 'Warning');
    assert.match(ev!.message, /etcdserver: request timed out/);
  });

  it('no CA: Failed CANotReady, with a Warning Event', async () => {
    const { cluster, pods } = await start({ ca: false });
    await pods.add('r3');
    await controller!.idle(2);
    const c = condition(pods.getRequest('dev', 'r3'));
    assert.deepEqual([c?.type, c?.reason], ['Failed', 'CANotReady']);
    assert.equal(pods.getRequest('dev', 'r3')!.status!.certificateChain, undefined);
    assert.ok(cluster.events.some((e) => e.about.name === 'r3' && e.type === 'Warning' && e.reason === 'CANotReady'));
  });

  it('where the API is not there: off, said in one log line, nothing watched', async () => {
    const { pods, infos } = await start({ why: 'the cluster does not serve podcertificaterequests' });
    assert.equal(controller!.signer, undefined);
    assert.equal(infos.filter((m) => m === 'pod certificate signer off').length, 1);
    await pods.add('r4');
    await controller!.idle(2);
    assert.equal(pods.getRequest('dev', 'r4')!.status, undefined);
    assert.equal(pods.bundles.size, 0);
  });
});
