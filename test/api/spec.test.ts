import assert from 'node:assert/strict';
import {
  DEFAULT_USAGES,
  InvalidSpecError,
  KEY_USAGES,
  LIMITS,
  MAX_NAME_FOR_DEFAULT_SECRET,
  MESSAGES,
  canonicalIP,
  defaultSecretName,
  formatDuration,
  issuanceHash,
  parseDuration,
  resolveSpec,
  spiffeId,
  type ResolvedSpec,
} from '../../src/api/spec.ts';
import type { MutualTLSIdentity, MutualTLSIdentitySpec } from '../../src/api/types.ts';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const NAMING = { trustDomain: 'cluster.local' };

function identity(spec?: unknown, metadata: Partial<MutualTLSIdentity['metadata']> = {}): MutualTLSIdentity {
  return {
    apiVersion: 'mtls.dev/v1alpha1',
    kind: 'MutualTLSIdentity',
    metadata: { name: 'web', namespace: 'prod', ...metadata },
    ...(spec === undefined ? {} : { spec: spec as MutualTLSIdentitySpec }),
  };
}

function resolve(spec?: unknown, metadata?: Partial<MutualTLSIdentity['metadata']>): ResolvedSpec {
  return resolveSpec(identity(spec, metadata), NAMING);
}

describe('api/spec: parseDuration', () => {
  const valid: [string, number][] = [
    ['24h', 24 * H],
    ['1h30m', 90 * M],
    ['90m', 90 * M],
    ['2160h', 2160 * H],
    ['1.5h', 90 * M],
    ['300ms', 300],
    ['45s', 45 * S],
    ['1h0m0s', H],
    ['0', 0],
    ['0s', 0],
    ['.5h', 30 * M],
    ['5.h', 5 * H],
    ['1m30.5s', 90.5 * S],
    ['1us', 0.001],
    ['1ns', 0.000001],
    ['1h1ms', H + 1],
    ['2h45m30s', 2 * H + 45 * M + 30 * S],
    ['0.1s', 100],
  ];
  for (const [text, ms] of valid) {
    it(`parses ${JSON.stringify(text)} as ${ms} ms`, () => {
      assert.equal(parseDuration(text), ms);
    });
  }

  const invalid: [string, RegExp][] = [
    ['', /empty/],
    ['90d', /no "d" unit; write "2160h"/],
    ['1d12h', /no "d" unit; write "36h"/],
    ['7d', /write "168h"/],
    ['-1h', /negative durations are not allowed/],
    ['+1h', /without a sign/],
    ['1 h', /expected a Go duration/],
    [' 1h', /expected a Go duration/],
    ['1h ', /expected a Go duration/],
    ['1H', /expected a Go duration/],
    ['h', /expected a Go duration/],
    ['1', /expected a Go duration/],
    ['.h', /expected a Go duration/],
    ['1.2.3h', /expected a Go duration/],
    ['1hh', /expected a Go duration/],
    ['1µs', /expected a Go duration/],
    ['1e3s', /expected a Go duration/],
    ['1w', /expected a Go duration/],
    ['P1D', /expected a Go duration/],
    ['garbage', /expected a Go duration/],
    ['9999999999999h', /too long/],
  ];
  for (const [text, message] of invalid) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseDuration(text), message);
    });
  }

  it('rejects a non-string with a TypeError', () => {
    assert.throws(() => parseDuration(24 as unknown as string), TypeError);
  });
});

describe('api/spec: formatDuration', () => {
  const table: [number, string][] = [
    [0, '0s'],
    [24 * H, '24h'],
    [90 * M, '1h30m'],
    [2160 * H, '2160h'],
    [45 * S, '45s'],
    [1500, '1s500ms'],
    [300, '300ms'],
    [H + 1, '1h1ms'],
    [0.001, '1us'],
    [0.0015, '1us500ns'],
    [8 * H, '8h'],
    [-90 * M, '-1h30m'],
  ];
  for (const [ms, text] of table) {
    it(`formats ${ms} ms as ${text}`, () => {
      assert.equal(formatDuration(ms), text);
    });
  }

  it('round-trips through parseDuration', () => {
    for (const ms of [1, 999, 1000, 61_000, 3_599_999, H, 25 * H + 1, 2160 * H, 123_456_789, 0.5, 0.000001]) {
      assert.equal(parseDuration(formatDuration(ms)), ms, `${ms} → ${formatDuration(ms)}`);
    }
  });

  it('refuses non-finite numbers', () => {
    assert.throws(() => formatDuration(Number.NaN), RangeError);
    assert.throws(() => formatDuration(Number.POSITIVE_INFINITY), RangeError);
  });
});

