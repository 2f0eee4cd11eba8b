/**
 * deploy/admission/: the ValidatingAdmissionPolicy that enforces the name policy at
 * `kubectl apply` time. Besides the shape of the YAML, this runs the operator's own table
 * (cases.ts) through the policy's CEL, with the operator's allow-list copied into the param
 * ConfigMap, and requires the same verdict and the same message as checkNames.
 *
 * The CEL runs in @marcbachmann/cel-js with the Kubernetes library functions the policy uses
 * (test/policy/k8s-cel.ts); variables are evaluated lazily, on first use, as the API server does.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { checkNames, type NamePolicyConfig } from '../../src/policy/names.ts';
import { CASES, paramData, type Case } from './cases.ts';
import { kubernetesCel } from './k8s-cel.ts';

const DIR = new URL('../../deploy/admission/', import.meta.url);

function load(file: string): Record<string, any>[] {
  return parseAllDocuments(readFileSync(new URL(file, DIR), 'utf8')).map((d) => {
    if (d.errors.length > 0) throw d.errors[0];
    return d.toJS() as Record<string, any>;
  });
}

interface Expr {
  name?: string;
  expression: string;
  message?: string;
  messageExpression?: string;
}

const [policy] = load('name-policy.yaml');
const [binding] = load('name-policy-binding.yaml');
const [params] = load('name-policy-params.yaml');
const [kustomization] = load('kustomization.yaml');

interface Admission {
  operation?: 'CREATE' | 'UPDATE';
  namespace: string;
  spec: Record<string, unknown>;
  oldSpec?: Record<string, unknown>;
  /** The param ConfigMap's data; undefined: a ConfigMap without data. */
  data?: Record<string, string> | undefined;
}

/** The CEL environment of a ValidatingAdmissionPolicy, with the variables this policy reads. */
const cel = kubernetesCel(['request', 'object', 'oldObject', 'params', 'variables']);

const compiled = new Map<string, (activation: Record<string, unknown>) => unknown>();
function evaluate(expression: string, activation: Record<string, unknown>): unknown {
  let run = compiled.get(expression);
  if (!run) compiled.set(expression, (run = cel.parse(expression)));
  return run(activation);
}

/** `variables.<name>` of a ValidatingAdmissionPolicy: evaluated on first use, then kept. */
function lazyVariables(defs: { name: string; expression: string }[], activation: Record<string, unknown>): Record<string, unknown> {
  const variables: Record<string, unknown> = {};
  const scope = { ...activation, variables };
  for (const { name, expression } of defs) {
    let value: { v: unknown } | undefined;
    Object.defineProperty(variables, name, { enumerable: true, get: () => (value ??= { v: evaluate(expression, scope) }).v });
  }
  return variables;
}

interface Outcome {
  allowed: boolean;
  /** Whether a matchCondition excluded the request. */
  skipped?: boolean;
  message?: string;
}

/**
 * Evaluates the policy as the API server does for one binding: matchConditions, then each
 * validation in order; the first that is false denies with its messageExpression. An evaluation
 * error is thrown (the API server would deny with failurePolicy Fail; here it is a bug).
 */
function admit(a: Admission): Outcome {
  const operation = a.operation ?? 'CREATE';
  const object = { apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity', metadata: { name: 'id', namespace: a.namespace }, spec: a.spec };
  const oldObject = operation === 'UPDATE' ? { ...object, spec: a.oldSpec ?? {} } : null;
  const activation: Record<string, unknown> = {
    request: { operation, namespace: a.namespace, name: 'id', kind: { group: 'mtls.dev', version: 'v1alpha1', kind: 'MutualTLSIdentity' } },
    object,
    oldObject,
    params: {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: params!.metadata.name, namespace: params!.metadata.namespace },
      ...(a.data !== undefined ? { data: a.data } : {}),
    },
  };
  for (const mc of policy!.spec.matchConditions as Expr[]) {
    const v = evaluate(mc.expression, activation);
    assert.equal(typeof v, 'boolean', `matchCondition ${mc.name} returns a bool`);
    if (v === false) return { allowed: true, skipped: true };
  }
  const variables = lazyVariables(policy!.spec.variables as { name: string; expression: string }[], activation);
  const withVars = { ...activation, variables };
  for (const v of policy!.spec.validations as Expr[]) {
    const ok = evaluate(v.expression, withVars);
    assert.equal(typeof ok, 'boolean', `${v.expression} returns a bool`);
    if (ok === false) {
      const message = evaluate(v.messageExpression!, withVars);
      assert.equal(typeof message, 'string', 'messageExpression returns a string');
      return { allowed: false, message: message as string };
    }
  }
  return { allowed: true };
}

