import assert from 'node:assert/strict';
import { identityLabelValue, isLabelValue, labelIsName } from '../../src/api/labels.ts';

describe('api/labels: identity label values the API server accepts', () => {
  it('a name of up to 63 characters is its own label value', () => {
    for (const n of ['web', 'a'.repeat(63), 'a.b-c']) {
      assert.equal(identityLabelValue(n), n);
      assert.ok(labelIsName(identityLabelValue(n)));
    }
  });

  it('a longer name (up to 253) becomes a 63-character prefix-and-hash value, distinct per name', () => {
    const long = (c: string, n: number) => c.repeat(n);
    const seen = new Set<string>();
    for (const n of [long('a', 64), long('a', 253), `${long('a', 52)}.${long('b', 60)}`, `${long('a', 52)}.${long('c', 60)}`, `${'x'.repeat(51)}-.y${'z'.repeat(40)}`]) {
      const v = identityLabelValue(n);
      assert.equal(v.length, 63, v);
      assert.ok(isLabelValue(v), v);
      assert.ok(v.startsWith(n.slice(0, 52)));
      assert.equal(labelIsName(v), false);
      seen.add(v);
    }
    assert.equal(seen.size, 5);
  });

  it('isLabelValue follows the API server: 63 characters, alphanumeric at both ends', () => {
    assert.ok(isLabelValue(''));
    assert.ok(isLabelValue('a_b.c-d'));
    for (const bad of ['a'.repeat(64), '-a', 'a-', 'a b', 'ä']) assert.equal(isLabelValue(bad), false, bad);
  });
});
