/**
 * The CRD file against its contract and against src/api/spec.ts: the names clients use, a
 * structural and documented schema, and the same enums, defaults, limits and CEL rules as the
 * backstop (so the two cannot drift). The CEL rules also run, in @marcbachmann/cel-js with the
 * Kubernetes functions of test/policy/k8s-cel.ts, over a table of good and bad specs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import {
  CEL_RULES,
  DEFAULT_DURATION,
  DEFAULT_KEY_ALGORITHM,
  DEFAULT_KEY_ENCODING,
  DEFAULT_ROTATION_POLICY,
  DEFAULT_SERVICE_ACCOUNT,
  DEFAULT_USAGES,
  GO_DURATION_PATTERN,
  KEY_ALGORITHMS,
  KEY_ENCODINGS,
  KEY_USAGES,
  LIMITS,
  MAX_DURATION,
  MESSAGES,
  MIN_DURATION,
  ROTATION_POLICIES,
  parseDuration,
  resolveSpec,
  type CelRule,
} from '../../src/api/spec.ts';
import { GROUP, KIND, PLURAL, VERSION, type MutualTLSIdentity } from '../../src/api/types.ts';
import { kubernetesCel } from '../policy/k8s-cel.ts';
import { CRD_CASES, FULL_SPEC, backstop, identityWith } from './crd-cases.ts';

const CRD_PATH = new URL('../../crds/mtls.dev_mutualtlsidentities.yaml', import.meta.url);
const CRDS_DIR = new URL('../../crds/', import.meta.url);

/** A node of the openAPIV3Schema (the parts this test reads). */
interface Schema {
  type?: string;
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  'x-kubernetes-validations'?: { rule: string; message?: string; messageExpression?: string; fieldPath?: string; reason?: string }[];
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  [key: string]: unknown;
}

interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

interface CRD {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames?: string[]; categories?: string[] };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: { status?: object; scale?: object };
      additionalPrinterColumns?: PrinterColumn[];
      schema: { openAPIV3Schema: Schema };
    }[];
  };
}

function loadCRD(text: string): CRD {
  const docs = parseAllDocuments(text);
  assert.equal(docs.length, 1, 'one document');
  const doc = docs[0]!;
  assert.deepEqual(doc.errors, [], 'YAML errors');
  assert.deepEqual(doc.warnings, [], 'YAML warnings');
  return doc.toJS() as CRD;
}

/** Every schema node with its path: '' root, '.' between properties, '[]' items, '{}' map values. */
function* walk(node: Schema, path = ''): Generator<[string, Schema]> {
  yield [path, node];
  for (const [name, child] of Object.entries(node.properties ?? {})) yield* walk(child, path ? `${path}.${name}` : name);
  if (node.items) yield* walk(node.items, `${path}[]`);
  if (typeof node.additionalProperties === 'object') yield* walk(node.additionalProperties, `${path}{}`);
}

function at(root: Schema, path: string): Schema {
  for (const [p, node] of walk(root)) if (p === path) return node;
  throw new Error(`no schema node at ${path}`);
}

/** Applies the schema's defaults as the API server does (a default fills an absent field; recursion into objects present). */
function applyDefaults(node: Schema, value: unknown): unknown {
  if (value === undefined) {
    if (node.default === undefined) return undefined;
    value = structuredClone(node.default);
  }
  if (node.type === 'object' && value && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    for (const [k, child] of Object.entries(node.properties ?? {})) {
      const v = applyDefaults(child, obj[k]);
      if (v !== undefined) obj[k] = v;
    }
  }
  return value;
}

const crdText = readFileSync(CRD_PATH, 'utf8');
const crd = loadCRD(crdText);
const version = crd.spec.versions[0]!;
const root = version.schema.openAPIV3Schema;
const spec = at(root, 'spec');

