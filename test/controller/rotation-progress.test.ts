/**
 * The rotation's progress reads each issued leaf once per Secret version (issue 11): before, every rotation check
 * parsed and verified every leaf on the event loop (about 5 s of one core per check at 10,000 identities).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { setImmediate as tick } from 'node:timers/promises';
import { ROTATION_CONFIGMAP } from '../../src/controller/ca-source.ts';
import { ROTATION_KEY } from '../../src/controller/rotation.ts';
import { bundleCopies, issuedCopies, leafParses, leafProgress, leavesSignedBy, type IssuedCopy } from '../../src/controller/rotation-progress.ts';
import { Slicer } from '../../src/slice.ts';
import type { Cluster } from '../../src/cluster/port.ts';
import { CA_CRT, TLS_CRT, type MutualTLSIdentity, type Secret } from '../../src/api/types.ts';
import { generateRootCA } from '../../src/pki/index.ts';
import { openssl, tempDir } from '../pki/helpers.ts';
import { CA_NS, startHarness, type Harness } from '../support/harness.ts';

describe('rotation progress: leaf facts parsed once; the state write\'s echo', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it('the rotation parses nothing the reconciler knows; another CA reads and parses each leaf once; the answers are right', async () => {
    h = await startHarness();
    for (let i = 0; i < 12; i++) h.identity(`id${i}`, { duration: '2h' });
    await h.settle();
    const root = new X509Certificate(h.root.certPem);
    const other = new X509Certificate((await generateRootCA({ now: new Date(h.time.now()) })).certPem);
    const copies = await issuedCopies(h.cluster);
    assert.equal(copies.length, 12);
    const now = new Date(h.time.now());
    assert.ok(copies.every((c) => c.secret.data?.[TLS_CRT] === undefined && c.secret.data?.[CA_CRT] !== undefined), 'the cache dropped every key pair once its facts were known');
    const from = leafParses.count;
    const reads = h.cluster.wholeReads;
    const first = await leafProgress(h.cluster, copies, root, now);
    assert.equal(leafParses.count - from, 0, 'the facts of each issuance are known: nothing parsed');
    assert.deepEqual(await leafProgress(h.cluster, copies, root, now), first, 'the same answer');
    assert.equal(await leavesSignedBy(h.cluster, copies, root), 12);
    assert.equal(first.total, 12);
    assert.equal(first.onNewCA, 12);
    assert.equal(h.cluster.wholeReads - reads, 0);
    const byOther = await leafProgress(h.cluster, copies, other, now);
    assert.equal(byOther.onNewCA, 0);
    assert.ok(byOther.oldMaxNotAfter, 'leaves not on the other CA count as old ones');
    assert.equal(leafParses.count - from, 0, "another CA's key identifier is not the leaves' authority key identifier: nothing read or parsed");
    assert.equal(h.cluster.wholeReads - reads, 0);
    assert.equal(await leavesSignedBy(h.cluster, await issuedCopies(h.cluster), other), 0);
    // The same root renewed with its key (same subject, same key identifier): only the leaf can tell.
    const tmp = await tempDir();
    try {
      const keyFile = await tmp.file('root.key', h.root.keyPem);
      const renewed = await openssl(['req', '-x509', '-new', '-key', keyFile, '-subj', `/CN=${root.subject.replace(/^CN=/, '')}`, '-days', '30',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-addext', 'subjectKeyIdentifier=hash']);
      assert.equal(renewed.code, 0, renewed.stderr);
      const again = new X509Certificate(renewed.stdout);
      assert.notEqual(again.fingerprint256, root.fingerprint256);
      assert.equal((await leafProgress(h.cluster, copies, again, now)).onNewCA, 12, 'the renewed root verifies every leaf');
      assert.equal(leafParses.count - from, 12, 'each leaf parsed once for it');
      assert.equal(h.cluster.wholeReads - reads, 12, 'each read whole once: its key pair was gone from the cache');
      assert.equal(await leavesSignedBy(h.cluster, await issuedCopies(h.cluster), again), 12);
      assert.equal(leafParses.count - from, 12, 'asked again: nothing parsed');
      assert.equal(h.cluster.wholeReads - reads, 12);
    } finally {
      await tmp.cleanup();
    }
  });

  // The rotation writes its progress to the state ConfigMap and the watch brings that write back. Queueing the
  // rotation for it made a loop during a mass re-issue (write, echo, count, write: 2,146 state writes in one 500 s CA
  // change at 10,000 identities, issue 11). A change someone else made still queues it.
  it('the rotation\'s own state write does not queue the rotation again; a write by anyone else does', async () => {
    h = await startHarness();
    h.identity('a', { duration: '2h' });
    await h.settle();
    const queue = h.controller.queue;
    const added: string[] = [];
    const add = queue.add.bind(queue);
    queue.add = (key: string, due?: boolean, wake?: boolean) => {
      added.push(key);
      add(key, due, wake);
    };
    await h.controller.ca.refresh();
    await h.controller.rotation.save({ ...h.controller.ca.trust.record });
    await tick();
    await tick();
    assert.ok(h.cluster.getConfigMap(CA_NS, ROTATION_CONFIGMAP), 'the state was written');
    assert.deepEqual(added.filter((k) => k === ROTATION_KEY), [], 'its own write came back: the rotation is not queued');

    const cm = h.cluster.getConfigMap(CA_NS, ROTATION_CONFIGMAP)!;
    h.cluster.putConfigMap({ ...cm, metadata: { ...cm.metadata, annotations: { edited: 'by-hand' } } });
    await tick();
    await tick();
    assert.deepEqual(added.filter((k) => k === ROTATION_KEY), [ROTATION_KEY], 'an edit by someone else queues it');
  });

  it('counts the bundle copies that hold the current bundle, compared without decoding each one', async () => {
    h = await startHarness();
    for (let i = 0; i < 5; i++) h.identity(`id${i}`, { duration: '2h' });
    await h.settle();
    const copies = await issuedCopies(h.cluster);
    const bundle = h.controller.ca.current().ca!.bundlePem;
    const namespaces = new Set(h.cluster.listIdentities().map((i) => i.metadata.namespace)).size;
    const now = await bundleCopies(h.cluster, copies, bundle);
    assert.deepEqual(now, { total: 5 + namespaces, current: 5 + namespaces }, 'every Secret and bundle ConfigMap holds it');
    const other = await bundleCopies(h.cluster, copies, `${bundle}${h.root.certPem}`);
    assert.deepEqual(other, { total: 5 + namespaces, current: 0 }, 'a different bundle: none is current');
  });
});

/**
 * At 10,000 identities a rotation check walked every identity and Secret in one task (100-400 ms), and a CA replaced in
 * place parsed every leaf in one task (about 2 s): nothing else ran meanwhile, not the Lease, not a probe (issue 11).
 */
