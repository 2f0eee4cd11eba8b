import assert from 'node:assert/strict';
import { caEverSeen, isRunning, nextRotationStep, recordFromData, recordToData, rotationFromData, rotationToData, type RotationState, type RotationView } from '../../src/decide/rotation.ts';

const t0 = new Date(Date.UTC(2026, 10, 23, 12));
const at = (ms: number) => new Date(t0.getTime() + ms);
const state = (over: Partial<RotationState> = {}): RotationState => ({
  phase: 'Prepared', request: 'generate', since: t0.toISOString(), newRootSecret: 'next', newRootFingerprint: 'new', oldRootFingerprint: 'old', done: 0, total: 0, message: '', ...over,
});
const view = (over: Partial<RotationView> = {}): RotationView => ({
  now: t0, state: undefined, requested: undefined, abortRequested: false,
  bundles: { total: 3, current: 3 }, leaves: { total: 2, onNewCA: 0, oldMaxNotAfter: at(3_600_000) },
  propagationDelayMs: 60_000, skewMs: 300_000, ...over,
});

describe('nextRotationStep: the rotation phase machine', () => {
  it('nothing asked, nothing running: nothing', () => {
    assert.deepEqual(nextRotationStep(view()), { kind: 'none' });
  });
  it('a request starts a rotation', () => {
    assert.deepEqual(nextRotationStep(view({ requested: 'generate' })), { kind: 'start', request: 'generate' });
  });
  it('a finished rotation whose request is still on the Secret clears it instead of restarting', () => {
    for (const phase of ['Retired', 'Aborted'] as const) {
      assert.deepEqual(nextRotationStep(view({ requested: 'generate', state: state({ phase }) })), { kind: 'clearRequest' });
    }
  });
  it('a cleared, finished rotation and the same request again: a new rotation', () => {
    assert.deepEqual(nextRotationStep(view({ requested: 'generate', state: state({ phase: 'Retired', requestCleared: true }) })), { kind: 'start', request: 'generate' });
  });
  it('Prepared waits for every bundle copy', () => {
    const step = nextRotationStep(view({ state: state(), bundles: { total: 3, current: 1 } }));
    assert.equal(step.kind, 'write');
    assert.equal(step.kind === 'write' && step.state.phase, 'Prepared');
    assert.match(step.kind === 'write' ? step.state.message : '', /1 of 3/);
  });
  it('Prepared records when every copy is current, then waits the propagation delay', () => {
    const s1 = nextRotationStep(view({ state: state() }));
    assert.ok(s1.kind === 'write' && s1.state.bundlesUpdatedAt === t0.toISOString() && !s1.transition);
    const updated = state({ bundlesUpdatedAt: t0.toISOString(), done: 3, total: 3, message: 'x' });
    assert.deepEqual(nextRotationStep(view({ state: updated, now: at(59_999) })), { kind: 'none' });
    const s2 = nextRotationStep(view({ state: updated, now: at(60_000) }));
    assert.ok(s2.kind === 'write' && s2.transition === 'Active' && s2.state.phase === 'Active');
    assert.equal(s2.kind === 'write' && s2.state.retireAfter, at(3_600_000 + 300_000).toISOString());
  });
  it('a new copy appearing during the wait starts the wait over', () => {
    const s = nextRotationStep(view({ state: state({ bundlesUpdatedAt: t0.toISOString() }), bundles: { total: 4, current: 3 } }));
    assert.ok(s.kind === 'write' && s.state.bundlesUpdatedAt === undefined);
  });
  it('abort in Prepared → Aborted; abort in Active is ignored', () => {
    const a = nextRotationStep(view({ state: state(), abortRequested: true }));
    assert.ok(a.kind === 'write' && a.transition === 'Aborted');
    const b = nextRotationStep(view({ state: state({ phase: 'Active', retireAfter: at(1e9).toISOString() }), abortRequested: true }));
    assert.ok(b.kind === 'write' && b.state.phase === 'Active' && /abort ignored/.test(b.state.message));
  });
  it('Active retires only when every leaf is on the new CA and the last old leaf expired plus skew', () => {
    const active = state({ phase: 'Active', retireAfter: at(3_900_000).toISOString() });
    assert.notEqual(nextRotationStep(view({ state: active, now: at(4_000_000), leaves: { total: 2, onNewCA: 1 } })).kind, 'retire');
    assert.notEqual(nextRotationStep(view({ state: active, now: at(3_899_999), leaves: { total: 2, onNewCA: 2 } })).kind, 'retire');
    const r = nextRotationStep(view({ state: active, now: at(3_900_000), leaves: { total: 2, onNewCA: 2 } }));
    assert.ok(r.kind === 'retire' && r.state.phase === 'Retired');
  });
  it('an old leaf that lives longer pushes the retirement later, never earlier', () => {
    const active = state({ phase: 'Active', retireAfter: at(3_900_000).toISOString() });
    const later = nextRotationStep(view({ state: active, leaves: { total: 2, onNewCA: 1, oldMaxNotAfter: at(7_200_000) } }));
    assert.ok(later.kind === 'write' && later.state.retireAfter === at(7_500_000).toISOString());
    const earlier = nextRotationStep(view({ state: active, leaves: { total: 2, onNewCA: 1, oldMaxNotAfter: at(0) } }));
    assert.ok(earlier.kind !== 'write' || earlier.state.retireAfter === active.retireAfter);
  });
  it('state round-trips through ConfigMap data; garbage is no state', () => {
    const s = state({ phase: 'Active', retireAfter: t0.toISOString(), done: 5, total: 9, requestCleared: true });
    assert.deepEqual(rotationFromData(rotationToData(s)), s);
    assert.equal(rotationFromData({ phase: 'Exploded' }), undefined);
    assert.equal(rotationFromData(undefined), undefined);
  });

  it('a finished rotation and a new, different request: a new rotation, whether or not the old request was cleared', () => {
    for (const requestCleared of [true, false]) {
      assert.deepEqual(nextRotationStep(view({ requested: 'other-root', state: state({ phase: 'Retired', ...(requestCleared ? { requestCleared } : {}) }) })), { kind: 'start', request: 'other-root' });
    }
  });
  it('the same request after the done marker names this rotation is new (the clear went through, its record did not)', () => {
    const done = state({ phase: 'Retired', since: 'S1' });
    assert.deepEqual(nextRotationStep(view({ requested: 'generate', state: done, clearedRotation: 'S1' })), { kind: 'start', request: 'generate' });
    assert.deepEqual(nextRotationStep(view({ requested: 'generate', state: done, clearedRotation: 'S0' })), { kind: 'clearRequest' });
  });
  it('nothing running and no request: nothing, whatever the last rotation', () => {
    for (const phase of ['Retired', 'Aborted'] as const) assert.deepEqual(nextRotationStep(view({ state: state({ phase }) })), { kind: 'none' });
  });
  it('the saved Aborted state keeps the rotation and says so', () => {
    const s0 = state({ bundlesUpdatedAt: t0.toISOString(), done: 3, total: 3 });
    const a = nextRotationStep(view({ state: s0, abortRequested: true, now: at(5) }));
    assert.deepEqual(a, { kind: 'write', transition: 'Aborted', state: { ...s0, phase: 'Aborted', since: at(5).toISOString(), message: 'aborted before Active: the old root alone is trusted again' } });
  });
  it('a new copy appearing during the wait keeps everything else of the state', () => {
    const s0 = state({ bundlesUpdatedAt: t0.toISOString(), done: 3, total: 3, message: 'm' });
    const step = nextRotationStep(view({ state: s0, bundles: { total: 4, current: 3 } }));
    const { bundlesUpdatedAt: _b, ...rest } = s0;
    assert.deepEqual(step, { kind: 'write', state: { ...rest, done: 3, total: 4, message: '3 of 4 trust bundle copies carry the new root' } });
  });
  it('Prepared progress: written when it changes, nothing when it does not', () => {
    const s0 = state({ done: 1, total: 3, message: '1 of 3 trust bundle copies carry the new root' });
    assert.deepEqual(nextRotationStep(view({ state: s0, bundles: { total: 3, current: 1 } })), { kind: 'none' });
    const moved = nextRotationStep(view({ state: s0, bundles: { total: 3, current: 2 } }));
    assert.deepEqual(moved, { kind: 'write', state: { ...s0, done: 2, message: '2 of 3 trust bundle copies carry the new root' } });
    assert.deepEqual(nextRotationStep(view({ state: { ...s0, done: 2 }, bundles: { total: 3, current: 1 } })).kind, 'write', 'done differs');
    assert.deepEqual(nextRotationStep(view({ state: { ...s0, total: 4 }, bundles: { total: 3, current: 1 } })).kind, 'write', 'total differs');
  });
  it('the wait after every copy is current writes nothing while counts stay', () => {
    const waiting = state({ bundlesUpdatedAt: t0.toISOString(), done: 3, total: 3, message: 'w' });
    assert.deepEqual(nextRotationStep(view({ state: waiting, now: at(30_000) })), { kind: 'none' });
    const s = nextRotationStep(view({ state: waiting, now: at(30_000), bundles: { total: 5, current: 5 } }));
    assert.deepEqual(s, { kind: 'write', state: { ...waiting, done: 5, total: 5 } });
  });
  it('every copy current: the time is recorded with a message naming the delay', () => {
    const s = nextRotationStep(view({ state: state(), propagationDelayMs: 90_400 }));
    assert.deepEqual(s, { kind: 'write', state: { ...state(), bundlesUpdatedAt: t0.toISOString(), done: 3, total: 3, message: 'every trust bundle copy carries the new root; activating after 90s for kubelets to refresh mounts' } });
  });
  it('activating: the whole Active state, progress from the leaves', () => {
    const updated = state({ bundlesUpdatedAt: t0.toISOString(), done: 3, total: 3, message: 'x' });
    const s = nextRotationStep(view({ state: updated, now: at(60_000), leaves: { total: 5, onNewCA: 1, oldMaxNotAfter: at(3_600_000) } }));
    assert.deepEqual(s, { kind: 'write', transition: 'Active', state: { ...updated, phase: 'Active', since: at(60_000).toISOString(), retireAfter: at(3_900_000).toISOString(), done: 1, total: 5, message: 'the new CA signs; re-issuing every leaf' } });
  });
  it('activating with no old leaves: the old root may retire after the skew alone', () => {
    const updated = state({ bundlesUpdatedAt: t0.toISOString() });
    const s = nextRotationStep(view({ state: updated, now: at(60_000), leaves: { total: 0, onNewCA: 0 } }));
    assert.ok(s.kind === 'write' && s.state.retireAfter === at(360_000).toISOString());
  });
  it('Active with no old leaf left and no retireAfter yet: now; a steady Active state writes nothing', () => {
    const a = state({ phase: 'Active', done: 1, total: 2, message: '1 of 2 leaves re-issued by the new CA' });
    const s = nextRotationStep(view({ state: a, leaves: { total: 2, onNewCA: 1 } }));
    assert.deepEqual(s, { kind: 'write', state: { ...a, retireAfter: t0.toISOString() } });
    const steady = { ...a, retireAfter: at(3_900_000).toISOString() };
    assert.deepEqual(nextRotationStep(view({ state: steady, leaves: { total: 2, onNewCA: 1, oldMaxNotAfter: at(3_600_000) } })), { kind: 'none' });
    const same = nextRotationStep(view({ state: steady, leaves: { total: 2, onNewCA: 1, oldMaxNotAfter: at(3_600_000 - 1) } }));
    assert.deepEqual(same, { kind: 'none' }, 'an earlier old leaf does not move retireAfter');
  });
  it('Active, every leaf re-issued but old ones still live: a message with the retire time', () => {
    const a = state({ phase: 'Active', retireAfter: at(3_900_000).toISOString() });
    const s = nextRotationStep(view({ state: a, leaves: { total: 2, onNewCA: 2 } }));
    assert.deepEqual(s, { kind: 'write', state: { ...a, done: 2, total: 2, message: `every leaf re-issued; the old root leaves the bundles at ${at(3_900_000).toISOString()}` } });
  });
  it('Active: the full Retired state once due', () => {
    const a = state({ phase: 'Active', retireAfter: at(3_900_000).toISOString(), done: 1, total: 2 });
    const r = nextRotationStep(view({ state: a, now: at(4_000_000), leaves: { total: 2, onNewCA: 2 } }));
    assert.deepEqual(r, { kind: 'retire', state: { ...a, phase: 'Retired', since: at(4_000_000).toISOString(), retireAfter: at(3_900_000).toISOString(), done: 2, total: 2, message: 'every leaf is on the new CA and every old leaf has expired: the old root left the bundles' } });
  });
  it('Active: a distrusted old root or an expired one retires at once; not before its expiry', () => {
    const a = state({ phase: 'Active', retireAfter: at(1e9).toISOString() });
    const d = nextRotationStep(view({ state: a, distrustOld: true, leaves: { total: 2, onNewCA: 0 } }));
    assert.ok(d.kind === 'retire' && /distrusted/.test(d.state.message));
    const e = nextRotationStep(view({ state: a, oldRootNotAfter: t0, leaves: { total: 2, onNewCA: 0 } }));
    assert.ok(e.kind === 'retire' && e.state.message === `the old root expired at ${t0.toISOString()}: it left the bundles`);
    assert.notEqual(nextRotationStep(view({ state: a, oldRootNotAfter: at(1), leaves: { total: 2, onNewCA: 0 } })).kind, 'retire');
    assert.notEqual(nextRotationStep(view({ state: state(), distrustOld: true })).kind, 'retire', 'never in Prepared');
  });
  it('identities that cannot be re-issued are named in the state and the message', () => {
    const one = nextRotationStep(view({ state: state(), bundles: { total: 3, current: 1 }, blocked: ['dev/a'] }));
    assert.ok(one.kind === 'write');
    assert.equal(one.state.blocked, 'dev/a');
    assert.equal(one.state.message, '1 of 3 trust bundle copies carry the new root; 1 identity cannot be re-issued (dev/a): not waited for, their old certificates keep the old root trusted until they expire');
    const many = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((n) => `dev/${n}`);
    const m = nextRotationStep(view({ state: state({ phase: 'Active', retireAfter: at(1e9).toISOString() }), leaves: { total: 2, onNewCA: 1 }, blocked: many }));
    assert.ok(m.kind === 'write');
    assert.equal(m.state.blocked, many.join(','));
    assert.match(m.state.message, /; 7 identities cannot be re-issued \(dev\/a, dev\/b, dev\/c, dev\/d, dev\/e and 2 more\)/);
    const cleared = nextRotationStep(view({ state: state({ blocked: 'dev/a', done: 1, total: 3, message: '1 of 3 trust bundle copies carry the new root' }), bundles: { total: 3, current: 1 }, blocked: [] }));
    assert.ok(cleared.kind === 'write' && cleared.state.blocked === undefined, 'unblocked: the field goes');
    const same = state({ blocked: 'dev/a', done: 1, total: 3, message: one.state.message });
    assert.deepEqual(nextRotationStep(view({ state: same, bundles: { total: 3, current: 1 }, blocked: ['dev/a'] })), { kind: 'none' });
  });
  it('isRunning: Prepared and Active only', () => {
    assert.deepEqual((['Prepared', 'Active', 'Retired', 'Aborted'] as const).map((phase) => isRunning(state({ phase }))), [true, true, false, false]);
    assert.equal(isRunning(undefined), false);
  });
  it('every phase and every field reads back from ConfigMap data; defaults for missing fields', () => {
    for (const phase of ['Prepared', 'Active', 'Retired', 'Aborted'] as const) {
      const s = state({ phase, bundlesUpdatedAt: 'b', retireAfter: 'r', requestCleared: true, oldBundlePem: 'o', newBundlePem: 'n', keptRootsPem: 'k', unstaged: true, blocked: 'dev/a' });
      assert.deepEqual(rotationFromData(rotationToData(s)), s);
    }
    assert.deepEqual(rotationFromData({ phase: 'Active' }), { phase: 'Active', request: '', since: '', newRootSecret: '', newRootFingerprint: '', oldRootFingerprint: '', done: 0, total: 0, message: '' });
    assert.equal(rotationFromData({ phase: 'Active', reissued: '4' })!.done, 4, 'the old key for done');
    assert.equal(rotationFromData({ phase: 'Active', done: 'x' })!.done, 0);
    assert.equal(rotationFromData({ phase: 'Active', requestCleared: 'false', unstaged: 'no' })!.requestCleared, undefined);
    assert.equal(rotationFromData({ phase: 'Active', unstaged: 'no' })!.unstaged, undefined);
    assert.equal(rotationFromData({ done: '1' }), undefined, 'no phase: no state');
    assert.deepEqual(rotationToData(state({ retireAfter: undefined })).retireAfter, undefined);
  });
  it('the trust record: the CA in use, every CA seen, the last refusal, next to the rotation', () => {
    const r = { rotation: state({ phase: 'Retired' }), caFingerprint: 'f1', caBundlePem: 'pem', seen: ['f0', 'f1'], refused: 'generate: no' };
    assert.deepEqual(recordFromData(recordToData(r)), r);
    assert.deepEqual(recordFromData(undefined), { rotation: undefined, seen: [] });
    assert.deepEqual(recordToData({ rotation: undefined, seen: [] }), {});
    assert.deepEqual(recordFromData({ seen: 'a,,b' }).seen, ['a', 'b']);
    assert.equal(caEverSeen({ rotation: undefined, seen: [] }), false);
    assert.equal(caEverSeen({ rotation: undefined, seen: ['a'] }), true);
    assert.equal(caEverSeen({ rotation: undefined, seen: [], caFingerprint: 'a' }), true);
    assert.equal(caEverSeen({ rotation: state(), seen: [] }), true);
  });

  it('retireAfter as recorded is kept when the old leaves give the same instant (no rewrite over a format)', () => {
    const recorded = '2026-11-23T13:05:00Z'; // the same instant as at(3_900_000), written without milliseconds
    const a = state({ phase: 'Active', retireAfter: recorded, done: 1, total: 2, message: '1 of 2 leaves re-issued by the new CA' });
    assert.deepEqual(nextRotationStep(view({ state: a, leaves: { total: 2, onNewCA: 1, oldMaxNotAfter: at(3_600_000) } })), { kind: 'none' });
  });
  it('no blocked identities: no note; exactly five: all named, no "and 0 more"', () => {
    const none = nextRotationStep(view({ state: state(), bundles: { total: 3, current: 1 }, blocked: [] }));
    assert.ok(none.kind === 'write' && none.state.message === '1 of 3 trust bundle copies carry the new root');
    const five = nextRotationStep(view({ state: state(), bundles: { total: 3, current: 1 }, blocked: ['a', 'b', 'c', 'd', 'e'] }));
    assert.ok(five.kind === 'write' && five.state.message.endsWith('5 identities cannot be re-issued (a, b, c, d, e): not waited for, their old certificates keep the old root trusted until they expire'));
  });
  it('same counts, another message (an abort asked for in Active): written', () => {
    const a = state({ phase: 'Active', retireAfter: at(1e9).toISOString(), done: 1, total: 2, message: '1 of 2 leaves re-issued by the new CA' });
    const s = nextRotationStep(view({ state: a, abortRequested: true, leaves: { total: 2, onNewCA: 1 } }));
    assert.deepEqual(s, { kind: 'write', state: { ...a, message: '1 of 2 leaves re-issued by the new CA (abort ignored: the new CA is already signing)' } });
  });
});