describe('crds/mtls.dev_mutualtlsidentities.yaml: contract', () => {
  it('is a v1 CRD named <plural>.<group>', () => {
    assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1');
    assert.equal(crd.kind, 'CustomResourceDefinition');
    assert.equal(crd.metadata.name, `${PLURAL}.${GROUP}`);
    assert.equal(crd.metadata.name, 'mutualtlsidentities.mtls.dev');
  });

  it('has the names clients use', () => {
    assert.equal(crd.spec.group, GROUP);
    assert.equal(crd.spec.scope, 'Namespaced');
    assert.deepEqual(crd.spec.names, {
      kind: KIND,
      listKind: `${KIND}List`,
      plural: PLURAL,
      singular: 'mutualtlsidentity',
      shortNames: ['mtlsid', 'mtls'],
      categories: ['mtls'],
    });
  });

  it('serves and stores exactly one version, with the status subresource', () => {
    assert.equal(crd.spec.versions.length, 1);
    assert.equal(version.name, VERSION);
    assert.equal(version.served, true);
    assert.equal(version.storage, true);
    assert.deepEqual(version.subresources, { status: {} });
  });

  it('prints Ready, Secret, Expires, Renewal and Age, and SPIFFE ID and Reason with -o wide', () => {
    const cols = (version.additionalPrinterColumns ?? []).map(({ name, type, jsonPath, priority }) => ({
      name,
      type,
      jsonPath,
      priority: priority ?? 0,
    }));
    assert.deepEqual(cols, [
      { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', priority: 0 },
      { name: 'Secret', type: 'string', jsonPath: '.status.secretName', priority: 0 },
      // Future instants as `date` print "<invalid>" (the server renders dates as time since).
      { name: 'Expires', type: 'string', jsonPath: '.status.notAfter', priority: 0 },
      { name: 'Renewal', type: 'string', jsonPath: '.status.renewalTime', priority: 0 },
      { name: 'SPIFFE ID', type: 'string', jsonPath: '.status.spiffeID', priority: 1 },
      { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', priority: 1 },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', priority: 0 },
    ]);
  });

  it('points every printer column at a field the schema declares', () => {
    for (const col of version.additionalPrinterColumns ?? []) {
      if (col.jsonPath.startsWith('.metadata.')) continue;
      const path = col.jsonPath.slice(1).replace(/\[\?\(@\.type=="Ready"\)\]/, '[]');
      assert.doesNotThrow(() => at(root, path), col.name);
    }
  });
});

describe('crds/mtls.dev_mutualtlsidentities.yaml: schema', () => {
  it('describes every node, so kubectl explain reads like documentation', () => {
    // Root `metadata` is the exception: the API server refuses anything there but `type: object` (test/real/crd.test.ts).
    const missing = [...walk(root)].filter(([p, n]) => p !== 'metadata' && (typeof n.description !== 'string' || n.description.trim().length < 10));
    assert.deepEqual(missing.map(([p]) => p || '<root>'), []);
  });

  it('is structural: every node has a type (or int-or-string / preserve-unknown-fields)', () => {
    const allowed = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);
    for (const [path, node] of walk(root)) {
      const typed = typeof node.type === 'string' && allowed.has(node.type);
      assert.ok(
        typed || node['x-kubernetes-int-or-string'] === true || node['x-kubernetes-preserve-unknown-fields'] === true,
        `${path || '<root>'} has no type`,
      );
      for (const banned of ['$ref', 'allOf', 'anyOf', 'oneOf', 'not', 'additionalItems', 'patternProperties', 'definitions', 'dependencies', 'id', 'nullable']) {
        assert.equal(banned in node, false, `${path}: ${banned} is not allowed here`);
      }
      if (node.type === 'array') assert.ok(node.items, `${path}: an array needs items`);
      if (node.properties) assert.equal(node.additionalProperties, undefined, `${path}: properties and additionalProperties`);
    }
  });

  it('leaves metadata to the API server', () => {
    const metadata = at(root, 'metadata');
    assert.deepEqual(Object.keys(metadata).sort(), ['type']);
    assert.equal(metadata.type, 'object');
  });

  it('uses list types the API server accepts', () => {
    for (const [path, node] of walk(root)) {
      const lt = node['x-kubernetes-list-type'];
      if (lt === undefined) continue;
      assert.equal(node.type, 'array', path);
      if (lt === 'set') assert.notEqual(node.items?.type, 'object', `${path}: a set holds scalars`);
      if (lt === 'map') {
        const keys = node['x-kubernetes-list-map-keys'] ?? [];
        assert.ok(keys.length > 0, `${path}: map keys`);
        for (const k of keys) assert.ok(node.items?.required?.includes(k), `${path}: map key ${k} must be required`);
      }
    }
    for (const p of ['spec.dnsNames', 'spec.ipAddresses', 'spec.usages']) {
      assert.equal(at(root, p)['x-kubernetes-list-type'], 'set', p);
    }
    assert.equal(at(root, 'status.conditions')['x-kubernetes-list-type'], 'map');
    assert.deepEqual(at(root, 'status.conditions')['x-kubernetes-list-map-keys'], ['type']);
  });

  it('gives conditions the metav1.Condition shape', () => {
    const cond = at(root, 'status.conditions[]');
    assert.deepEqual([...(cond.required ?? [])].sort(), ['lastTransitionTime', 'message', 'reason', 'status', 'type']);
    assert.deepEqual(at(root, 'status.conditions[].status').enum, ['True', 'False', 'Unknown']);
    assert.equal(at(root, 'status.conditions[].lastTransitionTime').format, 'date-time');
    assert.equal(at(root, 'status.conditions[].observedGeneration').type, 'integer');
  });

  it('declares every status field the operator writes', () => {
    const fields = Object.keys(at(root, 'status').properties ?? {}).sort();
    assert.deepEqual(fields, [
      'conditions',
      'failedIssuanceAttempts',
      'lastFailureTime',
      'notAfter',
      'notBefore',
      'observedGeneration',
      'renewalTime',
      'revision',
      'secretName',
      'serialNumber',
      'spiffeID',
      'workloadsRestartedFor',
      'workloadsTrustBundle',
    ]);
    for (const f of ['notBefore', 'notAfter', 'renewalTime', 'lastFailureTime']) {
      assert.equal(at(root, `status.${f}`).format, 'date-time', f);
    }
    for (const f of ['observedGeneration', 'revision', 'failedIssuanceAttempts']) {
      assert.equal(at(root, `status.${f}`).type, 'integer', f);
    }
  });

  it('spec.podCertificates: an optional boolean without a server-side default, described for users', () => {
    const f = at(root, 'spec.podCertificates');
    assert.equal(f.type, 'boolean');
    assert.equal((f as { default?: unknown }).default, undefined, 'absent means false; no default written into every identity');
    assert.match(f.description ?? '', /mtls\.dev\/identity/);
    assert.match(f.description ?? '', /false \(default\)/);
    assert.ok(!(spec.required ?? []).includes('podCertificates'));
  });

  it('declares every spec field of src/api/types.ts', () => {
    assert.deepEqual(Object.keys(spec.properties ?? {}).sort(), [
      'additionalOutputFormats',
      'commonName',
      'dnsNames',
      'duration',
      'ipAddresses',
      'keystores',
      'podCertificates',
      'privateKey',
      'renewBefore',
      'restartWorkloads',
      'secretName',
      'secretTemplate',
      'serviceAccountName',
      'usages',
    ]);
    assert.deepEqual(Object.keys(at(root, 'spec.privateKey').properties ?? {}).sort(), [
      'algorithm',
      'encoding',
      'rotationPolicy',
      'size',
    ]);
  });
});