function specOf(c: Case): Record<string, unknown> {
  return {
    ...(c.req.dnsNames.length > 0 ? { dnsNames: c.req.dnsNames } : {}),
    ...(c.req.ipAddresses.length > 0 ? { ipAddresses: c.req.ipAddresses } : {}),
    ...(c.req.commonName !== undefined ? { commonName: c.req.commonName } : {}),
  };
}

function configOf(c: Case): NamePolicyConfig {
  return { clusterDomain: c.clusterDomain ?? 'cluster.local', allow: c.allow ?? [] };
}

describe('deploy/admission: the YAML', () => {
  it('kustomization.yaml lists the policy, its binding and its param, and sets no namespace', () => {
    assert.equal(kustomization!.kind, 'Kustomization');
    assert.deepEqual([...kustomization!.resources].sort(), ['name-policy-binding.yaml', 'name-policy-params.yaml', 'name-policy.yaml']);
    // kustomize would put cluster-scoped ValidatingAdmissionPolicies in a namespace.
    assert.equal(kustomization!.namespace, undefined);
  });

  it('the policy matches CREATE and UPDATE of mutualtlsidentities.mtls.dev, fails closed, takes a ConfigMap param', () => {
    assert.equal(policy!.apiVersion, 'admissionregistration.k8s.io/v1');
    assert.equal(policy!.kind, 'ValidatingAdmissionPolicy');
    assert.equal(policy!.spec.failurePolicy, 'Fail');
    assert.deepEqual(policy!.spec.paramKind, { apiVersion: 'v1', kind: 'ConfigMap' });
    const rules = policy!.spec.matchConstraints.resourceRules;
    assert.equal(rules.length, 1);
    assert.deepEqual(rules[0].apiGroups, ['mtls.dev']);
    assert.deepEqual(rules[0].resources, ['mutualtlsidentities']); // not /status: the operator's status writes pass
    assert.deepEqual([...rules[0].operations].sort(), ['CREATE', 'UPDATE']);
  });

  it('the binding denies, with the param ConfigMap, and fails closed without it', () => {
    assert.equal(binding!.apiVersion, 'admissionregistration.k8s.io/v1');
    assert.equal(binding!.kind, 'ValidatingAdmissionPolicyBinding');
    assert.equal(binding!.spec.policyName, policy!.metadata.name);
    assert.deepEqual(binding!.spec.validationActions, ['Deny']);
    assert.deepEqual(binding!.spec.paramRef, { name: params!.metadata.name, namespace: params!.metadata.namespace, parameterNotFoundAction: 'Deny' });
    assert.deepEqual([params!.metadata.namespace, params!.metadata.name], ['mtls-system', 'mtls-name-policy']);
  });

  it('the default param allows nothing beyond the namespace rule', () => {
    assert.equal(params!.kind, 'ConfigMap');
    assert.deepEqual(params!.data, { clusterDomain: 'cluster.local' });
  });

  it('takes the namespace from the request', () => {
    const vars = policy!.spec.variables as Expr[];
    assert.equal(vars.find((v) => v.name === 'ns')?.expression, 'request.namespace');
    const all = JSON.stringify(policy!.spec);
    assert.match(all, /variables\.ns \+ '\.svc'/);
    assert.doesNotMatch(all, /object\.metadata\.namespace/);
  });

  it('every validation has a rule-naming message and a messageExpression', () => {
    for (const v of policy!.spec.validations as Expr[]) {
      assert.match(v.message!, /\(rule: [a-z-]+\)$/);
      assert.ok(v.messageExpression);
      assert.equal((v as { reason?: string }).reason, 'Forbidden');
    }
  });

  it('every expression is CEL this suite can evaluate (standard + Kubernetes libraries only)', () => {
    const s = policy!.spec;
    const exprs: string[] = [
      ...(s.matchConditions as Expr[]).map((e) => e.expression),
      ...(s.variables as Expr[]).map((e) => e.expression),
      ...(s.validations as Expr[]).flatMap((e) => [e.expression, e.messageExpression!]),
    ];
    for (const e of exprs) {
      const checked = cel.check(e);
      assert.ok(checked.valid, `${e}\n${checked.error?.message}`);
    }
  });
});

describe('deploy/admission: the operator\'s table through the CEL', () => {
  for (const c of CASES.filter((x) => x.admission)) {
    it(c.title, () => {
      const ts = checkNames(c.req, configOf(c));
      const cel = admit({ namespace: c.req.namespace, spec: specOf(c), data: paramData(configOf(c)) });
      if (ts === undefined) {
        assert.deepEqual(cel, { allowed: true }, `admission refused what the operator allows: ${cel.message}`);
      } else {
        assert.equal(cel.allowed, false, `admission allowed what the operator refuses: ${ts.message}`);
        assert.equal(cel.message, ts.message);
      }
    });
  }
});

