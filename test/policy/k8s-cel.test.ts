/**
 * test/policy/k8s-cel.ts: the Kubernetes CEL functions registered on @marcbachmann/cel-js, and
 * the CEL semantics of cel-js that the admission policy and the CRD's rules rely on (as cel-go
 * has them in the API server), including the differences from cel-go that were found.
 */
import assert from 'node:assert/strict';
import { kubernetesCel } from './k8s-cel.ts';

const cel = kubernetesCel(['m', 'n']);
const ev = (expr: string, act: Record<string, unknown> = {}) => cel.evaluate(expr, act);

describe('Kubernetes CEL functions', () => {
  it('IP library: isIP and ip() take IPv4 and IPv6, without zones, leading zeros or IPv4-mapped IPv6', () => {
    for (const a of ['10.0.0.1', '0.0.0.0', 'fd00::7', 'FD00::7', '::1', '::1.2.3.4']) assert.equal(ev(`isIP('${a}')`), true, a);
    for (const a of ['010.0.0.1', '10.0.0', '10.0.0.256', 'fe80::1%eth0', '::ffff:10.0.0.1', ' 10.0.0.1', 'banana', '']) {
      assert.equal(ev(`isIP('${a}')`), false, a);
    }
    assert.throws(() => ev("ip('::ffff:10.0.0.1')"), /parse error/);
  });

  it('CIDR library: isCIDR, cidr() and containsIP', () => {
    assert.equal(ev("cidr('10.0.0.0/8').containsIP(ip('10.1.2.3'))"), true);
    assert.equal(ev("cidr('10.0.0.0/8').containsIP(ip('11.1.2.3'))"), false);
    assert.equal(ev("cidr('::/0').containsIP(ip('10.1.2.3'))"), false);
    assert.equal(ev("cidr('0.0.0.0/0').containsIP('fd00::1')"), false);
    assert.equal(ev("cidr('fd00::/8').containsIP('fd12::1')"), true);
    assert.equal(ev("cidr('10.0.0.1/32').containsIP('10.0.0.1')"), true);
    assert.equal(ev("isCIDR('banana') || isCIDR('10.0.0.0/33') || isCIDR('10.0.0.0/08') || isCIDR('10.0.0.0') || isIP('::ffff:10.0.0.1')"), false);
    assert.equal(ev("isCIDR('10.0.0.0/8') && isCIDR('fd00::/128')"), true);
    assert.throws(() => ev("cidr('10.0.0.0/33')"), /parse error/);
    assert.throws(() => ev("cidr('10.0.0.0/8').containsIP('banana')"), /parse error/);
  });

  it('regex library: findAll', () => {
    assert.deepEqual(ev("' a, b\\nc '.findAll('[^\\\\s,]+')"), ['a', 'b', 'c']);
    assert.deepEqual(ev("', ,'.findAll('[^\\\\s,]+')"), []);
    assert.deepEqual(ev("'a1b22'.findAll('[0-9]+')"), ['1', '22']);
  });

  it('list library: indexOf', () => {
    assert.equal(ev("['x', 'y'].indexOf('y')"), 1n);
    assert.equal(ev("m.indexOf('z')", { m: ['x', 'y'] }), -1n);
    assert.equal(ev("m.indexOf('x')", { m: ['x', 'x'] }), 0n);
    assert.equal(ev('[1, 2].indexOf(2)'), 1n);
  });

  it('nothing else: an undeclared function or variable is an error', () => {
    assert.equal(cel.check('nope(1)').valid, false);
    assert.equal(cel.check('x').valid, false);
    assert.throws(() => ev('nope(1)'), /no matching overload/);
    assert.throws(() => ev('x'), /Unknown variable: x/);
  });
});

