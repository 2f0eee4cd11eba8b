/**
 * The name-policy table: one list of cases that names.test.ts runs through checkNames and
 * admission.test.ts runs through the ValidatingAdmissionPolicy's CEL (where the case can reach
 * admission at all: the CRD schema refuses bad syntax, IPv4-mapped addresses and zones first,
 * and URIs are not in the spec).
 */
import type { AllowRule, NamePolicyConfig, PolicyRequest, PolicyViolation } from '../../src/policy/names.ts';

export interface Refusal {
  field: PolicyViolation['field'];
  value: string;
  rule: string;
  /** The exact message, or a pattern it must match. */
  message?: string | RegExp;
}

export interface Case {
  title: string;
  req: PolicyRequest;
  clusterDomain?: string;
  allow?: AllowRule[];
  trustDomain?: string;
  want: 'allowed' | Refusal;
  /** false: the CRD refuses it before admission, or admission cannot see it (uris). */
  admission: boolean;
}

type Opts = {
  ns?: string;
  clusterDomain?: string;
  allow?: AllowRule[];
  admission?: boolean;
  ips?: string[];
  cn?: string;
  uris?: string[];
  trustDomain?: string;
  dnsNames?: string[];
};

function make(title: string, o: Opts, want: Case['want']): Case {
  return {
    title,
    req: {
      namespace: o.ns ?? 'dev',
      dnsNames: o.dnsNames ?? [],
      ipAddresses: o.ips ?? [],
      ...(o.cn !== undefined ? { commonName: o.cn } : {}),
      ...(o.uris !== undefined ? { uris: o.uris } : {}),
    },
    ...(o.clusterDomain !== undefined ? { clusterDomain: o.clusterDomain } : {}),
    ...(o.allow !== undefined ? { allow: o.allow } : {}),
    ...(o.trustDomain !== undefined ? { trustDomain: o.trustDomain } : {}),
    want,
    admission: o.admission ?? true,
  };
}

const where = (o: Opts) =>
  `in ${o.ns ?? 'dev'}${o.clusterDomain ? ` (cluster domain ${o.clusterDomain})` : ''}${o.allow ? ' with allow-list' : ''}`;

/** A DNS name the identity may hold. */
function okName(name: string, o: Opts = {}): Case {
  return make(`${JSON.stringify(name)} ${where(o)}: allowed`, { ...o, dnsNames: [name] }, 'allowed');
}

/** A DNS name the identity may not hold (as the only dnsName, so at index 0). */
function noName(name: string, rule: string, message: string | RegExp | undefined, o: Opts = {}): Case {
  return make(`${JSON.stringify(name)} ${where(o)}: refused (${rule})`, { ...o, dnsNames: [name] }, {
    field: 'dnsNames',
    value: name,
    rule,
    ...(message !== undefined ? { message } : {}),
  });
}

const syntax = (name: string, message: RegExp, o: Opts = {}) => noName(name, 'dns-syntax', message, { admission: false, ...o });
const other = (name: string, owner: string, o: Opts = {}) =>
  noName(
    name,
    'namespace-bound',
    `dnsNames[0] ${JSON.stringify(name)} belongs to namespace "${owner}", not "${o.ns ?? 'dev'}": an identity may only name services of its own namespace (rule: namespace-bound)`,
    o,
  );
const notOurs = (name: string, o: Opts = {}) => noName(name, 'namespace-bound', /is not a name of namespace .*no allow-list rule/, o);
const notService = (name: string, o: Opts = {}) => noName(name, 'namespace-bound', /is not a service name: a name ending in/, o);
const zone = (name: string, o: Opts = {}) => noName(name, 'namespace-bound', /is in the cluster DNS zone/, o);
const shortName = (name: string, o: Opts = {}) =>
  noName(
    name,
    'short-name',
    `dnsNames[0] ${JSON.stringify(name)} is a short name: a client resolves it through its DNS search path in its own namespace first, so it is not bound to namespace "${o.ns ?? 'dev'}": write <service>.${o.ns ?? 'dev'}.svc; the short names <service> and <service>.${o.ns ?? 'dev'} (exactly, without wildcards or subdomains) need an allow-list rule with shortNames for "${o.ns ?? 'dev'}" (rule: short-name)`,
    o,
  );
