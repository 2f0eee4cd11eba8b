/** The test-only CEL interpreter behind admission.test.ts: CEL semantics where the policy relies on them. */
import assert from 'node:assert/strict';
import { miniCel } from './cel.ts';

const ev = (expr: string, act: Record<string, unknown> = {}) => miniCel.evaluate(expr, act);

describe('test CEL interpreter', () => {
  it('precedence and associativity', () => {
    assert.equal(ev('1 + 2 == 3 && !false || false'), true);
    assert.equal(ev("true ? 'a' : false ? 'b' : 'c'"), 'a');
    assert.equal(ev("false ? 'a' : false ? 'b' : 'c'"), 'c');
    assert.equal(ev("'a' + 'b' in ['ab']"), true);
    assert.equal(ev('3 - 1 - 1'), 1);
  });

  it('&& and || absorb errors as CEL does', () => {
    assert.equal(ev('false && m.missing', { m: {} }), false);
    assert.equal(ev('m.missing && false', { m: {} }), false);
    assert.equal(ev('true || m.missing', { m: {} }), true);
    assert.equal(ev('m.missing || true', { m: {} }), true);
    assert.throws(() => ev('true && m.missing', { m: {} }), /no such key/);
  });

  it('is strict where CEL type-checks', () => {
    assert.throws(() => ev("'a' + 1"), /no such overload/);
    assert.throws(() => ev("'a' == 1"), /no such overload/);
    assert.throws(() => ev('nope(1)'), /undeclared reference to function/);
    assert.throws(() => ev('x'), /undeclared reference to x/);
    assert.throws(() => ev('[1][1]'), /index out of range/);
    assert.throws(() => ev("r'raw'"), /not supported/);
    assert.throws(() => ev("1 ? 'a' : 'b'"), /expected bool/);
  });

  it('strings: escapes, substring, split, findAll, indexOf', () => {
    assert.equal(ev("'it\\'s \"q\"'"), 'it\'s "q"');
    assert.equal(ev("'*.local'.substring(1)"), '.local');
    assert.equal(ev("'abcd'.substring(1, 3)"), 'bc');
    assert.throws(() => ev("'ab'.substring(3)"), /out of range/);
    assert.deepEqual(ev("'a.b.c'.split('.')"), ['a', 'b', 'c']);
    assert.deepEqual(ev("' a, b\\nc '.findAll('[^\\\\s,]+')"), ['a', 'b', 'c']);
    assert.equal(ev("['x', 'y'].indexOf('y')"), 1);
    assert.equal(ev("string(size('abc')) + '!'"), '3!');
  });

  it('macros, has() and maps', () => {
    assert.deepEqual(ev('[1, 2, 3].filter(x, x != 2)'), [1, 3]);
    assert.equal(ev('[1, 2].all(x, x > 0)'), true);
    assert.equal(ev('[1, 2].exists(x, x == 2)'), true);
    assert.equal(ev('[1, 2].all(x, x == 1 ? m.missing : false)', { m: {} }), false); // a false beats an error
    assert.throws(() => ev('[1, 2].all(x, x == 1 ? m.missing : true)', { m: {} }), /no such key/);
    assert.equal(ev('[1, 2].exists(x, x == 1 ? m.missing : true)', { m: {} }), true);
    assert.equal(ev("has(m.a) && !has(m.b) && 'a' in m", { m: { a: 1 } }), true);
    assert.equal(ev('m != n', { m: { a: [1] }, n: { a: [2] } }), true);
    assert.equal(ev('m == n', { m: { a: [1] }, n: { a: [1] } }), true);
  });

  it('Kubernetes IP and CIDR functions', () => {
    assert.equal(ev("cidr('10.0.0.0/8').containsIP(ip('10.1.2.3'))"), true);
    assert.equal(ev("cidr('10.0.0.0/8').containsIP(ip('11.1.2.3'))"), false);
    assert.equal(ev("cidr('::/0').containsIP(ip('10.1.2.3'))"), false);
    assert.equal(ev("cidr('fd00::/8').containsIP('fd12::1')"), true);
    assert.equal(ev("isCIDR('banana') || isCIDR('10.0.0.0/33') || isIP('::ffff:10.0.0.1')"), false);
    assert.throws(() => ev("ip('::ffff:10.0.0.1')"), /parse error/);
  });
});