describe('@marcbachmann/cel-js: the CEL semantics the policy and the CRD rely on', () => {
  it('precedence and associativity', () => {
    assert.equal(ev('1 + 2 == 3 && !false || false'), true);
    assert.equal(ev("true ? 'a' : false ? 'b' : 'c'"), 'a');
    assert.equal(ev("false ? 'a' : false ? 'b' : 'c'"), 'c');
    assert.equal(ev("'a' + 'b' in ['ab']"), true);
    assert.equal(ev('3 - 1 - 1'), 1n);
  });

  it('&& and || absorb errors, in either order', () => {
    assert.equal(ev('false && m.missing', { m: {} }), false);
    assert.equal(ev('m.missing && false', { m: {} }), false);
    assert.equal(ev('true || m.missing', { m: {} }), true);
    assert.equal(ev('m.missing || true', { m: {} }), true);
    assert.throws(() => ev('true && m.missing', { m: {} }), /no such key/i);
  });

  it('is strict where CEL is typed', () => {
    assert.throws(() => ev("'a' + 1"), /no such overload/);
    assert.throws(() => ev("'a' == 1"), /no such overload/);
    assert.throws(() => ev('[1][1]'), /index out of bounds/);
    assert.throws(() => ev("1 ? 'a' : 'b'"), /must be bool/);
    assert.throws(() => ev("'a' in 'abc'"), /no such overload/);
  });

  it('strings: escapes, raw strings, substring, split, size, string()', () => {
    assert.equal(ev("'it\\'s \"q\"'"), 'it\'s "q"');
    assert.equal(ev("r'[^\\s,]+' == '[^\\\\s,]+'"), true);
    assert.equal(ev("'*.local'.substring(1)"), '.local');
    assert.equal(ev("'abcd'.substring(1, 3)"), 'bc');
    assert.throws(() => ev("'ab'.substring(3)"), /out of range/);
    assert.deepEqual(ev("'a.b.c'.split('.')"), ['a', 'b', 'c']);
    assert.equal(ev("size('h\\u00e9')"), 2n); // characters, not bytes
    assert.equal(ev("string(size('abc')) + '!'"), '3!');
  });

  it('macros, has() and maps', () => {
    assert.deepEqual(ev('[1, 2, 3].filter(x, x != 2)'), [1n, 3n]);
    assert.equal(ev('[1, 2].all(x, x > 0)'), true);
    assert.equal(ev('[1, 2].exists(x, x == 2)'), true);
    assert.equal(ev('[1, 2].all(x, x == 1 ? m.missing : false)', { m: {} }), false); // a false beats an error
    assert.throws(() => ev('[1, 2].all(x, x == 1 ? m.missing : true)', { m: {} }), /no such key/i);
    assert.equal(ev('[1, 2].exists(x, x == 1 ? m.missing : true)', { m: {} }), true);
    assert.equal(ev("m.all(k, k != 'b')", { m: { a: '1', c: '2' } }), true); // over a map's keys
    assert.equal(ev("has(m.a) && !has(m.b) && 'a' in m", { m: { a: 1 } }), true);
    assert.equal(ev('m != n', { m: { a: [1] }, n: { a: [2] } }), true);
    assert.equal(ev('m == n', { m: { a: [1] }, n: { a: [1] } }), true);
    assert.equal(ev('m.size in [256, 384]', { m: { size: 384n } }), true);
  });

  it('durations: Go syntax, fractions, comparison', () => {
    assert.equal(ev("duration('1.5h') == duration('90m')"), true);
    assert.equal(ev("duration('1h30m') < duration('24h')"), true);
    assert.equal(ev("duration('.5h') == duration('30m') && duration('5.h') == duration('5h')"), true);
    assert.equal(ev("duration('0s') < duration('1ns')"), true);
    assert.equal(ev("duration('2160h') <= duration('2160h')"), true);
  });

  // Differences from cel-go, pinned so that an upgrade that removes one is noticed.
  it('differs from cel-go: duration("0") is an error (Go\'s time.ParseDuration reads it as 0s)', () => {
    assert.throws(() => ev("duration('0')"), /Invalid duration string: 0/);
  });

  it('differs from cel-go: regular expressions are JavaScript\'s, where \\s also matches Unicode spaces (RE2: ASCII only)', () => {
    assert.deepEqual(ev("'a\\u00a0b'.findAll('[^\\\\s,]+')"), ['a', 'b']); // cel-go: ['a\u00a0b']
    assert.equal(ev("'a\\u00a0b'.matches('^[^\\\\s]+$')"), false); // cel-go: true
  });

  it('differs from cel-go: substring() and indexOf() count UTF-16 code units, size() counts characters', () => {
    assert.equal(ev("'\\U0001F600x'.size()"), 2n);
    assert.equal(ev("'\\U0001F600x'.indexOf('x')"), 2n); // cel-go: 1
    assert.notEqual(ev("'\\U0001F600x'.substring(1)"), 'x'); // cel-go: 'x'
  });
});
