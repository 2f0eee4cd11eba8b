import assert from 'node:assert/strict';
import { checkNames, parsePolicyConfig, POLICY_RULES, type NamePolicyConfig } from '../../src/policy/names.ts';
import { CASES, type Case } from './cases.ts';

function configOf(c: Case): NamePolicyConfig {
  return {
    clusterDomain: c.clusterDomain ?? 'cluster.local',
    allow: c.allow ?? [],
    ...(c.trustDomain !== undefined ? { trustDomain: c.trustDomain } : {}),
  };
}

describe('checkNames: the name policy table', () => {
  for (const c of CASES) {
    it(c.title, () => {
      const v = checkNames(c.req, configOf(c));
      if (c.want === 'allowed') {
        assert.equal(v, undefined, `expected allowed, got: ${v?.message}`);
        return;
      }
      assert.ok(v, 'expected a violation, got none');
      assert.deepEqual({ field: v.field, value: v.value, rule: v.rule }, { field: c.want.field, value: c.want.value, rule: c.want.rule }, v.message);
      assert.ok((POLICY_RULES as readonly string[]).includes(v.rule));
      assert.ok(v.message.includes(JSON.stringify(v.value)), `the message names the value: ${v.message}`);
      assert.ok(v.message.endsWith(`(rule: ${v.rule})`), `the message names the rule: ${v.message}`);
      const index = v.field === 'commonName' ? '' : `[${c.req[v.field]!.indexOf(v.value)}]`;
      assert.ok(v.message.startsWith(`${v.field}${index} `), `the message starts with the field: ${v.message}`);
      if (typeof c.want.message === 'string') assert.equal(v.message, c.want.message);
      else if (c.want.message) assert.match(v.message, c.want.message);
    });
  }
});

describe('checkNames: inputs and config', () => {
  const cfg: NamePolicyConfig = { clusterDomain: 'cluster.local', allow: [] };

  it('returns the first violation only, in dnsNames order', () => {
    const v = checkNames({ namespace: 'dev', dnsNames: ['a.prod.svc', 'b.qa.svc'], ipAddresses: [] }, cfg);
    assert.equal(v?.value, 'a.prod.svc');
  });

  it('throws on a namespace that is not a namespace name (the operator\'s bug, not the user\'s)', () => {
    for (const ns of ['', 'Dev', 'a.b', 'x'.repeat(64)]) {
      assert.throws(() => checkNames({ namespace: ns, dnsNames: [], ipAddresses: [] }, cfg), /is not a valid namespace name/);
    }
  });

  it('throws on an invalid config passed directly, naming the field', () => {
    const bad = (c: unknown, re: RegExp) => assert.throws(() => checkNames({ namespace: 'dev', dnsNames: ['api'], ipAddresses: [] }, c as NamePolicyConfig), re);
    bad({ clusterDomain: '', allow: [] }, /invalid name policy: clusterDomain: "" is empty/);
    bad({ clusterDomain: 'cluster.local.', allow: [] }, /clusterDomain: "cluster.local." ends with a dot/);
    bad({ clusterDomain: 'cluster.local', allow: [{ ipRanges: ['10.0.0.1/8'] }] }, /allow\[0\]\.ipRanges\[0\]: "10.0.0.1\/8" has host bits set/);
    bad({ clusterDomain: 'cluster.local', allow: [{ namespaces: [], dnsSuffixes: ['a.b'] }] }, /allow\[0\]\.namespaces: is empty/);
    bad({ clusterDomain: 'cluster.local', allow: [{ dnsSuffixes: ['.a.b'] }] }, /allow\[0\]\.dnsSuffixes\[0\]: ".a.b" starts with a dot/);
    bad({ clusterDomain: 'cluster.local', allow: [{ namespace: ['dev'], dnsSuffixes: ['a.b'] }] }, /allow\[0\]\.namespace: unknown field/);
  });

  it('sees a config changed after its first use', () => {
    const c: NamePolicyConfig = { clusterDomain: 'cluster.local', allow: [] };
    const req = { namespace: 'dev', dnsNames: ['a.example.com'], ipAddresses: [] };
    assert.ok(checkNames(req, c));
    c.allow.push({ dnsSuffixes: ['example.com'] });
    assert.equal(checkNames(req, c), undefined);
  });

  it('does not change its inputs', () => {
    const req = { namespace: 'dev', dnsNames: ['b', 'a.prod.svc'], ipAddresses: ['10.0.0.1'], commonName: 'b' };
    const c: NamePolicyConfig = { clusterDomain: 'cluster.local', allow: [{ namespaces: ['dev'], ipRanges: ['10.0.0.0/8'] }] };
    const before = JSON.stringify([req, c]);
    checkNames(req, c);
    assert.equal(JSON.stringify([req, c]), before);
  });
});

