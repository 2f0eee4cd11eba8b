/**
 * The signer in the controller (src/controller/podcert.ts, cluster-trust-bundle.ts) over the in-memory cluster and a
 * fake pod-certificate port that keeps resourceVersions like the API server: one answer per request, none when
 * someone answered first, Failed without a CA, off (one log line) where the API is not there. What the real API
 * server accepts is test/real/podcert.test.ts.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { POD_SIGNER_NAME, type PodCertificateRequest } from '../../src/api/podcert-types.ts';
import { systemClock } from '../../src/clock.ts';
import { MemoryCluster } from '../../src/cluster/memory.ts';
import { CTB_NAME } from '../../src/controller/cluster-trust-bundle.ts';
import { Controller } from '../../src/controller/controller.ts';
import { silentLogger } from '../../src/log.ts';
import { generateRootCA } from '../../src/pki/index.ts';
import { caSecret, CA_NAME, CA_NS, startHarness, type Harness } from '../support/harness.ts';
import { FakePods } from '../support/fake-pods.ts';

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

describe('the signer\'s pace: one token bucket with Secret re-issues (--reissue-rate)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('requests that arrive while a CA change re-issues Secrets wait for slots after theirs, spaced at the rate', async () => {
    const RATE = 2;
    const pods = new FakePods();
    h = await startHarness({ pods, config: { reissuePerSecond: RATE } });
    for (let i = 0; i < 4; i++) h.identity(`id${i}`, { duration: '2h' });
    await h.settle();
    const newRoot = await generateRootCA({ now: new Date(h.time.now() - 3_600_000) });
    const root = new X509Certificate(newRoot.certPem);
    h.cluster.putSecret(caSecret(newRoot));
    await h.settle();
    const reissued = () => [0, 1, 2, 3].filter((i) => h!.leaf(`id${i}-mtls`)!.checkIssued(root)).length;
    // The burst (2) went to two re-issues; the other two hold slots at +0.5 s and +1 s.
    assert.equal(reissued(), 2);
    await pods.add('r1');
    await pods.add('r2');
    await h.settle();
    const answered = () => ['r1', 'r2'].filter((n) => pods.getRequest('dev', n)?.status?.conditions?.length).length;
    assert.equal(answered(), 0, 'the requests queue behind the re-issues: the bucket is in debt');
    await h.advance(1100);
    assert.deepEqual([reissued(), answered()], [4, 0], 'at 1.1 s: the re-issues had their slots, the requests\' (1.5 s, 2 s) have not come');
    await h.advance(500);
    assert.equal(answered(), 1, 'at 1.6 s: one request');
    await h.advance(500);
    assert.equal(answered(), 2, 'at 2.1 s: both');
    assert.deepEqual(pods.writes, ['dev/r1', 'dev/r2'], 'each answered once');
  });
});