describe('api/spec: spiffeId', () => {
  it('builds spiffe://<trust domain>/ns/<namespace>/sa/<service account>', () => {
    assert.equal(spiffeId('cluster.local', 'prod', 'web'), 'spiffe://cluster.local/ns/prod/sa/web');
    assert.equal(spiffeId('example.org', 'a-b', 'x.y'), 'spiffe://example.org/ns/a-b/sa/x.y');
  });

  it('refuses invalid trust domains and path segments with a plain Error', () => {
    for (const [td, ns, sa] of [
      ['Cluster.Local', 'prod', 'web'],
      ['', 'prod', 'web'],
      ['cluster.local/x', 'prod', 'web'],
      ['cluster.local', '', 'web'],
      ['cluster.local', 'prod', '..'],
      ['cluster.local', 'prod', 'a/b'],
    ] as const) {
      assert.throws(
        () => spiffeId(td, ns, sa),
        (err: unknown) => err instanceof Error && !(err instanceof InvalidSpecError),
      );
    }
  });
});

describe('api/spec: canonicalIP', () => {
  const table: [string, string | undefined][] = [
    ['10.0.0.7', '10.0.0.7'],
    ['0.0.0.0', '0.0.0.0'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['FD00::7', 'fd00::7'],
    ['::1.2.3.4', '::102:304'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['01.2.3.4', undefined],
    ['1.2.3.256', undefined],
    ['1.2.3', undefined],
    ['fe80::1%eth0', undefined],
    ['::ffff:10.0.0.1', undefined],
    ['::FFFF:a00:1', undefined],
    ['1::2::3', undefined],
    ['example.com', undefined],
    ['', undefined],
  ];
  for (const [input, want] of table) {
    it(`${JSON.stringify(input)} → ${JSON.stringify(want)}`, () => {
      assert.equal(canonicalIP(input), want);
    });
  }
});

describe('api/spec: resolveSpec defaults', () => {
  const defaults: ResolvedSpec = {
    secretName: 'web-mtls',
    serviceAccountName: 'default',
    spiffeId: 'spiffe://cluster.local/ns/prod/sa/default',
    dnsNames: [],
    ipAddresses: [],
    durationMs: 24 * H,
    key: { algorithm: 'ECDSA', size: 256 },
    encoding: 'PKCS8',
    rotationPolicy: 'Always',
    usages: ['digital signature', 'server auth', 'client auth'],
    secretTemplate: { labels: {}, annotations: {} },
    restartWorkloads: [],
  };

  it('fills every default for an identity without a spec', () => {
    assert.deepEqual(resolve(), defaults);
  });

  it('fills every default for an empty spec, and for empty nested objects', () => {
    assert.deepEqual(resolve({}), defaults);
    assert.deepEqual(resolve({ privateKey: {}, secretTemplate: {} }), defaults);
  });

  it('leaves renewBeforeMs and commonName absent when unset', () => {
    const r = resolve({});
    assert.equal('renewBeforeMs' in r, false);
    assert.equal('commonName' in r, false);
  });

  it('derives secretName from metadata.name, up to the longest name that fits', () => {
    assert.equal(defaultSecretName('web'), 'web-mtls');
    const longest = 'a'.repeat(MAX_NAME_FOR_DEFAULT_SECRET);
    assert.equal(resolve({}, { name: longest }).secretName, `${longest}-mtls`);
    assert.equal(resolve({}, { name: longest }).secretName.length, LIMITS.nameMaxLength);
    // an explicit secretName lifts the limit
    assert.equal(resolve({ secretName: 'x' }, { name: `${longest}a` }).secretName, 'x');
  });

  it('resolves a full spec', () => {
    const r = resolve({
      secretName: 'web-tls',
      serviceAccountName: 'web-sa',
      dnsNames: ['web.prod.svc', '*.web.prod.svc', 'web.prod.svc'],
      ipAddresses: ['10.0.0.7', '2001:DB8::1', '2001:db8:0::1', 'fd00::7'],
      commonName: 'web',
      duration: '720h',
      renewBefore: '240h',
      privateKey: { algorithm: 'RSA', size: 3072, encoding: 'PKCS1', rotationPolicy: 'Never' },
      usages: ['client auth', 'server auth', 'digital signature'],
      secretTemplate: { labels: { team: 'payments' }, annotations: { 'reloader.stakater.com/match': 'true' } },
    });
    assert.deepEqual(r, {
      secretName: 'web-tls',
      serviceAccountName: 'web-sa',
      spiffeId: 'spiffe://cluster.local/ns/prod/sa/web-sa',
      commonName: 'web',
      dnsNames: ['web.prod.svc', '*.web.prod.svc'],
      ipAddresses: ['10.0.0.7', '2001:db8::1', 'fd00::7'],
      durationMs: 720 * H,
      renewBeforeMs: 240 * H,
      key: { algorithm: 'RSA', size: 3072 },
      encoding: 'PKCS1',
      rotationPolicy: 'Never',
      usages: ['digital signature', 'key encipherment', 'server auth', 'client auth'],
      secretTemplate: { labels: { team: 'payments' }, annotations: { 'reloader.stakater.com/match': 'true' } },
      restartWorkloads: [],
    } satisfies ResolvedSpec);
  });

  it('restartWorkloads: kinds and names checked, duplicates dropped', () => {
    assert.deepEqual(resolve({ restartWorkloads: [{ kind: 'Deployment', name: 'web' }, { kind: 'StatefulSet', name: 'db' }, { kind: 'Deployment', name: 'web' }] }).restartWorkloads,
      [{ kind: 'Deployment', name: 'web' }, { kind: 'StatefulSet', name: 'db' }]);
    assert.throws(() => resolve({ restartWorkloads: [{ kind: 'Pod', name: 'web' }] }), /spec\.restartWorkloads\[0\]\.kind/);
    assert.throws(() => resolve({ restartWorkloads: [{ kind: 'Deployment', name: 'Web!' }] }), /spec\.restartWorkloads\[0\]\.name/);
  });

  it('fills the default size per algorithm, and size 0 for Ed25519 (size ignored)', () => {
    assert.deepEqual(resolve({ privateKey: { algorithm: 'ECDSA' } }).key, { algorithm: 'ECDSA', size: 256 });
    assert.deepEqual(resolve({ privateKey: { size: 384 } }).key, { algorithm: 'ECDSA', size: 384 });
    assert.deepEqual(resolve({ privateKey: { algorithm: 'RSA' } }).key, { algorithm: 'RSA', size: 2048 });
    assert.deepEqual(resolve({ privateKey: { algorithm: 'RSA', size: 4096 } }).key, { algorithm: 'RSA', size: 4096 });
    assert.deepEqual(resolve({ privateKey: { algorithm: 'Ed25519' } }).key, { algorithm: 'Ed25519', size: 0 });
    assert.deepEqual(resolve({ privateKey: { algorithm: 'Ed25519', size: 256 } }).key, { algorithm: 'Ed25519', size: 0 });
  });

  it('adds key encipherment for RSA only, and keeps usages in canonical order without duplicates', () => {
    assert.deepEqual(resolve({ privateKey: { algorithm: 'RSA' } }).usages, [...KEY_USAGES]);
    assert.deepEqual(resolve({ privateKey: { algorithm: 'Ed25519' } }).usages, [...DEFAULT_USAGES]);
    assert.deepEqual(resolve({ usages: ['server auth', 'digital signature', 'server auth'] }).usages, [
      'digital signature',
      'server auth',
    ]);
    assert.deepEqual(
      resolve({ privateKey: { algorithm: 'RSA' }, usages: ['key encipherment', 'digital signature'] }).usages,
      ['digital signature', 'key encipherment'],
    );
  });

  it('accepts the edges of every limit', () => {
    const label63 = 'a'.repeat(63);
    const name253 = [label63, label63, label63, 'a'.repeat(61)].join('.');
    assert.equal(name253.length, 253);
    const r = resolve({
      dnsNames: [name253, `*.${label63}.example`, 'localhost', 'x', '0-a.b', 'xn--bcher-kva.example'],
      commonName: 'c'.repeat(64),
      duration: '1h',
      renewBefore: '1ns',
      secretName: name253,
      serviceAccountName: name253,
    });
    assert.equal(r.dnsNames.length, 6);
    assert.equal(r.renewBeforeMs, 0.000001);
    assert.equal(resolve({ duration: '2160h' }).durationMs, 2160 * H);
    assert.equal(resolve({ duration: '90m', renewBefore: '89m59s' }).renewBeforeMs, 89 * M + 59 * S);
    assert.equal(resolve({ dnsNames: Array.from({ length: 100 }, (_, i) => `n${i}.example`) }).dnsNames.length, 100);
    assert.equal(resolve({ ipAddresses: Array.from({ length: 32 }, (_, i) => `10.0.0.${i}`) }).ipAddresses.length, 32);
    const many = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, 'v']));
    const t = resolve({ secretTemplate: { labels: many, annotations: many } }).secretTemplate;
    assert.equal(Object.keys(t.labels).length, 32);
    const longest = resolve({ secretTemplate: { annotations: { a: 'x'.repeat(1024) } } }).secretTemplate;
    assert.equal(longest.annotations.a?.length, 1024);
    // look-alikes of the reserved keys are fine
    const ok = { 'foo.mtls.dev/x': 'a', 'app.kubernetes.io/name': 'web', 'mtls.dev': 'b' };
    assert.deepEqual(resolve({ secretTemplate: { labels: ok } }).secretTemplate.labels, ok);
    assert.deepEqual(resolve({ secretTemplate: { labels: { empty: '' } } }).secretTemplate.labels, { empty: '' });
  });

  it('does not change its input and returns maps of its own', () => {
    const spec = {
      dnsNames: ['b.example', 'a.example', 'b.example'],
      ipAddresses: ['2001:DB8::1'],
      secretTemplate: { labels: { a: 'b' }, annotations: { c: 'd' } },
    };
    const before = structuredClone(spec);
    const r = resolve(spec);
    assert.deepEqual(spec, before);
    assert.notEqual(r.secretTemplate.labels, spec.secretTemplate.labels);
    assert.notEqual(r.dnsNames, spec.dnsNames);
  });
});

