/**
 * Issue 11 ("cache only what decisions need; leaf facts parsed once"): once a reconcile knows the facts of a Secret
 * version, the cache drops its tls.crt and tls.key; what needs the PEMs again reads the Secret whole, once.
 */
import assert from 'node:assert/strict';
import { webcrypto, X509Certificate } from 'node:crypto';
import { CA_CRT, TLS_CRT, TLS_KEY, type Secret } from '../../src/api/types.ts';
import { factsCount, knownFacts, leafParses } from '../../src/controller/leaf-facts.ts';
import { b64, unb64 } from '../../src/controller/secret.ts';
import { generateRootCA } from '../../src/pki/index.ts';
import { x509 } from '../../src/pki/x509.ts';
import { caSecret, startHarness, type Harness } from '../support/harness.ts';
import { Writable } from 'node:stream';
import { WatchRouter } from '../../src/controller/watch-router.ts';
import { createLogger } from '../../src/log.ts';

function edited(s: Secret, data: Record<string, string>): Secret {
  return { ...structuredClone(s), data: { ...s.data, ...data } };
}

describe('issued Secrets: facts once per version, key pairs dropped from the cache (issue 11)', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it('after issuance the cache holds no key pair and nothing is parsed or read to keep it; a restart inspects each Secret once again', async () => {
    h = await startHarness();
    for (let i = 0; i < 5; i++) h.identity(`id${i}`, { duration: '24h' });
    await h.settle();
    const cached = await h.cluster.getSecret('dev', 'id0-mtls');
    assert.equal(cached?.data?.[TLS_CRT], undefined);
    assert.equal(cached?.data?.[TLS_KEY], undefined);
    assert.equal(unb64(cached?.data?.[CA_CRT]), h.root.certPem, 'the bundle stays');
    assert.ok(unb64(h.secret('id0-mtls')?.data?.[TLS_KEY])?.includes('PRIVATE KEY'), 'the API server still holds the key pair');
    assert.equal(factsCount(h.cluster), 5);

    const parses = leafParses.count;
    const reads = h.cluster.wholeReads;
    const writes = h.cluster.writes.length;
    await h.advance(60 * 60_000); // resync-like: every identity looked at again
    h.controller.enqueueAll();
    await h.settle();
    assert.equal(leafParses.count - parses, 0, 'nothing parsed: the facts of each version are known');
    assert.equal(h.cluster.wholeReads - reads, 0, 'nothing read whole');
    assert.equal(h.cluster.writes.length - writes, 0);

    // A restart: a new process over the same API server knows nothing, and its cache starts whole.
    const serials = [0, 1, 2, 3, 4].map((i) => h.leaf(`id${i}-mtls`)!.serialNumber);
    await h.stop();
    h = await startHarness({ cluster: h.cluster, time: h.time, root: h.root });
    // Each Secret inspected as its list page arrived, with the CA's verdict from the CA certificates read before the
    // list (ClusterHandlers.trustSynced): one parse each, and no read of a Secret whole.
    assert.equal(leafParses.count - parses, 5, 'each Secret inspected once, on arrival, with the verdict');
    assert.equal(h.cluster.wholeReads - reads, 0);
    assert.equal(h.cluster.writes.length - writes, 0, 'a restart writes nothing');
    assert.deepEqual([0, 1, 2, 3, 4].map((i) => h.leaf(`id${i}-mtls`)!.serialNumber), serials);
    assert.equal((await h.cluster.getSecret('dev', 'id3-mtls'))?.data?.[TLS_CRT], undefined, 'dropped again');
  });

  it('a Secret edited by hand arrives whole and is healed; a trust bundle change reads each Secret whole once to rewrite it', async () => {
    h = await startHarness();
    h.identity('web', { duration: '24h' });
    h.identity('api', { duration: '24h' });
    await h.settle();
    const serial = h.leaf('web-mtls')!.serialNumber;
    const other = (await generateRootCA({ now: new Date(h.time.now()) }));
    // tls.key replaced by another key: a new version, whole, so the mismatch is seen.
    const foreignKey = (await generateRootCA({ now: new Date(h.time.now()) })).keyPem;
    h.cluster.putSecret(edited(h.secret('web-mtls')!, { [TLS_KEY]: b64(foreignKey) }));
    await h.settle();
    const healed = h.leaf('web-mtls')!;
    assert.notEqual(healed.serialNumber, serial, 're-issued');
    assert.ok(healed.checkPrivateKey((await import('node:crypto')).createPrivateKey(unb64(h.secret('web-mtls')!.data![TLS_KEY])!)));

    // The CA Secret gains a second root in its bundle: each Secret's ca.crt is rewritten, with its own key pair.
    const reads = h.cluster.wholeReads;
    const before = { web: h.secret('web-mtls')!.data!, api: h.secret('api-mtls')!.data! };
    const ca = caSecret(h.root);
    ca.data![CA_CRT] = b64(h.root.certPem + other.certPem);
    h.cluster.putSecret({ ...ca, metadata: { ...ca.metadata, resourceVersion: undefined } } as Secret);
    await h.settle();
    await h.advance(5_000);
    for (const name of ['web', 'api'] as const) {
      const now = h.secret(`${name}-mtls`)!.data!;
      assert.equal(unb64(now[CA_CRT]), h.root.certPem + other.certPem, `${name}: the new bundle`);
      assert.equal(now[TLS_CRT], before[name][TLS_CRT], `${name}: the same certificate`);
      assert.equal(now[TLS_KEY], before[name][TLS_KEY], `${name}: the same key`);
    }
    assert.equal(h.cluster.wholeReads - reads, 2, 'each Secret read whole once, for its write');
    assert.equal((await h.cluster.getSecret('dev', 'api-mtls'))?.data?.[TLS_KEY], undefined, 'and dropped again after it');
    assert.ok(new X509Certificate(unb64(h.secret('api-mtls')!.data![TLS_CRT])!).checkIssued(new X509Certificate(h.root.certPem)));
  });

  it('a trust bundle holding a root with no CA flag and no key identifier (as a version 1 root): a restart still parses each leaf once and reads none whole', async () => {
    h = await startHarness();
    for (let i = 0; i < 4; i++) h.identity(`id${i}`, { duration: '24h' });
    await h.settle();
    // A self-signed certificate without extensions: X509Certificate.ca is false, and with no subject key identifier
    // the leaf's authority key identifier cannot rule it out: only a verdict made from the leaf answers for it.
    const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const legacy = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01', name: 'CN=legacy root', notBefore: new Date(h.time.now() - 86_400_000), notAfter: new Date(h.time.now() + 365 * 86_400_000),
      keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' }, extensions: [],
    });
    assert.equal(new X509Certificate(legacy.toString('pem')).ca, false);
    const ca = caSecret(h.root);
    ca.data![CA_CRT] = b64(h.root.certPem + legacy.toString('pem') + '\n');
    h.cluster.putSecret({ ...ca, metadata: { ...ca.metadata, resourceVersion: undefined } } as Secret);
    await h.settle();
    await h.advance(5_000);
    assert.ok(unb64(h.secret('id0-mtls')!.data![CA_CRT])!.includes('-----BEGIN CERTIFICATE-----'), 'the new bundle is written');

    const parses = leafParses.count;
    const reads = h.cluster.wholeReads;
    await h.stop();
    h = await startHarness({ cluster: h.cluster, time: h.time, root: h.root });
    assert.equal(leafParses.count - parses, 4, 'one parse each');
    assert.equal(h.cluster.wholeReads - reads, 0, 'no Secret read whole for the legacy root\'s verdict');
  });

  it('once the start has loaded the CA, a Secret arriving while no CA signs keeps its leaf for the verdicts of the CA that comes back', async () => {
    h = await startHarness();
    h.identity('web', { duration: '24h' });
    await h.settle();
    const broken = caSecret(h.root);
    delete broken.data![TLS_KEY];
    h.cluster.putSecret({ ...broken, metadata: { ...broken.metadata, resourceVersion: undefined } } as Secret);
    await h.settle();
    // Someone labels the issued Secret: a new version arrives whole, while the CA does not load.
    const s = h.secret('web-mtls')!;
    h.cluster.putSecret({ ...structuredClone(s), metadata: { ...structuredClone(s.metadata), resourceVersion: undefined, labels: { ...s.metadata.labels, team: 'a' } } } as Secret);
    const cached = (await h.cluster.getSecret('dev', 'web-mtls'))!;
    assert.equal(cached.metadata.labels?.team, 'a');
    const f = knownFacts(h.cluster, 'dev/web', cached);
    assert.ok(f, 'inspected as it arrived');
    assert.ok(f.leafDer, 'its leaf kept: no verdict was made against the certificates read at the start');
    await h.settle();
  });

  it('keystores and a combined PEM keep their key pair in the cache (every look builds or checks them)', async () => {
    h = await startHarness();
    h.identity('pem', { duration: '24h', additionalOutputFormats: [{ type: 'CombinedPEM' }] });
    h.identity('plain', { duration: '24h' });
    await h.settle();
    const cached = await h.cluster.getSecret('dev', 'pem-mtls');
    assert.ok(cached?.data?.[TLS_KEY], 'kept');
    assert.ok(cached?.data?.['tls-combined.pem'], 'the combined PEM is written');
    assert.equal((await h.cluster.getSecret('dev', 'plain-mtls'))?.data?.[TLS_KEY], undefined, 'the same without outputs: dropped');

    // A restart's first list: the plain one is inspected and dropped as it arrives, the combined PEM's is kept whole.
    const reads = h.cluster.wholeReads;
    const writes = h.cluster.writes.length;
    await h.stop();
    h = await startHarness({ cluster: h.cluster, time: h.time, root: h.root });
    assert.ok((await h.cluster.getSecret('dev', 'pem-mtls'))?.data?.[TLS_KEY], 'kept across the restart');
    assert.equal((await h.cluster.getSecret('dev', 'plain-mtls'))?.data?.[TLS_KEY], undefined);
    assert.equal(h.cluster.wholeReads - reads, 0, 'nothing read whole');
    assert.equal(h.cluster.writes.length - writes, 0, 'nothing written');
  });

  it('a relist brings the same versions again: nothing is parsed or read whole, and the verdicts stay', async () => {
    h = await startHarness();
    for (let i = 0; i < 3; i++) h.identity(`id${i}`, { duration: '24h' });
    await h.settle();
    const parses = leafParses.count;
    const reads = h.cluster.wholeReads;
    await h.cluster.start(h.controller.handlers); // the memory cluster's list again: every Secret arrives once more
    assert.equal(leafParses.count - parses, 0, 'known versions are not inspected again');
    assert.equal((await h.cluster.getSecret('dev', 'id1-mtls'))?.data?.[TLS_KEY], undefined, 'still without the key pair');
    h.controller.enqueueAll();
    await h.settle();
    assert.equal(leafParses.count - parses, 0, 'the verdicts were kept: no leaf parsed for them');
    assert.equal(h.cluster.wholeReads - reads, 0);
  });

  it('an inspection that throws as a Secret arrives counts as false (kept whole), is logged without the Secret\'s data, and never reaches the watch', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
    const router = new WatchRouter({
      queue: { add() {} } as never, cluster: {} as never, ca: {} as never, config: { operatorNamespace: 'mtls-system' },
      logger: createLogger('info', sink), enqueueAll() {},
      factsOnArrival: () => { throw new Error('boom'); },
    });
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { namespace: 'dev', name: 'web-mtls' }, data: { [TLS_KEY]: b64('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n') } } as Secret;
    assert.equal(router.handlers.issuedSecretArrived!(secret), false);
    await new Promise((r) => setImmediate(r));
    assert.equal(lines.length, 1);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.deepEqual([entry.namespace, entry.name, entry.reason, entry.error], ['dev', 'web-mtls', 'InspectionFailed', 'boom']);
    assert.ok(!lines[0]!.includes(secret.data![TLS_KEY]!), 'no data in the log');
  });

  it('a Secret the identity no longer names is not inspected on arrival (its facts are the named one\'s)', async () => {
    h = await startHarness();
    h.identity('web', { duration: '24h', secretName: 'old-name' });
    await h.settle();
    const stale = h.secret('old-name')!;
    h.identity('web', { duration: '24h', secretName: 'new-name' });
    await h.settle();
    assert.ok(h.secret('new-name'), 'issued under the new name');
    // The old Secret is written again by someone (still owned by the identity): it arrives, and is left whole.
    const parses = leafParses.count;
    h.cluster.putSecret({ ...structuredClone(stale), metadata: { ...structuredClone(stale.metadata), resourceVersion: undefined, labels: { ...stale.metadata.labels, touched: 'yes' } } } as Secret);
    assert.equal(leafParses.count - parses, 0, 'not inspected');
    assert.ok((await h.cluster.getSecret('dev', 'old-name'))?.data?.[TLS_KEY], 'kept whole');
    await h.settle();
  });
});
