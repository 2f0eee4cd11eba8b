/**
 * The rotation's progress reads each issued leaf once per Secret version (issue 11): before, every rotation check
 * parsed and verified every leaf on the event loop (about 5 s of one core per check at 10,000 identities).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { issuedCopies, leafParses, leafProgress, leavesSignedBy } from '../../src/controller/rotation-progress.ts';
import { generateRootCA } from '../../src/pki/index.ts';
import { startHarness, type Harness } from '../support/harness.ts';

describe('rotation progress: leaf facts parsed once', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it('a second look at the same Secrets parses nothing; another CA parses each leaf once more; the answers are right', async () => {
    h = await startHarness();
    for (let i = 0; i < 12; i++) h.identity(`id${i}`, { duration: '2h' });
    await h.settle();
    const root = new X509Certificate(h.root.certPem);
    const other = new X509Certificate((await generateRootCA({ now: new Date(h.time.now()) })).certPem);
    const copies = issuedCopies(h.cluster);
    assert.equal(copies.length, 12);
    const now = new Date(h.time.now());
    const from = leafParses.count;
    const first = leafProgress(copies, root, now);
    assert.equal(leafParses.count - from, 12, 'each leaf parsed once');
    assert.deepEqual(leafProgress(copies, root, now), first, 'the same answer');
    assert.equal(leavesSignedBy(copies, root), 12);
    assert.equal(leafParses.count - from, 12, 'asked again about the same CA: nothing parsed');
    assert.equal(first.total, 12);
    assert.equal(first.onNewCA, 12);
    const byOther = leafProgress(copies, other, now);
    assert.equal(byOther.onNewCA, 0);
    assert.ok(byOther.oldMaxNotAfter, 'leaves not on the other CA count as old ones');
    assert.equal(leafParses.count - from, 24, 'another CA: each leaf parsed once more');
    assert.equal(leavesSignedBy(issuedCopies(h.cluster), other), 0);
    assert.equal(leafParses.count - from, 24);
  });
});