describe('crds/mtls.dev_mutualtlsidentities.yaml: the same rules as src/api/spec.ts', () => {
  it('has the enums of spec.ts', () => {
    assert.deepEqual(at(root, 'spec.privateKey.algorithm').enum, [...KEY_ALGORITHMS]);
    assert.deepEqual(at(root, 'spec.privateKey.encoding').enum, [...KEY_ENCODINGS]);
    assert.deepEqual(at(root, 'spec.privateKey.rotationPolicy').enum, [...ROTATION_POLICIES]);
    assert.deepEqual(at(root, 'spec.usages[]').enum, [...KEY_USAGES]);
  });

  it('has the defaults of spec.ts', () => {
    assert.equal(at(root, 'spec.serviceAccountName').default, DEFAULT_SERVICE_ACCOUNT);
    assert.equal(at(root, 'spec.duration').default, DEFAULT_DURATION);
    assert.equal(at(root, 'spec.privateKey.algorithm').default, DEFAULT_KEY_ALGORITHM);
    assert.equal(at(root, 'spec.privateKey.encoding').default, DEFAULT_KEY_ENCODING);
    assert.equal(at(root, 'spec.privateKey.rotationPolicy').default, DEFAULT_ROTATION_POLICY);
    assert.deepEqual(at(root, 'spec.usages').default, [...DEFAULT_USAGES]);
    // defaults the schema cannot express are left to the controller
    for (const p of ['spec.secretName', 'spec.renewBefore', 'spec.privateKey.size', 'spec.dnsNames', 'spec.commonName']) {
      assert.equal(at(root, p).default, undefined, p);
    }
  });

  it('defaults, applied as the API server applies them, resolve to what resolveSpec fills in by itself', () => {
    const meta = { name: 'web', namespace: 'prod' };
    const bare: MutualTLSIdentity = { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: meta };
    const defaulted = applyDefaults(root, structuredClone(bare)) as MutualTLSIdentity;
    assert.deepEqual(defaulted.spec, {
      serviceAccountName: 'default',
      duration: '24h',
      privateKey: { algorithm: 'ECDSA', encoding: 'PKCS8', rotationPolicy: 'Always' },
      usages: ['digital signature', 'server auth', 'client auth'],
    });
    const naming = { trustDomain: 'cluster.local' };
    assert.deepEqual(resolveSpec(defaulted, naming), resolveSpec(bare, naming));
  });

  it('has the limits of spec.ts', () => {
    const limits: [string, keyof Schema, number][] = [
      ['spec.secretName', 'maxLength', LIMITS.nameMaxLength],
      ['spec.serviceAccountName', 'maxLength', LIMITS.nameMaxLength],
      ['spec.dnsNames', 'maxItems', LIMITS.dnsNamesMaxItems],
      ['spec.dnsNames[]', 'maxLength', LIMITS.dnsNameMaxLength],
      ['spec.ipAddresses', 'maxItems', LIMITS.ipAddressesMaxItems],
      ['spec.ipAddresses[]', 'maxLength', LIMITS.ipAddressMaxLength],
      ['spec.commonName', 'maxLength', LIMITS.commonNameMaxLength],
      ['spec.commonName', 'minLength', 1],
      ['spec.duration', 'maxLength', LIMITS.durationMaxLength],
      ['spec.renewBefore', 'maxLength', LIMITS.durationMaxLength],
      ['spec.usages', 'minItems', 1],
      ['spec.usages', 'maxItems', LIMITS.usagesMaxItems],
      ['spec.secretTemplate.labels', 'maxProperties', LIMITS.templateMaxEntries],
      ['spec.secretTemplate.annotations', 'maxProperties', LIMITS.templateMaxEntries],
      ['spec.secretTemplate.labels{}', 'maxLength', LIMITS.labelValueMaxLength],
      ['spec.secretTemplate.annotations{}', 'maxLength', LIMITS.annotationValueMaxLength],
    ];
    for (const [path, key, value] of limits) assert.equal(at(root, path)[key], value, `${path} ${key}`);
  });

  it('has exactly the CEL rules of spec.ts, each with a one-line message', () => {
    const found: CelRule[] = [];
    for (const [path, node] of walk(root)) {
      for (const v of node['x-kubernetes-validations'] ?? []) {
        assert.equal(typeof v.message, 'string', `${path}: rule without a message: ${v.rule}`);
        assert.ok(v.message!.length > 10 && !/[\r\n]/.test(v.message!), `${path}: message`);
        assert.equal(v.messageExpression, undefined);
        found.push({ path, rule: v.rule, message: v.message!, ...(v.fieldPath ? { fieldPath: v.fieldPath } : {}) });
      }
    }
    const key = (r: CelRule) => JSON.stringify([r.path, r.rule, r.message, r.fieldPath ?? '']);
    assert.deepEqual(found.map(key).sort(), CEL_RULES.map(key).sort());
  });

  it('points every fieldPath at a declared field', () => {
    for (const r of CEL_RULES) {
      if (!r.fieldPath) continue;
      const target = [r.path, r.fieldPath.slice(1)].filter(Boolean).join('.');
      assert.doesNotThrow(() => at(root, target), `${r.path}: ${r.fieldPath}`);
    }
  });

  it('bounds every string, list and map a CEL rule reads (CEL cost)', () => {
    for (const r of CEL_RULES) {
      const node = at(root, r.path);
      if (node.type === 'string') assert.ok(node.maxLength, `${r.path}: maxLength`);
      if (node.type === 'array') assert.ok(node.maxItems, `${r.path}: maxItems`);
      if (node.type === 'object' && node.additionalProperties) assert.ok(node.maxProperties, `${r.path}: maxProperties`);
      // a rule on list items or map values runs once per element
      const parent = r.path.endsWith('[]') || r.path.endsWith('{}') ? at(root, r.path.slice(0, -2)) : undefined;
      if (parent) assert.ok(parent.maxItems ?? parent.maxProperties, `${r.path}: bounded parent`);
    }
  });

  it('uses only RE2-safe regular expressions that JavaScript reads the same way', () => {
    for (const r of CEL_RULES) {
      for (const [, pattern] of r.rule.matchAll(/matches\('([^']*)'\)/g)) {
        assert.ok(pattern, r.rule);
        assert.ok(pattern.startsWith('^') && pattern.endsWith('$'), `${pattern}: anchored`);
        assert.doesNotMatch(pattern, /\\|\(\?|\{\d*,?\d*\}\?/, `${pattern}: no escapes, groups with flags or lazy quantifiers`);
        assert.doesNotThrow(() => new RegExp(pattern), pattern);
      }
    }
  });

  it('keeps its own defaults and bounds valid', () => {
    const re = new RegExp(GO_DURATION_PATTERN);
    for (const d of [DEFAULT_DURATION, MIN_DURATION, MAX_DURATION]) assert.match(d, re);
    const ms = parseDuration(DEFAULT_DURATION);
    assert.ok(ms >= parseDuration(MIN_DURATION) && ms <= parseDuration(MAX_DURATION));
  });
});

/** A CEL rule of the CRD, compiled, with the schema path it sits at. */
interface CompiledRule {
  path: string;
  rule: string;
  message: string;
  fieldPath?: string;
  run: (activation: { self: unknown }) => unknown;
}

/** The CEL environment of a CRD validation rule: `self` is the value at the rule's node. */
const crdCel = kubernetesCel(['self']);

const compiledRules: CompiledRule[] = [...walk(root)].flatMap(([path, node]) =>
  (node['x-kubernetes-validations'] ?? []).map((v) => ({
    path,
    rule: v.rule,
    message: v.message!,
    ...(v.fieldPath ? { fieldPath: v.fieldPath } : {}),
    run: crdCel.parse(v.rule),
  })),
);

/** A JSON value as CEL sees it under the schema: integers are CEL ints (bigint). */
function celValue(node: Schema | undefined, value: unknown): unknown {
  if (node?.type === 'integer' && typeof value === 'number') return BigInt(value);
  if (Array.isArray(value)) return value.map((v) => celValue(node?.items, v));
  if (value !== null && typeof value === 'object') {
    const extra = typeof node?.additionalProperties === 'object' ? node.additionalProperties : undefined;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, celValue(node?.properties?.[k] ?? extra, v)]));
  }
  return value;
}