const pod = (name: string, o: Opts = {}) => noName(name, 'namespace-bound', /has the form of a pod record/, o);
const wild = (name: string, message: RegExp, o: Opts = {}) => noName(name, 'wildcard', message, o);

function ips(title: string, addresses: string[], want: Case['want'], o: Opts = {}): Case {
  return make(`ipAddresses ${JSON.stringify(addresses)} ${where(o)}: ${title}`, { dnsNames: ['api.dev.svc'], ...o, ips: addresses }, want);
}
const ipRefused = (ip: string, index = 0): Refusal => ({
  field: 'ipAddresses',
  value: ip,
  rule: 'ip-allow-list',
  message: new RegExp(`^ipAddresses\\[${index}\\] ${JSON.stringify(ip).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
});

const LONG_OK = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(53)}.dev.svc`; // 253
const LONG_BAD = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(54)}.dev.svc`; // 254
/** The allow-list grants dev (and redis) the short names. */
const SHORT: AllowRule[] = [{ namespaces: ['dev', 'redis'], shortNames: true }];

const EXAMPLE_COM: AllowRule[] = [{ namespaces: ['dev'], dnsSuffixes: ['example.com'] }];

export const CASES: Case[] = [
  // ---- every allowed form, namespace dev
  okName('api.dev.svc'),
  okName('api.dev.svc.cluster.local'),
  okName('x.y.api.dev.svc'),
  okName('a.b.svc.dev.svc.cluster.local'),
  okName('web-0.api.dev.svc.cluster.local'), // a StatefulSet pod's stable name
  okName('*.api.dev.svc'),
  okName('*.api.dev.svc.cluster.local'),
  okName('*.dev.svc'), // every service of dev: still dev's
  okName('*.dev.svc.cluster.local'),
  okName('xn--bcher-kva.dev.svc'), // punycode is plain ASCII
  okName('dev.dev.svc'), // a service named like its namespace
  okName('123.dev.svc'),
  okName(LONG_OK),
  okName('api.dev.svc.corp.example', { clusterDomain: 'corp.example' }),
  okName('*.api.dev.svc.corp.example', { clusterDomain: 'corp.example' }),
  okName('api.dev.svc.cluster.local', { clusterDomain: 'cluster.local' }),
  // namespaces named like the reserved labels or the cluster domain's labels
  okName('api.svc.svc', { ns: 'svc' }),
  okName('api.svc.svc.cluster.local', { ns: 'svc' }),
  okName('x.pod.svc', { ns: 'pod' }),
  make('several names of dev at once: allowed', { dnsNames: ['api.dev.svc', 'api.dev.svc.cluster.local', '*.api.dev.svc'] }, 'allowed'),
  make('no names at all: allowed', {}, 'allowed'),

  // ---- short names: a client resolves them in its own namespace first, so no namespace owns them
  shortName('api'),
  shortName('api.dev'),
  shortName('v1.api.dev'),
  shortName('*.dev'),
  shortName('svc'), // single labels, whatever they spell
  shortName('pod'),
  shortName('local'),
  shortName('xn--bcher-kva'),
  shortName('123.dev'),
  shortName(`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.dev`),
  shortName('api', { ns: 'svc' }),
  shortName('x.local', { ns: 'local' }),
  shortName('x.cluster', { ns: 'cluster' }),
  shortName('*.cluster', { ns: 'cluster' }),
  // issue 19: in namespace redis, `redis-0.redis` dialled from namespace app is app's own pod redis-0
  shortName('redis-0.redis', { ns: 'redis' }),
  shortName('*.redis', { ns: 'redis' }),
  okName('redis-0.redis.svc', { ns: 'redis' }),
  okName('redis-0.redis.redis.svc', { ns: 'redis' }),
  // a namespace named like a top-level domain claims nothing under it
  shortName('www.example.com', { ns: 'com' }),
  shortName('example.dev', { ns: 'dev' }),
  shortName('www.example.com', { ns: 'com', allow: [{ namespaces: ['com'], shortNames: true }] }),
  // shortNames: exactly <svc> and <svc>.N, for the namespaces listed
  okName('api', { allow: SHORT }),
  okName('api.dev', { allow: SHORT }),
  okName('xn--bcher-kva', { allow: SHORT }),
  okName('redis-0.redis', { ns: 'redis', allow: SHORT }),
  shortName('v1.api.dev', { allow: SHORT }),
  shortName('*.dev', { allow: SHORT }),
  shortName('*.redis', { ns: 'redis', allow: SHORT }),
  shortName('api', { ns: 'prod', allow: SHORT }),
  notOurs('api.prod', { allow: SHORT }),
  other('api.prod.svc', 'prod', { allow: SHORT }),
  wild('*', /is a wildcard for every name/, { allow: SHORT }),
  make('several names of dev with shortNames: allowed', { dnsNames: ['api', 'api.dev', 'api.dev.svc', 'api.dev.svc.cluster.local', '*.api.dev.svc'], allow: SHORT }, 'allowed'),

  // ---- other namespaces, in each position
  make(
    'the brief\'s example: payments.prod.svc from dev, at index 1',
    { dnsNames: ['api.dev.svc', 'payments.prod.svc'] },
    {
      field: 'dnsNames',
      value: 'payments.prod.svc',
      rule: 'namespace-bound',
      message:
        'dnsNames[1] "payments.prod.svc" belongs to namespace "prod", not "dev": an identity may only name services of its own namespace (rule: namespace-bound)',
    },
  ),
  other('payments.prod.svc', 'prod'),
  other('payments.prod.svc.cluster.local', 'prod'),
  other('a.payments.prod.svc', 'prod'),
  other('a.payments.prod.svc.cluster.local', 'prod'),
  other('*.prod.svc', 'prod'),
  other('*.payments.prod.svc.cluster.local', 'prod'),
  other('api.dev.svc', 'dev', { ns: 'prod' }),
  notOurs('payments.prod'),
  notOurs('a.payments.prod'),
  notOurs('*.prod'),
  other('api.dev.svc.corp.example', 'dev', { ns: 'prod', clusterDomain: 'corp.example' }),

  // ---- names that merely end with the namespace's text
  notService('evildev.svc'),
  other('api.evildev.svc', 'evildev'),
  other('api.evildev.svc.cluster.local', 'evildev'),
  notOurs('x.notdev'),
  notOurs('x.evildev'),
  notOurs('x.dev.svc.cluster.local.evil.com'),
  notOurs('dev.example.com'),
  notOurs('api.dev-staging'),

  // ---- outside the cluster
  notOurs('www.example.com'),
  notOurs('example.com'),
  notOurs('api.dev.svc.cluster.local', { clusterDomain: 'corp.example' }),

  // ---- the cluster zone and pod records
  zone('cluster.local'),
  zone('svc.cluster.local'),
  zone('x.cluster.local'),
  zone('10-0-0-1.dev.pod.cluster.local'),
  zone('10-0-0-1.prod.pod.cluster.local'),
  notService('dev.svc.cluster.local'),
  notService('dev.svc'),
  pod('10-0-0-1.prod.pod'),
  pod('10-0-0-1.dev.pod'),
  pod('10-0-0-1.prod.pod', { ns: 'pod' }),
  zone('x.corp.example', { clusterDomain: 'corp.example' }),

  // ---- wildcards
  wild('*', /is a wildcard for every name/),
  wild('*.svc', /puts the wildcard in the namespace's place \(\*\.svc\)/),
  wild('*.svc.cluster.local', /puts the wildcard in the namespace's place \(\*\.svc\.cluster\.local\)/),
  wild('*.cluster.local', /covers the cluster domain "cluster\.local"/),
  wild('*.local', /covers the cluster domain "cluster\.local"/),
  wild('*.local', /covers the cluster domain "cluster\.local"/, { ns: 'local' }),
  wild('*.example', /covers the cluster domain "corp\.example"/, { ns: 'example', clusterDomain: 'corp.example' }),
  notOurs('*.com'),

  // ---- namespaces named svc, local, cluster, pod gain nothing
  other('payments.prod.svc', 'prod', { ns: 'svc' }),
  notService('api.svc', { ns: 'svc' }),
  wild('*.svc', /puts the wildcard in the namespace's place/, { ns: 'svc' }),
  other('x.prod.svc.cluster.local', 'prod', { ns: 'local' }),
  zone('cluster.local', { ns: 'local' }),
  zone('x.cluster.local', { ns: 'local' }),
  zone('x.cluster.local', { ns: 'cluster' }),
  other('payments.prod.svc', 'prod', { ns: 'cluster' }),

  // ---- syntax: refused, never normalised (the CRD refuses these before admission)
  syntax('API.dev.svc', /contains uppercase letters/),
  syntax('api.Dev', /contains uppercase letters/),
  syntax('api.dev.svc.', /ends with a dot/),
  syntax('api.dev.', /ends with a dot/),
  syntax('api..dev', /has an empty label/),
  syntax('.api.dev', /has an empty label/),
  syntax('', /is empty/),
  syntax('bücher.dev', /contains non-ASCII characters: .*punycode/),
  syntax('api.dev\u200b', /contains non-ASCII characters/),
  syntax('ａpi.dev', /contains non-ASCII characters/), // fullwidth a
  syntax(LONG_BAD, /is 254 characters long: a DNS name has at most 253/),
  syntax(`${'a'.repeat(64)}.dev`, /has a label of 64 characters/),
  syntax('a_b.dev', /has an invalid label "a_b"/),
  syntax('-a.dev', /has an invalid label "-a"/),
  syntax('a-.dev', /has an invalid label "a-"/),
  syntax('a b.dev', /has an invalid label "a b"/),
  syntax('a.*.dev', /a wildcard may only be the whole leftmost label/),
  syntax('a*.dev', /a wildcard may only be the whole leftmost label/),
  syntax('**.dev', /a wildcard may only be the whole leftmost label/),
  syntax('*.*.dev', /a wildcard may only be the whole leftmost label/),
  syntax('10.0.0.1', /is an IP address, not a DNS name/),
  syntax('API.example.com', /contains uppercase letters/, { allow: EXAMPLE_COM }), // the allow-list does not override syntax

  // ---- the allow-list: DNS suffixes, label-aligned
  okName('example.com', { allow: EXAMPLE_COM }),
  okName('a.example.com', { allow: EXAMPLE_COM }),
  okName('a.b.example.com', { allow: EXAMPLE_COM }),
  okName('*.example.com', { allow: EXAMPLE_COM }),
  notOurs('badexample.com', { allow: EXAMPLE_COM }),
  notOurs('xexample.com', { allow: EXAMPLE_COM }),
  notOurs('example.com.evil.org', { allow: EXAMPLE_COM }),
  notOurs('example.co', { allow: EXAMPLE_COM }),
  notOurs('*.com', { allow: EXAMPLE_COM }),
  wild('*', /is a wildcard for every name/, { allow: EXAMPLE_COM }),
  notOurs('a.example.com', { allow: [{ namespaces: ['prod'], dnsSuffixes: ['example.com'] }] }),
  okName('a.example.com', { ns: 'prod', allow: [{ namespaces: ['prod'], dnsSuffixes: ['example.com'] }] }),
  okName('a.example.com', { ns: 'anything', allow: [{ dnsSuffixes: ['example.com'] }] }), // no namespaces: every namespace
  okName('a.example.org', {
    allow: [
      { namespaces: ['prod'], dnsSuffixes: ['example.com'] },
      { namespaces: ['dev', 'qa'], dnsSuffixes: ['example.net', 'example.org'] },
    ],
  }),
  okName('a.example.org', { ns: 'qa', allow: [{ namespaces: ['dev', 'qa'], dnsSuffixes: ['example.net', 'example.org'] }] }),
  notOurs('a.example.org', { ns: 'prod', allow: [{ namespaces: ['dev', 'qa'], dnsSuffixes: ['example.org'] }] }),
  okName('payments.prod.svc', { allow: [{ namespaces: ['dev'], dnsSuffixes: ['payments.prod.svc'] }] }), // explicit, reviewable
  other('billing.prod.svc', 'prod', { allow: [{ namespaces: ['dev'], dnsSuffixes: ['payments.prod.svc'] }] }),
  okName('10-0-0-1.dev.pod.cluster.local', { allow: [{ namespaces: ['dev'], dnsSuffixes: ['dev.pod.cluster.local'] }] }),

  // ---- IP addresses: refused unless allowed
  ips('refused', ['10.0.0.1'], ipRefused('10.0.0.1')),
  ips('refused', ['fd00::1'], ipRefused('fd00::1')),
  ips('refused', ['127.0.0.1'], ipRefused('127.0.0.1')),
  ips('refused', ['::1'], ipRefused('::1')),
  ips('refused, naming the mapped IPv4 address', ['::ffff:10.0.0.1'], {
    field: 'ipAddresses',
    value: '::ffff:10.0.0.1',
    rule: 'ip-allow-list',
    message:
      'ipAddresses[0] "::ffff:10.0.0.1" (the IPv4 address 10.0.0.1) is not allowed: an identity may hold an IP address only when the operator\'s allow-list has a range holding it for namespace "dev" (rule: ip-allow-list)',
  }, { admission: false }),
  ips('the second one refused', ['10.0.0.1', '10.9.0.1'], ipRefused('10.9.0.1', 1), { allow: [{ namespaces: ['dev'], ipRanges: ['10.0.0.0/16'] }] }),
  ips('allowed by a v4 range', ['10.1.2.3'], 'allowed', { allow: [{ namespaces: ['dev'], ipRanges: ['10.0.0.0/8'] }] }),
  ips('allowed by a /32', ['10.1.2.3'], 'allowed', { allow: [{ namespaces: ['dev'], ipRanges: ['10.1.2.3/32'] }] }),
  ips('outside the v4 range', ['11.0.0.1'], ipRefused('11.0.0.1'), { allow: [{ namespaces: ['dev'], ipRanges: ['10.0.0.0/8'] }] }),
  ips('v6 not in a v4 range', ['fd00::1'], ipRefused('fd00::1'), { allow: [{ namespaces: ['dev'], ipRanges: ['0.0.0.0/0'] }] }),
  ips('allowed by a v6 range', ['fd12:3456::1'], 'allowed', { allow: [{ namespaces: ['dev'], ipRanges: ['fd00::/8'] }] }),
  ips('outside the v6 range', ['fe80::1'], ipRefused('fe80::1'), { allow: [{ namespaces: ['dev'], ipRanges: ['fd00::/8'] }] }),
  ips('v4 not in ::/0', ['10.0.0.1'], ipRefused('10.0.0.1'), { allow: [{ namespaces: ['dev'], ipRanges: ['::/0'] }] }),
  ips('mapped v4 matched as v4', ['::ffff:10.0.0.1'], 'allowed', { allow: [{ namespaces: ['dev'], ipRanges: ['10.0.0.0/8'] }], admission: false }),
  ips('mapped v4 (hex form) matched as v4', ['::ffff:a00:1'], 'allowed', { allow: [{ namespaces: ['dev'], ipRanges: ['10.0.0.0/8'] }], admission: false }),
  ips('mapped v4 outside the v4 range', ['::ffff:11.0.0.1'], { field: 'ipAddresses', value: '::ffff:11.0.0.1', rule: 'ip-allow-list' }, {
    allow: [{ namespaces: ['dev'], ipRanges: ['10.0.0.0/8'] }],
    admission: false,
  }),
  ips('mapped v4 not in a v6 range', ['::ffff:10.0.0.1'], { field: 'ipAddresses', value: '::ffff:10.0.0.1', rule: 'ip-allow-list' }, {
    allow: [{ namespaces: ['dev'], ipRanges: ['::/0'] }],
    admission: false,
  }),
  ips('IPv4-compatible ::a.b.c.d is IPv6', ['::10.0.0.1'], { field: 'ipAddresses', value: '::10.0.0.1', rule: 'ip-allow-list' }, {
    allow: [{ namespaces: ['dev'], ipRanges: ['10.0.0.0/8'] }],
    admission: false,
  }),
  ips('another namespace\'s range', ['10.1.2.3'], ipRefused('10.1.2.3'), { allow: [{ namespaces: ['prod'], ipRanges: ['10.0.0.0/8'] }] }),
  ips('a range for every namespace', ['10.1.2.3'], 'allowed', { ns: 'qa', dnsNames: [], allow: [{ ipRanges: ['10.0.0.0/8'] }] }),
  ips('several ranges, both families', ['10.1.2.3', 'fd00::7'], 'allowed', { allow: [{ namespaces: ['dev'], ipRanges: ['192.168.0.0/16', '10.0.0.0/8', 'fd00::/8'] }] }),
  ips('not an IP', ['not-an-ip'], { field: 'ipAddresses', value: 'not-an-ip', rule: 'ip-syntax' }, { admission: false }),
  ips('a CIDR is not an IP', ['10.0.0.0/8'], { field: 'ipAddresses', value: '10.0.0.0/8', rule: 'ip-syntax' }, { admission: false }),
  ips('a zone', ['fe80::1%eth0'], { field: 'ipAddresses', value: 'fe80::1%eth0', rule: 'ip-syntax' }, {
    allow: [{ namespaces: ['dev'], ipRanges: ['fe80::/10'] }],
    admission: false,
  }),
  ips('leading zeros', ['010.0.0.1'], { field: 'ipAddresses', value: '010.0.0.1', rule: 'ip-syntax' }, { admission: false }),

  // ---- commonName
  make('CN equal to one of the dnsNames: allowed', { dnsNames: ['api.dev.svc.cluster.local', 'api.dev.svc'], cn: 'api.dev.svc' }, 'allowed'),
  make('CN equal to an allow-listed dnsName: allowed', { dnsNames: ['api.example.com'], cn: 'api.example.com', allow: EXAMPLE_COM }, 'allowed'),
  make('CN of the namespace but not in dnsNames: refused', { dnsNames: ['api.dev.svc.cluster.local'], cn: 'api.dev.svc' }, {
    field: 'commonName',
    value: 'api.dev.svc',
    rule: 'common-name',
    message:
      'commonName "api.dev.svc" is not one of the identity\'s dnsNames: the common name may only repeat one of its DNS names (add it to dnsNames, or leave commonName unset) (rule: common-name)',
  }),
  make('CN without dnsNames: refused', { cn: 'api' }, { field: 'commonName', value: 'api', rule: 'common-name' }),
  make('CN of free text: refused', { dnsNames: ['api.dev.svc'], cn: 'Payments Service' }, { field: 'commonName', value: 'Payments Service', rule: 'common-name' }),
  make('CN of another namespace: refused', { dnsNames: ['api.dev.svc'], cn: 'payments.prod.svc' }, { field: 'commonName', value: 'payments.prod.svc', rule: 'common-name' }),
  make('CN equal to the SPIFFE ID: refused', { dnsNames: ['api.dev.svc'], cn: 'spiffe://cluster.local/ns/dev/sa/default' }, {
    field: 'commonName',
    value: 'spiffe://cluster.local/ns/dev/sa/default',
    rule: 'common-name',
  }),
  make('CN differing in case: refused', { dnsNames: ['api.dev.svc'], cn: 'API.dev.svc' }, { field: 'commonName', value: 'API.dev.svc', rule: 'common-name' }),

  // ---- order: dnsNames, then ipAddresses, then commonName
  make('a bad dnsName is reported before a bad IP and CN', { dnsNames: ['api.dev.svc', 'x.prod.svc'], ips: ['10.0.0.1'], cn: 'nope' }, {
    field: 'dnsNames',
    value: 'x.prod.svc',
    rule: 'namespace-bound',
    message: /^dnsNames\[1\] "x\.prod\.svc" belongs to namespace "prod"/,
  }),
  make('a bad IP is reported before a bad CN', { dnsNames: ['api.dev.svc'], ips: ['10.0.0.1'], cn: 'nope' }, ipRefused('10.0.0.1')),

  // ---- uris: the operator's own SPIFFE ID only (not in the spec: no admission)
  make('own SPIFFE ID: allowed', { uris: ['spiffe://cluster.local/ns/dev/sa/default'], admission: false }, 'allowed'),
  make('own SPIFFE ID in the configured trust domain: allowed', { uris: ['spiffe://example.org/ns/dev/sa/api'], trustDomain: 'example.org', admission: false }, 'allowed'),
  make('SPIFFE ID of another namespace: refused', { uris: ['spiffe://cluster.local/ns/prod/sa/default'], admission: false }, {
    field: 'uris',
    value: 'spiffe://cluster.local/ns/prod/sa/default',
    rule: 'spiffe-id',
    message: /names namespace "prod", not "dev"/,
  }),
  make('SPIFFE ID of another trust domain: refused', { uris: ['spiffe://evil.org/ns/dev/sa/api'], trustDomain: 'example.org', admission: false }, {
    field: 'uris',
    value: 'spiffe://evil.org/ns/dev/sa/api',
    rule: 'spiffe-id',
    message: /has trust domain "evil.org", not the operator's "example.org"/,
  }),
  make('a second URI: refused', { uris: ['spiffe://cluster.local/ns/dev/sa/default', 'spiffe://cluster.local/ns/dev/sa/admin'], admission: false }, {
    field: 'uris',
    value: 'spiffe://cluster.local/ns/dev/sa/admin',
    rule: 'spiffe-id',
    message: /^uris\[1\] .*exactly one URI/,
  }),
  make('an https URI: refused', { uris: ['https://payments.example.com/'], admission: false }, { field: 'uris', value: 'https://payments.example.com/', rule: 'spiffe-id' }),
  make('a SPIFFE ID with extra path: refused', { uris: ['spiffe://cluster.local/ns/dev/sa/default/extra'], admission: false }, {
    field: 'uris',
    value: 'spiffe://cluster.local/ns/dev/sa/default/extra',
    rule: 'spiffe-id',
  }),
  make('a SPIFFE ID with a bad service account: refused', { uris: ['spiffe://cluster.local/ns/dev/sa/Admin'], admission: false }, {
    field: 'uris',
    value: 'spiffe://cluster.local/ns/dev/sa/Admin',
    rule: 'spiffe-id',
  }),
];

/** The param ConfigMap's data for an operator allow-list (the mapping name-policy-params.yaml documents). */
export function paramData(cfg: NamePolicyConfig): Record<string, string> {
  const data: Record<string, string> = { clusterDomain: cfg.clusterDomain };
  const add = (key: string, values: string[] | undefined) => {
    if (!values || values.length === 0) return;
    // Mixed separators on purpose: the policy splits on spaces, commas and newlines.
    data[key] = data[key] === undefined ? values.join(', ') : `${data[key]}\n${values.join(' ')}`;
  };
  for (const rule of cfg.allow) {
    for (const ns of rule.namespaces ?? [undefined]) {
      add(ns === undefined ? 'dnsSuffixes' : `dnsSuffixes.${ns}`, rule.dnsSuffixes);
      add(ns === undefined ? 'ipRanges' : `ipRanges.${ns}`, rule.ipRanges);
      if (rule.shortNames && ns !== undefined) add('shortNames', [ns]);
    }
  }
  return data;
}
