import assert from 'node:assert/strict';
import { nextRotationStep, rotationFromData, rotationToData, type RotationState, type RotationView } from '../../src/decide/rotation.ts';

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
});