/** Every value present in `value` with its schema path (as walk() names it) and its field path (as the API server writes it). */
function* present(node: Schema, value: unknown, path = '', field = ''): Generator<{ path: string; field: string; value: unknown }> {
  yield { path, field, value };
  if (Array.isArray(value)) {
    if (node.items) for (const [i, v] of value.entries()) yield* present(node.items, v, `${path}[]`, `${field}[${i}]`);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const child = node.properties?.[k];
      if (child) yield* present(child, v, path ? `${path}.${k}` : k, field ? `${field}.${k}` : k);
      else if (typeof node.additionalProperties === 'object') yield* present(node.additionalProperties, v, `${path}{}`, `${field}[${k}]`);
    }
  }
}

/**
 * The refusals of the CRD's CEL rules for an object, as the API server validates a create: the
 * schema's defaults applied first, then every rule on every value present at its node, each
 * false rule reported as `<field>: <message>` (the field moved by fieldPath). An evaluation
 * error is thrown (the API server would refuse with it; here it is a bug).
 */
function celRefusals(object: MutualTLSIdentity, ran?: Set<CompiledRule>): string[] {
  const value = celValue(root, applyDefaults(root, structuredClone(object)));
  const refusals: string[] = [];
  for (const at of present(root, value)) {
    for (const r of compiledRules.filter((x) => x.path === at.path)) {
      ran?.add(r);
      const ok = r.run({ self: at.value });
      assert.equal(typeof ok, 'boolean', `${at.field}: ${r.rule} returns a bool`);
      if (!ok) refusals.push(`${[at.field, r.fieldPath?.slice(1)].filter(Boolean).join('.')}: ${r.message}`);
    }
  }
  return refusals;
}


