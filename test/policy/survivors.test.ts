/**
 * Issue 19, point 10: the mutants StrykerJS left alive in src/net/ip.ts and src/policy/names.ts, each pinned by a
 * test that a hostile input would slip through without it.
 */
import assert from 'node:assert/strict';
import { IPRanges, networkOf, parseIP } from '../../src/net/ip.ts';
import { checkNames } from '../../src/policy/names.ts';

const ip = (s: string) => {
  const p = parseIP(s);
  assert.ok(p, s);
  return p;
};
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('pinned mutation survivors (issue 19, point 10)', () => {
  it('ip.ts:40 (.every -> .some): only ::ffff:a.b.c.d is IPv4-mapped; 2001:db8::ffff:a00:1 is not 10.0.0.1', () => {
    assert.equal(ip('2001:db8::ffff:a00:1').mappedV4, undefined);
    assert.equal(ip('0:0:0:0:1:ffff:a00:1').mappedV4, undefined, 'one non-zero byte in the first ten is enough to refuse');
    assert.equal(ip('::ffff:10.0.0.1').mappedV4, '10.0.0.1');
    const tenSlash8 = new IPRanges();
    tenSlash8.add(ip('10.0.0.0'), 8);
    assert.equal(tenSlash8.has(ip('2001:db8::ffff:a00:1')), false, 'an IPv4 allow-list range never admits an IPv6 address');
    assert.equal(tenSlash8.has(ip('::ffff:10.0.0.1')), true);
  });

  it('ip.ts:79 (bytes of IPv6 groups on both sides of ::): every group lands at its own offset', () => {
    assert.equal(hex(ip('1:2::7:8').bytes), '00010002000000000000000000070008');
    assert.equal(hex(ip('abcd:ef01::2345').bytes), 'abcdef01000000000000000000002345');
    assert.equal(hex(ip('::1').bytes), '00000000000000000000000000000001');
    assert.equal(hex(ip('fe80::').bytes), 'fe800000000000000000000000000000');
    assert.equal(hex(ip('1:2:3:4:5:6:7:8').bytes), '00010002000300040005000600070008');
    assert.equal(hex(ip('ff00:1::ab:cd00').bytes), 'ff000001000000000000000000abcd00', 'high and low byte of a group in order');
    assert.equal(networkOf(ip('2001:db8:1:2::ff'), 48), '2001:db8:1::');
    const r = new IPRanges();
    r.add(ip('2001:db8::'), 32);
    assert.equal(r.has(ip('2001:db8:ffff::1')), true);
    assert.equal(r.has(ip('2001:db9::1')), false);
  });

  it('names.ts:223 (the ^ anchor of the SPIFFE ID pattern): xspiffe://… and a prefix before spiffe:// are refused', () => {
    const cfg = { clusterDomain: 'cluster.local', allow: [], trustDomain: 'example.org' };
    const own = 'spiffe://example.org/ns/dev/sa/web';
    assert.equal(checkNames({ namespace: 'dev', dnsNames: [], ipAddresses: [], uris: [own] }, cfg), undefined);
    for (const uri of [`x${own}`, `https://evil.example/?${own}`, ` ${own}`]) {
      const v = checkNames({ namespace: 'dev', dnsNames: [], ipAddresses: [], uris: [uri] }, cfg);
      assert.equal(v?.field, 'uris', uri);
    }
  });
});