describe('api/spec: resolveSpec rejects what the CRD rejects', () => {
  type Case = [what: string, spec: unknown, field: string, detail: string, metadata?: Partial<MutualTLSIdentity['metadata']>];
  const tooLong = (n: number) => `Too long: may not be more than ${n} characters`;
  const label63 = 'a'.repeat(63);
  const cases: Case[] = [
    // metadata
    ['no namespace', {}, 'metadata.namespace', MESSAGES.namespaceRequired, { namespace: undefined }],
    ['bad namespace', {}, 'metadata.namespace', MESSAGES.namespaceInvalid, { namespace: 'Prod' }],
    ['no name', {}, 'metadata.name', MESSAGES.nameRequired, { name: '' }],
    ['spec not an object', 'x', 'spec', 'must be of type object'],
    // secretName
    ['uppercase secretName', { secretName: 'Web' }, 'spec.secretName', MESSAGES.secretName],
    ['secretName with _', { secretName: 'web_tls' }, 'spec.secretName', MESSAGES.secretName],
    ['empty secretName', { secretName: '' }, 'spec.secretName', MESSAGES.secretName],
    ['secretName ending in -', { secretName: 'web-' }, 'spec.secretName', MESSAGES.secretName],
    ['secretName too long', { secretName: 'a'.repeat(254) }, 'spec.secretName', tooLong(253)],
    ['secretName not a string', { secretName: 7 }, 'spec.secretName', 'must be of type string'],
    [
      'name too long for the default secretName',
      {},
      'spec.secretName',
      MESSAGES.defaultSecretNameTooLong,
      { name: 'a'.repeat(MAX_NAME_FOR_DEFAULT_SECRET + 1) },
    ],
    // serviceAccountName
    ['uppercase serviceAccountName', { serviceAccountName: 'Web' }, 'spec.serviceAccountName', MESSAGES.serviceAccountName],
    ['serviceAccountName with /', { serviceAccountName: 'a/b' }, 'spec.serviceAccountName', MESSAGES.serviceAccountName],
    ['serviceAccountName too long', { serviceAccountName: 'a'.repeat(254) }, 'spec.serviceAccountName', tooLong(253)],
    // dnsNames
    ['uppercase DNS name', { dnsNames: ['ok.example', 'Web.example'] }, 'spec.dnsNames[1]', MESSAGES.dnsName],
    ['trailing dot', { dnsNames: ['web.example.'] }, 'spec.dnsNames[0]', MESSAGES.dnsName],
    ['empty label', { dnsNames: ['web..example'] }, 'spec.dnsNames[0]', MESSAGES.dnsName],
    ['label starting with -', { dnsNames: ['-web.example'] }, 'spec.dnsNames[0]', MESSAGES.dnsName],
    ['label ending with -', { dnsNames: ['web-.example'] }, 'spec.dnsNames[0]', MESSAGES.dnsName],
    ['label of 64', { dnsNames: [`${label63}a.example`] }, 'spec.dnsNames[0]', MESSAGES.dnsName],
    ['underscore', { dnsNames: ['_srv.example'] }, 'spec.dnsNames[0]', MESSAGES.dnsName],
    ['bare wildcard', { dnsNames: ['*'] }, 'spec.dnsNames[0]', MESSAGES.dnsName],
    ['wildcard without a name', { dnsNames: ['*.'] }, 'spec.dnsNames[0]', MESSAGES.dnsName],
    ['wildcard not leftmost', { dnsNames: ['web.*.example'] }, 'spec.dnsNames[0]', MESSAGES.dnsName],
    ['partial wildcard label', { dnsNames: ['w*.example'] }, 'spec.dnsNames[0]', MESSAGES.dnsName],
    ['double wildcard', { dnsNames: ['*.*.example'] }, 'spec.dnsNames[0]', MESSAGES.dnsName],
    ['empty DNS name', { dnsNames: [''] }, 'spec.dnsNames[0]', MESSAGES.dnsName],
    ['space', { dnsNames: ['web example'] }, 'spec.dnsNames[0]', MESSAGES.dnsName],
    ['IP as a DNS name', { dnsNames: ['10.0.0.1'] }, 'spec.dnsNames[0]', MESSAGES.dnsNameIsIP],
    ['DNS name too long', { dnsNames: [[label63, label63, label63, 'a'.repeat(62)].join('.')] }, 'spec.dnsNames[0]', tooLong(253)],
    [
      'too many DNS names',
      { dnsNames: Array.from({ length: 101 }, (_, i) => `n${i}.example`) },
      'spec.dnsNames',
      'Too many: 101: must have at most 100 items',
    ],
    ['dnsNames not a list', { dnsNames: 'web.example' }, 'spec.dnsNames', 'must be of type array'],
    ['DNS name not a string', { dnsNames: [7] }, 'spec.dnsNames[0]', 'must be of type string'],
    // ipAddresses
    ['IPv4 out of range', { ipAddresses: ['10.0.0.256'] }, 'spec.ipAddresses[0]', MESSAGES.ipAddress],
    ['IPv4 leading zero', { ipAddresses: ['10.0.0.01'] }, 'spec.ipAddresses[0]', MESSAGES.ipAddress],
    ['IPv6 zone', { ipAddresses: ['::1', 'fe80::1%eth0'] }, 'spec.ipAddresses[1]', MESSAGES.ipAddress],
    ['IPv4-mapped IPv6', { ipAddresses: ['::ffff:10.0.0.1'] }, 'spec.ipAddresses[0]', MESSAGES.ipAddress],
    ['IPv4-mapped IPv6, hex', { ipAddresses: ['::ffff:a00:1'] }, 'spec.ipAddresses[0]', MESSAGES.ipAddress],
    ['a name as an IP', { ipAddresses: ['web.example'] }, 'spec.ipAddresses[0]', MESSAGES.ipAddress],
    ['a CIDR as an IP', { ipAddresses: ['10.0.0.0/8'] }, 'spec.ipAddresses[0]', MESSAGES.ipAddress],
    ['IP too long', { ipAddresses: ['1'.repeat(46)] }, 'spec.ipAddresses[0]', tooLong(45)],
    [
      'too many IPs',
      { ipAddresses: Array.from({ length: 33 }, (_, i) => `10.0.0.${i}`) },
      'spec.ipAddresses',
      'Too many: 33: must have at most 32 items',
    ],
    // commonName
    ['commonName too long', { commonName: 'c'.repeat(65) }, 'spec.commonName', tooLong(64)],
    ['empty commonName', { commonName: '' }, 'spec.commonName', 'Invalid value: "": should be at least 1 chars long'],
    // duration
    ['days', { duration: '90d' }, 'spec.duration', MESSAGES.durationFormat],
    ['negative duration', { duration: '-24h' }, 'spec.duration', MESSAGES.durationFormat],
    ['duration with a space', { duration: '24 h' }, 'spec.duration', MESSAGES.durationFormat],
    ['duration without a unit', { duration: '24' }, 'spec.duration', MESSAGES.durationFormat],
    ['duration as a number', { duration: 24 }, 'spec.duration', 'must be of type string'],
    ['duration too short', { duration: '59m59s' }, 'spec.duration', MESSAGES.durationRange],
    ['duration zero', { duration: '0' }, 'spec.duration', MESSAGES.durationRange],
    ['duration too long', { duration: '2160h1ns' }, 'spec.duration', MESSAGES.durationRange],
    ['duration far too long', { duration: '9999999999999h' }, 'spec.duration', MESSAGES.durationFormat],
    ['duration text too long', { duration: `${'0'.repeat(31)}1h` }, 'spec.duration', tooLong(32)],
    // renewBefore
    ['renewBefore in days', { renewBefore: '8d' }, 'spec.renewBefore', MESSAGES.renewBeforeFormat],
    ['negative renewBefore', { renewBefore: '-1h' }, 'spec.renewBefore', MESSAGES.renewBeforeFormat],
    ['renewBefore 0s', { renewBefore: '0s' }, 'spec.renewBefore', MESSAGES.renewBeforePositive],
    ['renewBefore 0', { renewBefore: '0' }, 'spec.renewBefore', MESSAGES.renewBeforePositive],
    ['renewBefore = default duration', { renewBefore: '24h' }, 'spec.renewBefore', MESSAGES.renewBeforeShorter],
    ['renewBefore > duration', { duration: '2h', renewBefore: '121m' }, 'spec.renewBefore', MESSAGES.renewBeforeShorter],
    ['renewBefore = duration, other spelling', { duration: '1.5h', renewBefore: '90m' }, 'spec.renewBefore', MESSAGES.renewBeforeShorter],
    // privateKey
    ['privateKey not an object', { privateKey: 'RSA' }, 'spec.privateKey', 'must be of type object'],
    [
      'unknown algorithm',
      { privateKey: { algorithm: 'DSA' } },
      'spec.privateKey.algorithm',
      'Unsupported value: "DSA": supported values: "ECDSA", "Ed25519", "RSA"',
    ],
    [
      'lowercase algorithm',
      { privateKey: { algorithm: 'ecdsa' } },
      'spec.privateKey.algorithm',
      'Unsupported value: "ecdsa": supported values: "ECDSA", "Ed25519", "RSA"',
    ],
    ['ECDSA 521', { privateKey: { algorithm: 'ECDSA', size: 521 } }, 'spec.privateKey.size', MESSAGES.ecdsaSize],
    ['ECDSA (default) 2048', { privateKey: { size: 2048 } }, 'spec.privateKey.size', MESSAGES.ecdsaSize],
    ['RSA 1024', { privateKey: { algorithm: 'RSA', size: 1024 } }, 'spec.privateKey.size', MESSAGES.rsaSize],
    ['RSA 256', { privateKey: { algorithm: 'RSA', size: 256 } }, 'spec.privateKey.size', MESSAGES.rsaSize],
    ['size as a string', { privateKey: { size: '256' } }, 'spec.privateKey.size', 'must be of type integer'],
    ['fractional size', { privateKey: { size: 256.5 } }, 'spec.privateKey.size', 'must be of type integer'],
    [
      'unknown encoding',
      { privateKey: { encoding: 'PEM' } },
      'spec.privateKey.encoding',
      'Unsupported value: "PEM": supported values: "PKCS8", "PKCS1"',
    ],
    ['PKCS1 with ECDSA', { privateKey: { algorithm: 'ECDSA', encoding: 'PKCS1' } }, 'spec.privateKey.encoding', MESSAGES.pkcs1RsaOnly],
    ['PKCS1 with Ed25519', { privateKey: { algorithm: 'Ed25519', encoding: 'PKCS1' } }, 'spec.privateKey.encoding', MESSAGES.pkcs1RsaOnly],
    ['PKCS1 with the default algorithm', { privateKey: { encoding: 'PKCS1' } }, 'spec.privateKey.encoding', MESSAGES.pkcs1RsaOnly],
    [
      'unknown rotationPolicy',
      { privateKey: { rotationPolicy: 'Sometimes' } },
      'spec.privateKey.rotationPolicy',
      'Unsupported value: "Sometimes": supported values: "Always", "Never"',
    ],
    // usages
    ['no usages', { usages: [] }, 'spec.usages', 'Invalid value: should have at least 1 items'],
    ['no digital signature', { usages: ['server auth', 'client auth'] }, 'spec.usages', MESSAGES.usagesDigitalSignature],
    [
      'unknown usage',
      { usages: ['digital signature', 'code signing'] },
      'spec.usages[1]',
      'Unsupported value: "code signing": supported values: "digital signature", "key encipherment", "server auth", "client auth"',
    ],
    [
      'key encipherment with ECDSA',
      { usages: ['digital signature', 'key encipherment'] },
      'spec.usages',
      MESSAGES.keyEnciphermentRsaOnly,
    ],
    [
      'key encipherment with Ed25519',
      { privateKey: { algorithm: 'Ed25519' }, usages: ['digital signature', 'key encipherment'] },
      'spec.usages',
      MESSAGES.keyEnciphermentRsaOnly,
    ],
    [
      'too many usages',
      { usages: ['digital signature', 'server auth', 'client auth', 'server auth', 'client auth'] },
      'spec.usages',
      'Too many: 5: must have at most 4 items',
    ],
    // secretTemplate
    ['reserved label prefix', { secretTemplate: { labels: { 'mtls.dev/identity': 'x' } } }, 'spec.secretTemplate.labels', MESSAGES.reservedLabels],
    ['reserved label key', { secretTemplate: { labels: { 'app.kubernetes.io/managed-by': 'me' } } }, 'spec.secretTemplate.labels', MESSAGES.reservedLabels],
    ['reserved annotation prefix', { secretTemplate: { annotations: { 'mtls.dev/serial': '1' } } }, 'spec.secretTemplate.annotations', MESSAGES.reservedAnnotations],
    [
      'reserved annotation key',
      { secretTemplate: { annotations: { 'app.kubernetes.io/managed-by': 'me' } } },
      'spec.secretTemplate.annotations',
      MESSAGES.reservedAnnotations,
    ],
    ['label value with a space', { secretTemplate: { labels: { team: 'a b' } } }, 'spec.secretTemplate.labels[team]', MESSAGES.labelValue],
    ['label value ending in -', { secretTemplate: { labels: { team: 'ab-' } } }, 'spec.secretTemplate.labels[team]', MESSAGES.labelValue],
    ['label value too long', { secretTemplate: { labels: { team: 'a'.repeat(64) } } }, 'spec.secretTemplate.labels[team]', tooLong(63)],
    ['label value not a string', { secretTemplate: { labels: { team: 7 } } }, 'spec.secretTemplate.labels[team]', 'must be of type string'],
    ['label key with a space', { secretTemplate: { labels: { 'my team': 'a' } } }, 'spec.secretTemplate.labels[my team]', MESSAGES.qualifiedKey],
    ['label key with an empty prefix', { secretTemplate: { labels: { '/team': 'a' } } }, 'spec.secretTemplate.labels[/team]', MESSAGES.qualifiedKey],
    ['label key with an uppercase prefix', { secretTemplate: { labels: { 'Example.com/team': 'a' } } }, 'spec.secretTemplate.labels[Example.com/team]', MESSAGES.qualifiedKey],
    ['annotation key name too long', { secretTemplate: { annotations: { ['a'.repeat(64)]: 'x' } } }, `spec.secretTemplate.annotations[${'a'.repeat(64)}]`, MESSAGES.qualifiedKey],
    [
      'too many labels',
      { secretTemplate: { labels: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) } },
      'spec.secretTemplate.labels',
      'Too many: 33: must have at most 32 items',
    ],
    [
      'too many annotations (hostile tenant, issue 19)',
      { secretTemplate: { annotations: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) } },
      'spec.secretTemplate.annotations',
      'Too many: 33: must have at most 32 items',
    ],
    [
      'a 1 MB annotation value (hostile tenant, issue 19)',
      { secretTemplate: { annotations: { a: 'x'.repeat(1024 * 1024) } } },
      'spec.secretTemplate.annotations[a]',
      tooLong(1024),
    ],
    [
      'an annotation value one past the bound',
      { secretTemplate: { annotations: { a: 'x'.repeat(1025) } } },
      'spec.secretTemplate.annotations[a]',
      tooLong(1024),
    ],
    ['labels not a map', { secretTemplate: { labels: ['a'] } }, 'spec.secretTemplate.labels', 'must be of type object'],
  ];

  for (const [what, spec, field, detail, metadata] of cases) {
    it(`${what} → ${field}`, () => {
      assert.throws(
        () => resolve(spec, metadata),
        (err: unknown) => {
          assert.ok(err instanceof InvalidSpecError, `not an InvalidSpecError: ${String(err)}`);
          assert.equal(err.field, field);
          assert.equal(err.detail, detail);
          assert.equal(err.message, `${field}: ${detail}`);
          assert.equal(err.name, 'InvalidSpecError');
          return true;
        },
      );
    });
  }

  it('reports a bad trust domain as a plain Error (operator configuration, not the spec)', () => {
    assert.throws(
      () => resolveSpec(identity({}), { trustDomain: 'Not A Domain' }),
      (err: unknown) => err instanceof Error && !(err instanceof InvalidSpecError) && /trust domain/.test(err.message),
    );
  });
});

