/**
 * Issue 19, point 10: the mutants StrykerJS left alive in src/net/ip.ts and src/policy/names.ts, each pinned by a
 * test that a hostile input would slip through without it.
 */
import assert from 'node:assert/strict';
import { IPRanges, networkOf, normalizeIP, parseIP } from '../../src/net/ip.ts';
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

  // A second StrykerJS run (2026-11-30, over test/policy/*.test.ts and test/api/spec.test.ts) left these alive in ip.ts.

  it('ip.ts:33 (the typeof check): a non-string whose toString() is an address is not one, and nothing but a string is looked at', () => {
    assert.equal(parseIP({ toString: () => '10.0.0.1' }), undefined);
    assert.equal(parseIP({ toString: () => '::1' }), undefined);
    assert.equal(parseIP(42), undefined, 'a number has no includes(): refused, not thrown');
    assert.equal(parseIP(undefined), undefined);
    assert.equal(parseIP(['10.0.0.1']), undefined);
  });

  it('ip.ts:36 (family 6 only): what node:net refuses is refused even where the URL parser would take it (it drops tabs and newlines)', () => {
    for (const s of ['::\t1', '::\n1', 'fd00::\r7', '\t::1']) assert.equal(parseIP(s), undefined, JSON.stringify(s));
    assert.equal(parseIP('::1')?.text, '::1');
  });

  it('ip.ts:40 (both 0xff bytes): ::ff:a00:1 and ::ff00:a00:1 are not IPv4-mapped, only ::ffff:a00:1 is', () => {
    assert.equal(ip('::ff:a00:1').mappedV4, undefined);
    assert.equal(ip('::ff00:a00:1').mappedV4, undefined);
    assert.equal(ip('::a00:1').mappedV4, undefined, 'IPv4-compatible is not IPv4-mapped');
    assert.equal(ip('::ffff:a00:1').mappedV4, '10.0.0.1');
    const tenSlash8 = new IPRanges();
    tenSlash8.add(ip('10.0.0.0'), 8);
    for (const s of ['::ff:a00:1', '::ff00:a00:1']) assert.equal(tenSlash8.has(ip(s)), false, s);
  });

  it('ip.ts:49-50 (normalizeIP): canonical text of an address, undefined (not a throw) for anything else', () => {
    assert.equal(normalizeIP('10.0.0.1'), '10.0.0.1');
    assert.equal(normalizeIP('FD00:0:0::07'), 'fd00::7');
    assert.equal(normalizeIP('::ffff:192.168.0.1'), '::ffff:c0a8:1');
    for (const s of ['banana', '', '10.0.0.1/8', 'fe80::1%eth0', '010.0.0.1']) assert.equal(normalizeIP(s), undefined, s);
  });

  it('names.ts:124 (typeof namespace): a namespace that is not a string is the operator\'s error, even if its text is a label', () => {
    const cfg = { clusterDomain: 'cluster.local', allow: [] };
    assert.throws(() => checkNames({ namespace: { toString: () => 'dev' } as unknown as string, dnsNames: [], ipAddresses: [], uris: [] }, cfg), /is not a valid namespace name/);
  });

  it('names.ts:191 and :209 (the dot before the domain): xcluster.local and *.er.local are outside the cluster zone, and are said to be', () => {
    const cfg = { clusterDomain: 'cluster.local', allow: [] };
    const why = (n: string) => checkNames({ namespace: 'dev', dnsNames: [n], ipAddresses: [], uris: [] }, cfg)?.message ?? '';
    assert.doesNotMatch(why('xcluster.local'), /cluster DNS zone/);
    assert.doesNotMatch(why('api.xcluster.local'), /cluster DNS zone/);
    assert.match(why('api.cluster.local'), /cluster DNS zone/);
    assert.doesNotMatch(why('*.er.local'), /covers the cluster domain/);
    assert.match(why('*.local'), /covers the cluster domain/);
  });
});