describe('parsePolicyConfig', () => {
  it('reads YAML', () => {
    const cfg = parsePolicyConfig(`
# the operator's allow-list
clusterDomain: corp.example
allow:
  - namespaces: [payments, billing]
    dnsSuffixes: [pay.example.com]
    ipRanges:
      - 10.20.0.0/16
      - fd00:20::/32
      - ::/0
  - dnsSuffixes: [mesh.example.com]   # every namespace
`);
    assert.deepEqual(cfg, {
      clusterDomain: 'corp.example',
      allow: [
        { namespaces: ['payments', 'billing'], dnsSuffixes: ['pay.example.com'], ipRanges: ['10.20.0.0/16', 'fd00:20::/32', '::/0'] },
        { dnsSuffixes: ['mesh.example.com'] },
      ],
    });
    assert.equal(checkNames({ namespace: 'billing', dnsNames: ['a.pay.example.com'], ipAddresses: ['10.20.3.4'] }, cfg), undefined);
    assert.equal(checkNames({ namespace: 'qa', dnsNames: ['x.mesh.example.com'], ipAddresses: [] }, cfg), undefined);
    assert.equal(checkNames({ namespace: 'qa', dnsNames: ['a.pay.example.com'], ipAddresses: [] }, cfg)?.rule, 'namespace-bound');
  });

  it('reads shortNames: exactly <svc> and <svc>.<ns> for the namespaces listed', () => {
    const cfg = parsePolicyConfig('allow:\n  - namespaces: [legacy]\n    shortNames: true\n');
    assert.deepEqual(cfg, { clusterDomain: 'cluster.local', allow: [{ namespaces: ['legacy'], shortNames: true }] });
    assert.equal(checkNames({ namespace: 'legacy', dnsNames: ['api', 'api.legacy'], ipAddresses: [] }, cfg), undefined);
    assert.equal(checkNames({ namespace: 'legacy', dnsNames: ['*.legacy'], ipAddresses: [] }, cfg)?.rule, 'short-name');
    assert.equal(checkNames({ namespace: 'qa', dnsNames: ['api'], ipAddresses: [] }, cfg)?.rule, 'short-name');
  });

  it('reads JSON', () => {
    const cfg = parsePolicyConfig('{"allow": [{"namespaces": ["dev"], "ipRanges": ["10.0.0.0/8"]}]}');
    assert.deepEqual(cfg, { clusterDomain: 'cluster.local', allow: [{ namespaces: ['dev'], ipRanges: ['10.0.0.0/8'] }] });
  });

  it('defaults: no allow-list, cluster.local', () => {
    assert.deepEqual(parsePolicyConfig('allow: []\n'), { clusterDomain: 'cluster.local', allow: [] });
    assert.deepEqual(parsePolicyConfig('{}'), { clusterDomain: 'cluster.local', allow: [] });
    assert.deepEqual(parsePolicyConfig('clusterDomain: cluster.local\n'), { clusterDomain: 'cluster.local', allow: [] });
  });

  it('keeps YAML 1.2 plain scalars as strings (no, on, yes are namespaces, not booleans)', () => {
    assert.deepEqual(parsePolicyConfig('allow:\n  - namespaces: [no, on, yes]\n    dnsSuffixes: [a.b]\n').allow[0]?.namespaces, ['no', 'on', 'yes']);
  });

  const bad: [string, string, RegExp][] = [
    ['an empty file', '', /the file is empty: write "allow: \[\]"/],
    ['only comments', '# nothing yet\n', /holds no mapping/],
    ['broken YAML', 'allow: [\n', /not valid YAML/],
    ['broken JSON', '{"allow": [}', /not valid JSON/],
    ['duplicate keys', 'allow: []\nallow: []\n', /not valid YAML: Map keys must be unique/],
    ['two documents', 'allow: []\n---\nallow: []\n', /not valid YAML/],
    ['a list at the top', '- a\n', /\(top level\): must be a mapping/],
    ['a string at the top', 'hello\n', /\(top level\): must be a mapping/],
    ['an unknown top-level field', 'alow: []\n', /name policy: alow: unknown field: the fields here are clusterDomain, allow/],
    ['trustDomain in the file (the operator\'s flag)', 'trustDomain: x\n', /trustDomain: unknown field/],
    ['allow not a list', 'allow: {}\n', /allow: must be a list, not a mapping/],
    ['a rule not a mapping', 'allow: [example.com]\n', /allow\[0\]: must be a mapping/],
    ['a misspelt field', 'allow:\n  - namespace: [dev]\n    dnsSuffixes: [a.b]\n', /allow\[0\]\.namespace: unknown field: the fields here are namespaces, dnsSuffixes, ipRanges/],
    ['namespaces empty', 'allow:\n  - namespaces: []\n    dnsSuffixes: [a.b]\n', /allow\[0\]\.namespaces: is empty, so the rule would apply to no namespace.*EVERY namespace/],
    ['namespaces not a list', 'allow:\n  - namespaces: dev\n    dnsSuffixes: [a.b]\n', /allow\[0\]\.namespaces: must be a list, not string "dev"/],
    ['an uppercase namespace', 'allow:\n  - namespaces: [Dev]\n    dnsSuffixes: [a.b]\n', /allow\[0\]\.namespaces\[0\]: "Dev" is not a namespace name/],
    ['a dotted namespace', 'allow:\n  - namespaces: [a.b]\n    dnsSuffixes: [a.b]\n', /allow\[0\]\.namespaces\[0\]: "a.b" is not a namespace name/],
    ['a number as namespace', 'allow:\n  - namespaces: [123]\n    dnsSuffixes: [a.b]\n', /allow\[0\]\.namespaces\[0\]: must be a string, not number 123/],
    ['a rule that allows nothing', 'allow:\n  - namespaces: [dev]\n', /allow\[0\]: allows nothing: give dnsSuffixes, ipRanges, shortNames: true, or several/],
    ['empty lists allow nothing', 'allow:\n  - dnsSuffixes: []\n    ipRanges: []\n', /allow\[0\]: allows nothing/],
    ['shortNames for every namespace', 'allow:\n  - shortNames: true\n', /allow\[0\]\.shortNames: needs the namespaces listed/],
    ['shortNames not a boolean', 'allow:\n  - namespaces: [dev]\n    shortNames: "yes"\n', /allow\[0\]\.shortNames: must be true or false, not string "yes"/],
    ['shortNames false alone', 'allow:\n  - namespaces: [dev]\n    shortNames: false\n', /allow\[0\]: allows nothing/],
    ['a leading dot', 'allow:\n  - dnsSuffixes: [.example.com]\n', /allow\[0\]\.dnsSuffixes\[0\]: ".example.com" starts with a dot: write "example.com"/],
    ['a wildcard suffix', 'allow:\n  - dnsSuffixes: ["*.example.com"]\n', /allow\[0\]\.dnsSuffixes\[0\]: "\*.example.com" has a wildcard: write "example.com"/],
    ['a bare wildcard suffix', 'allow:\n  - dnsSuffixes: ["*"]\n', /allow\[0\]\.dnsSuffixes\[0\]: "\*" has a wildcard/],
    ['an empty suffix', 'allow:\n  - dnsSuffixes: [""]\n', /allow\[0\]\.dnsSuffixes\[0\]: "" is empty/],
    ['an uppercase suffix', 'allow:\n  - dnsSuffixes: [Example.com]\n', /allow\[0\]\.dnsSuffixes\[0\]: "Example.com" contains uppercase letters/],
    ['a trailing dot', 'allow:\n  - dnsSuffixes: [example.com.]\n', /allow\[0\]\.dnsSuffixes\[0\]: "example.com." ends with a dot/],
    ['an empty label', 'allow:\n  - dnsSuffixes: [example..com]\n', /has an empty label/],
    ['a unicode suffix', 'allow:\n  - dnsSuffixes: [bücher.example]\n', /contains non-ASCII characters/],
    ['a bad label', 'allow:\n  - dnsSuffixes: [a_b.example]\n', /has an invalid label "a_b"/],
    ['an IP as suffix', 'allow:\n  - dnsSuffixes: [10.0.0.1]\n', /is an IP address/],
    ['a number as suffix', 'allow:\n  - dnsSuffixes: [42]\n', /allow\[0\]\.dnsSuffixes\[0\]: must be a string, not number 42/],
    ['a second rule wrong', 'allow:\n  - dnsSuffixes: [a.b]\n  - ipRanges: [10.0.0.0/8, 10.1.0.0]\n', /allow\[1\]\.ipRanges\[1\]: "10.1.0.0" is not a CIDR: write the prefix length/],
    ['a bad address', 'allow:\n  - ipRanges: [10.0.0.256/32]\n', /"10.0.0.256\/32" is not a CIDR: "10.0.0.256" is not an IPv4 or IPv6 address/],
    ['a v4 prefix too long', 'allow:\n  - ipRanges: [10.0.0.0/33]\n', /"10.0.0.0\/33" has an invalid prefix length "33": an IPv4 prefix is 0 to 32/],
    ['a v6 prefix too long', 'allow:\n  - ipRanges: ["fd00::/129"]\n', /an IPv6 prefix is 0 to 128/],
    ['a prefix with a leading zero', 'allow:\n  - ipRanges: [10.0.0.0/08]\n', /has an invalid prefix length "08"/],
    ['a negative prefix', 'allow:\n  - ipRanges: [10.0.0.0/-1]\n', /has an invalid prefix length "-1"/],
    ['v4 host bits', 'allow:\n  - ipRanges: [10.1.2.3/8]\n', /"10.1.2.3\/8" has host bits set after the \/8 prefix: write the network address \(10.0.0.0\/8\)/],
    ['v6 host bits', 'allow:\n  - ipRanges: ["fd00::1/8"]\n', /"fd00::1\/8" has host bits set after the \/8 prefix: write the network address \(fd00::\/8\)/],
    ['a mapped v6 range', 'allow:\n  - ipRanges: ["::ffff:10.0.0.0/104"]\n', /is an IPv4-mapped IPv6 range: write the IPv4 range/],
    ['a zone', 'allow:\n  - ipRanges: ["fe80::%eth0/10"]\n', /is not a CIDR: "fe80::%eth0" is not an IPv4 or IPv6 address/],
    ['an empty clusterDomain', 'clusterDomain: ""\n', /clusterDomain: "" is empty/],
    ['an uppercase clusterDomain', 'clusterDomain: Cluster.Local\n', /clusterDomain: "Cluster.Local" contains uppercase letters/],
    ['a dotted clusterDomain', 'clusterDomain: .cluster.local\n', /clusterDomain: ".cluster.local" starts with a dot/],
  ];
  for (const [what, text, re] of bad) {
    it(`refuses ${what}, naming the field`, () => {
      assert.throws(() => parsePolicyConfig(text), (err: Error) => {
        assert.match(err.message, /^name policy: /);
        assert.match(err.message, re);
        return true;
      });
    });
  }
});