describe('deploy/admission: requests and params', () => {
  const bad = { dnsNames: ['payments.prod.svc'] };
  const good = { dnsNames: ['api.dev.svc'] };
  const data = { clusterDomain: 'cluster.local' };

  it('refuses a bad name on CREATE', () => {
    assert.equal(admit({ namespace: 'dev', spec: bad, data }).allowed, false);
  });

  it('refuses an UPDATE that changes the spec to a bad name', () => {
    const out = admit({ operation: 'UPDATE', namespace: 'dev', spec: bad, oldSpec: good, data });
    assert.equal(out.allowed, false);
    assert.match(out.message!, /belongs to namespace "prod"/);
  });

  it('lets an UPDATE that leaves the spec alone through (an older identity can still be relabelled or deleted)', () => {
    assert.deepEqual(admit({ operation: 'UPDATE', namespace: 'dev', spec: bad, oldSpec: bad, data }), { allowed: true, skipped: true });
  });

  it('allows an identity without names, or with an empty spec', () => {
    assert.deepEqual(admit({ namespace: 'dev', spec: {}, data }), { allowed: true });
    assert.deepEqual(admit({ namespace: 'dev', spec: { duration: '24h' }, data }), { allowed: true });
  });

  it('a ConfigMap without data means cluster.local and no exceptions', () => {
    assert.deepEqual(admit({ namespace: 'dev', spec: { dnsNames: ['api.dev.svc.cluster.local'] }, data: undefined }), { allowed: true });
    assert.equal(admit({ namespace: 'dev', spec: { dnsNames: ['a.example.com'] }, data: undefined }).allowed, false);
  });

  it('reads suffixes separated by spaces, commas and newlines', () => {
    const d = { ...data, 'dnsSuffixes.dev': ' a.example, b.example\n c.example\td.example ,,' };
    for (const n of ['a.example', 'x.b.example', 'c.example', 'd.example']) {
      assert.deepEqual(admit({ namespace: 'dev', spec: { dnsNames: [n] }, data: d }), { allowed: true }, n);
    }
    assert.equal(admit({ namespace: 'dev', spec: { dnsNames: ['e.example'] }, data: d }).allowed, false);
  });

  it('a namespace\'s key does not apply to another namespace, the key without a namespace applies to all', () => {
    const d = { ...data, 'dnsSuffixes.prod': 'p.example', dnsSuffixes: 'all.example', 'ipRanges.prod': '10.0.0.0/8' };
    assert.equal(admit({ namespace: 'dev', spec: { dnsNames: ['x.p.example'] }, data: d }).allowed, false);
    assert.equal(admit({ namespace: 'dev', spec: { ipAddresses: ['10.0.0.1'] }, data: d }).allowed, false);
    assert.deepEqual(admit({ namespace: 'prod', spec: { dnsNames: ['x.p.example'], ipAddresses: ['10.0.0.1'] }, data: d }), { allowed: true });
    assert.deepEqual(admit({ namespace: 'dev', spec: { dnsNames: ['x.all.example'] }, data: d }), { allowed: true });
  });

  it('ignores an entry of ipRanges that is not a CIDR (it allows nothing) without failing', () => {
    const d = { ...data, 'ipRanges.dev': 'banana 10.0.0.1 10.0.0.0/8' };
    assert.deepEqual(admit({ namespace: 'dev', spec: { ipAddresses: ['10.1.1.1'] }, data: d }), { allowed: true });
    assert.equal(admit({ namespace: 'dev', spec: { ipAddresses: ['11.1.1.1'] }, data: d }).allowed, false);
  });

  it('uses the param\'s clusterDomain', () => {
    const d = { clusterDomain: 'corp.example' };
    assert.deepEqual(admit({ namespace: 'dev', spec: { dnsNames: ['api.dev.svc.corp.example'] }, data: d }), { allowed: true });
    assert.equal(admit({ namespace: 'dev', spec: { dnsNames: ['api.dev.svc.cluster.local'] }, data: d }).allowed, false);
  });

  it('handles the largest spec the CRD admits (100 names, 32 IPs) with a long allow-list', () => {
    const names = Array.from({ length: 100 }, (_, i) => `s${i}.${'x'.repeat(40)}.dev.svc.cluster.local`);
    const ipsList = Array.from({ length: 32 }, (_, i) => `10.0.${i}.1`);
    const d = { ...data, 'dnsSuffixes.dev': Array.from({ length: 100 }, (_, i) => `e${i}.example`).join(' '), 'ipRanges.dev': '10.0.0.0/16' };
    assert.deepEqual(admit({ namespace: 'dev', spec: { dnsNames: names, ipAddresses: ipsList }, data: d }), { allowed: true });
    const out = admit({ namespace: 'dev', spec: { dnsNames: [...names.slice(0, 99), 'z.prod.svc'] }, data: d });
    assert.match(out.message!, /^dnsNames\[99\] "z\.prod\.svc" belongs to namespace "prod"/);
  });
});