describe('rotation progress: long walks give the event loop back', () => {
  const N = 2_000;
  let copies: IssuedCopy[];
  let cluster: Cluster;
  let ca: X509Certificate;

  before(async () => {
    const root = await generateRootCA({ now: new Date() });
    ca = new X509Certificate(root.certPem);
    const crt = Buffer.from(root.certPem).toString('base64');
    const ids: MutualTLSIdentity[] = [];
    const secrets: Secret[] = [];
    for (let i = 0; i < N; i++) {
      const metadata = { namespace: `ns${i % 20}`, name: `id${i}`, uid: `uid-${i}`, generation: 1 };
      ids.push({ apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity', metadata, spec: { serviceAccount: 'sa' } } as MutualTLSIdentity);
      secrets.push({
        apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls',
        metadata: { namespace: metadata.namespace, name: `id${i}-mtls`, ownerReferences: [{ apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity', name: `id${i}`, uid: metadata.uid, controller: true }] },
        data: { 'tls.crt': crt, 'ca.crt': crt },
      } as Secret);
    }
    cluster = { listIdentities: () => ids, listSecrets: () => secrets, getConfigMap: () => undefined } as unknown as Cluster;
  });

  /** Turns of the event loop (setImmediate) that ran while `work` did. */
  async function turnsDuring(work: () => Promise<unknown>): Promise<number> {
    let turns = 0;
    let on = true;
    const spin = () => {
      if (!on) return;
      turns++;
      setImmediate(spin);
    };
    setImmediate(spin);
    await work();
    on = false;
    return turns;
  }

  it(`${N} leaves parsed for a new CA: the walk pauses between slices and other work runs meanwhile`, async () => {
    const slicer = new Slicer(2);
    let progress: Awaited<ReturnType<typeof leafProgress>> | undefined;
    const turns = await turnsDuring(async () => {
      const found = await issuedCopies(cluster, slicer);
      assert.equal(found.length, N);
      copies = found;
      progress = await leafProgress(cluster, found, ca, new Date(), slicer);
    });
    assert.equal(progress!.total, N);
    assert.equal(progress!.onNewCA, N, 'the root signed itself: every stand-in leaf is on it');
    assert.ok(slicer.pauses >= 5, `the walk paused ${slicer.pauses} times`);
    assert.ok(turns >= 5, `${turns} turns of the event loop ran during the walk`);
  });

  it('the bundle count pauses too, and counts right', async () => {
    const slicer = new Slicer(0);
    const turns = await turnsDuring(async () => {
      const counts = await bundleCopies(cluster, copies, ca.toString(), new Set(), slicer);
      assert.deepEqual(counts, { total: N + 20, current: N });
    });
    assert.ok(slicer.pauses >= N, `paused ${slicer.pauses} times`);
    assert.ok(turns >= 5, `${turns} turns of the event loop ran`);
  });
});
