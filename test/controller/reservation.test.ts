/**
 * The re-issue rate limit is a reservation in the queue (issue 11, point 3): after a CA change a key that needs a
 * rate-limited re-issue is looked at once, given its slot, and waits in the queue without doing any work (no read,
 * no parse, no verify) until the slot comes. Before, a refused key was requeued about 1 s later with nothing
 * reserved and ran the whole reconcile again: thousands of full reconciles a second at 10,000 identities.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import type { Secret } from '../../src/api/types.ts';
import { RateLimiter } from '../../src/controller/limiter.ts';
import { generateRootCA } from '../../src/pki/index.ts';
import { FakeTime } from '../support/fake-time.ts';
import { caSecret, startHarness, type Harness } from '../support/harness.ts';

/** Counts reads of the matching Secrets while they still hold a leaf not issued by `root`. */
function countOldLeafReads(h: Harness, root: X509Certificate, match: (name: string) => boolean): { n: number } {
  const reads = { n: 0 };
  const getSecret = h.cluster.getSecret.bind(h.cluster);
  h.cluster.getSecret = async (ns: string, name: string): Promise<Secret | undefined> => {
    if (match(name) && !h.leaf(name, ns)!.checkIssued(root)) reads.n++;
    return getSecret(ns, name);
  };
  return reads;
}

describe('rate-limited re-issue: a reservation in the queue', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it('after a CA change each identity is read at most twice (decide, then issue in its slot), at the configured rate', async () => {
    const N = 40;
    const RATE = 2;
    h = await startHarness({ config: { reissuePerSecond: RATE } });
    for (let i = 0; i < N; i++) h.identity(`id${i}`, { duration: '2h' });
    await h.settle();
    const newRoot = await generateRootCA({ now: new Date(h.time.now() - 3_600_000) });
    const root = new X509Certificate(newRoot.certPem);
    // Reads of an identity's Secret while it still holds the old CA's leaf: the work done for it before its re-issue.
    const reads = countOldLeafReads(h, root, (name) => /^id\d+-mtls$/.test(name));
    h.cluster.putSecret(caSecret(newRoot));
    await h.settle();
    const onNew = () => [...Array(N).keys()].filter((i) => h.leaf(`id${i}-mtls`)!.checkIssued(root)).length;
    const seen: number[] = [];
    for (let t = 0; t < (N / RATE + 5) * 1000; t += 250) {
      await h.advance(250);
      seen.push(onNew());
    }
    assert.equal(onNew(), N, 'every leaf re-issued in the end');
    // The rate holds: after the first second's burst, at most RATE more a second (one slot of slack for timer edges).
    for (let s = 4; s < seen.length; s += 4) assert.ok(seen[s]! - seen[s - 4]! <= RATE + 1, `at most ${RATE}/s, saw ${seen[s]! - seen[s - 4]!} in the second ending at ${s / 4} s`);
    assert.ok(reads.n <= 2 * N, `each identity read at most twice before its re-issue (decide, then issue in its slot), saw ${reads.n} reads for ${N} identities`);
  });

  it('an identity changed while it waits for its slot is looked at again at once, keeps its slot, and is re-issued with the new spec', async () => {
    h = await startHarness({ config: { reissuePerSecond: 1 } });
    for (let i = 0; i < 10; i++) h.identity(`id${i}`, { duration: '2h' });
    await h.settle();
    const newRoot = await generateRootCA({ now: new Date(h.time.now() - 3_600_000) });
    const root = new X509Certificate(newRoot.certPem);
    const reads = countOldLeafReads(h, root, (name) => name === 'id9-mtls');
    h.cluster.putSecret(caSecret(newRoot));
    await h.settle();
    assert.equal(h.leaf('id9-mtls')!.checkIssued(root), false, 'id9 waits for its slot');
    assert.equal(reads.n, 1, 'looked at once, then held');
    h.identity('id9', { duration: '2h', dnsNames: ['id9.dev.svc'] });
    await h.settle();
    assert.equal(reads.n, 2, 'the change woke it: looked at again, still waiting for its slot (IncorrectIssuer is checked first)');
    for (let t = 0; t < 15_000; t += 250) await h.advance(250);
    const leaf = h.leaf('id9-mtls')!;
    assert.ok(leaf.checkIssued(root), 're-issued in its slot');
    assert.match(leaf.subjectAltName ?? '', /id9\.dev\.svc/, 'with the new spec');
    assert.equal(reads.n, 3, 'before its re-issue: decide, woken by the change, issue');
  });
});

describe('RateLimiter.reserve', () => {
  it('gives each key its own slot, spaced at the rate, and the same slot when asked again', () => {
    const time = new FakeTime();
    const l = new RateLimiter({ perSecond: 4, clock: time });
    const waits = ['a', 'b', 'c', 'd', 'e', 'f'].map((k) => l.reserve(k));
    assert.deepEqual(waits, [0, 0, 0, 0, 250, 500], 'a burst of the rate, then one slot every 1/rate s');
    time.advance(100);
    assert.equal(l.reserve('f'), 400, 'asked again: the same slot, no second reservation');
    assert.equal(l.reserve('g'), 650);
    time.advance(400);
    assert.equal(l.reserve('f'), 0, 'its slot came: admitted');
    assert.equal(l.reserve('f'), 750 - 500 + 250, 'admitted once: asking again is a new reservation after g');
  });

  it('a cancelled reservation is forgotten; stale ones do not accumulate', () => {
    const time = new FakeTime();
    const l = new RateLimiter({ perSecond: 1, clock: time });
    l.reserve('a');
    assert.equal(l.reserve('b'), 1000);
    l.cancel('b');
    assert.equal(l.pending, 0);
    for (let i = 0; i < 3000; i++) l.reserve(`k${i}`);
    time.advance(10_000_000);
    l.reserve('late');
    assert.ok(l.pending <= 1, `reservations long past their slot are dropped, ${l.pending} left`);
  });
});