describe('api/spec: issuanceHash', () => {
  const base = {
    serviceAccountName: 'web',
    dnsNames: ['web.prod.svc', 'web.prod.svc.cluster.local'],
    ipAddresses: ['10.0.0.7', 'fd00::7'],
    commonName: 'web',
    duration: '24h',
    privateKey: { algorithm: 'RSA', size: 2048, encoding: 'PKCS8' },
    usages: ['digital signature', 'server auth', 'client auth'],
  } as const;
  const hash = (spec: object, metadata?: Partial<MutualTLSIdentity['metadata']>, trustDomain = 'cluster.local') =>
    issuanceHash(resolveSpec(identity(spec, metadata), { trustDomain }));
  const h0 = hash(base);

  it('is 32 lowercase hex characters, and stable', () => {
    assert.match(h0, /^[0-9a-f]{32}$/);
    assert.equal(hash(base), h0);
    assert.equal(hash(structuredClone(base)), h0);
  });

  it('is pinned: changing it reissues every certificate on upgrade', () => {
    // Update this value only on purpose (and say so in the release notes).
    assert.equal(issuanceHash(resolve()), '4a66c7236b883d70cc42a2c02b6304ab');
  });

  it('does not depend on the order of dnsNames, ipAddresses or usages', () => {
    assert.equal(
      hash({
        ...base,
        dnsNames: [...base.dnsNames].reverse(),
        ipAddresses: [...base.ipAddresses].reverse(),
        usages: [...base.usages].reverse(),
      }),
      h0,
    );
  });

  it('does not depend on the spelling of equal values', () => {
    assert.equal(hash({ ...base, ipAddresses: ['10.0.0.7', 'FD00:0::7', 'fd00::7'] }), h0);
    assert.equal(hash({ ...base, duration: '1440m' }), h0);
    assert.equal(hash({ ...base, usages: [...base.usages, 'key encipherment'] }), h0); // RSA: added anyway
  });

  it('changes with every field that shapes the certificate or key', () => {
    const changed: [string, string][] = [
      ['service account', hash({ ...base, serviceAccountName: 'api' })],
      ['namespace', hash(base, { namespace: 'staging' })],
      ['trust domain', hash(base, undefined, 'example.org')],
      ['commonName', hash({ ...base, commonName: 'web2' })],
      ['no commonName', hash({ ...base, commonName: undefined })],
      ['a DNS name more', hash({ ...base, dnsNames: [...base.dnsNames, 'web'] })],
      ['a DNS name less', hash({ ...base, dnsNames: ['web.prod.svc'] })],
      ['an IP more', hash({ ...base, ipAddresses: [...base.ipAddresses, '10.0.0.8'] })],
      ['no IPs', hash({ ...base, ipAddresses: [] })],
      ['algorithm', hash({ ...base, privateKey: { algorithm: 'ECDSA' } })],
      ['size', hash({ ...base, privateKey: { ...base.privateKey, size: 4096 } })],
      ['encoding', hash({ ...base, privateKey: { ...base.privateKey, encoding: 'PKCS1' } })],
      ['duration', hash({ ...base, duration: '25h' })],
      ['usages', hash({ ...base, usages: ['digital signature', 'server auth'] })],
    ];
    for (const [what, h] of changed) assert.notEqual(h, h0, what);
    assert.equal(new Set(changed.map(([, h]) => h)).size, changed.length, 'every change gives its own hash');
  });

  it('ignores renewBefore, secretTemplate, rotationPolicy and secretName', () => {
    assert.equal(hash({ ...base, renewBefore: '1h' }), h0);
    assert.equal(hash({ ...base, secretTemplate: { labels: { a: 'b' }, annotations: { c: 'd' } } }), h0);
    assert.equal(hash({ ...base, privateKey: { ...base.privateKey, rotationPolicy: 'Never' } }), h0);
    assert.equal(hash({ ...base, secretName: 'other' }), h0);
    assert.equal(hash(base, { name: 'other-name' }), h0);
  });
});