describe('crds/mtls.dev_mutualtlsidentities.yaml: the CEL rules, evaluated', () => {
  it('every rule type-checks with the standard and Kubernetes CEL libraries', () => {
    assert.equal(compiledRules.length, CEL_RULES.length);
    for (const r of compiledRules) {
      const checked = crdCel.check(r.rule);
      assert.ok(checked.valid, `${r.path}: ${r.rule}\n${checked.error?.message}`);
    }
  });

  for (const c of CRD_CASES) {
    it(`${c.title}: ${c.want.length === 0 ? 'accepted' : 'refused'}`, () => {
      const object = identityWith(c.spec, c.name);
      assert.deepEqual(celRefusals(object), c.want);
      // The operator's backstop refuses the same specs, with one of the same messages.
      const b = backstop(object);
      if (c.want.length === 0 || c.backstop === false) assert.equal(b, undefined, b);
      else assert.ok(c.want.includes(b!), `resolveSpec: ${b}`);
    });
  }

  it('the full spec runs every rule, and every rule refuses some spec of the table', () => {
    const ran = new Set<CompiledRule>();
    assert.deepEqual(celRefusals(identityWith(FULL_SPEC), ran), []);
    assert.deepEqual(compiledRules.filter((r) => !ran.has(r)).map((r) => `${r.path}: ${r.rule}`), []);
    const refusals = new Set(CRD_CASES.flatMap((c) => c.want.map((w) => w.slice(w.indexOf(': ') + 2))));
    assert.deepEqual(compiledRules.filter((r) => !refusals.has(r.message)).map((r) => `${r.path}: ${r.rule}`), []);
  });

  it('known difference from cel-go: renewBefore "0" is an evaluation error here, the rule\'s message there', () => {
    // Go's time.ParseDuration reads "0" as 0s; cel-js's duration() requires a unit. The API
    // server refuses with "renewBefore must be longer than 0s", as the operator does.
    assert.throws(() => celRefusals(identityWith({ renewBefore: '0' })), /Invalid duration string: 0/);
    assert.equal(backstop(identityWith({ renewBefore: '0' })), `spec.renewBefore: ${MESSAGES.renewBeforePositive}`);
  });
});

describe('crds/: as kubectl reads it', () => {
  let kubectl = true;
  before(function () {
    try {
      execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 20_000 });
    } catch {
      kubectl = false;
      this.skip();
    }
  });

  it('kubectl kustomize crds/ (offline) yields the same object as this test parsed', function () {
    if (!kubectl) this.skip();
    const out = execFileSync('kubectl', ['kustomize', CRDS_DIR.pathname], { encoding: 'utf8', timeout: 60_000 });
    assert.deepEqual(loadCRD(out), crd);
  });
});
