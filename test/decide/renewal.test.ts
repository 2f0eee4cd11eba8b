import assert from 'node:assert/strict';
import { renewalTime } from '../../src/decide/renewal.ts';

const H = 3_600_000;
const t0 = new Date(Date.UTC(2026, 0, 1));
const at = (ms: number) => new Date(t0.getTime() + ms);

describe('renewalTime', () => {
  const cases: Array<[string, number, number | undefined, number]> = [
    ['default: one third of the lifetime before notAfter', 24 * H, undefined, 16 * H],
    ['renewBefore given', 24 * H, 2 * H, 22 * H],
    ['renewBefore equal to the lifetime falls back to one third', 24 * H, 24 * H, 16 * H],
    ['renewBefore longer than a clamped lifetime falls back to one third', 3 * H, 8 * H, 2 * H],
    ['renewBefore zero is ignored', 90 * H, 0, 60 * H],
    ['90 days, renew 30 days before', 2160 * H, 720 * H, 1440 * H],
  ];
  for (const [name, lifetime, renewBefore, expected] of cases) {
    it(name, () => {
      assert.equal(renewalTime(t0, at(lifetime), renewBefore).toISOString(), at(expected).toISOString());
    });
  }
  it('a certificate with no lifetime renews at once', () => {
    assert.equal(renewalTime(t0, t0).getTime(), t0.getTime());
    assert.equal(renewalTime(at(H), t0).getTime(), at(H).getTime());
  });
});
