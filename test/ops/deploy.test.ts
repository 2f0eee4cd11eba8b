/** deploy/ as kubectl would apply it: `kubectl kustomize deploy/`, parsed and checked. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}
type Any = any;

function render(dir: string): Obj[] {
  const text = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
  return parseAllDocuments(text).map((d) => d.toJS() as Obj);
}

describe('deploy/ (kubectl kustomize)', function () {
  this.timeout(60_000);
  let objs: Obj[];
  const find = (kind: string, name?: string): Any => {
    const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
    assert.ok(o, `${kind} ${name ?? ''} rendered`);
    return o;
  };

  before(() => {
    objs = render('deploy/');
  });

  it('renders the namespace, the CRD, RBAC, Deployment, Service, PDB', () => {
    const got = objs.map((o) => `${o.kind}/${o.metadata.name}`);
    for (const want of [
      'Namespace/mtls-system', 'CustomResourceDefinition/mutualtlsidentities.mtls.dev', 'ServiceAccount/mtls-operator',
      'ClusterRole/mtls-operator', 'ClusterRoleBinding/mtls-operator',
      'Role/mtls-operator-leader-election', 'RoleBinding/mtls-operator-leader-election',
      'Deployment/mtls-operator', 'Service/mtls-operator-metrics', 'PodDisruptionBudget/mtls-operator',
    ]) assert.ok(got.includes(want), `${want} in ${got.join(', ')}`);
    assert.equal(find('Namespace').metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
    for (const o of objs) {
      const cluster = ['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'].includes(o.kind);
      assert.equal(o.metadata.namespace, cluster ? undefined : 'mtls-system', `${o.kind}/${o.metadata.name} namespace`);
    }
  });

  it('Deployment: 2 leader-elected replicas, pinned image, POD_NAME, secure metrics (issue 19.8), probes on the plain health port', () => {
    const d = find('Deployment', 'mtls-operator');
    assert.equal(d.spec.replicas, 2);
    const pod = d.spec.template.spec;
    assert.equal(pod.serviceAccountName, 'mtls-operator');
    assert.equal(pod.terminationGracePeriodSeconds, 30);
    const [c] = pod.containers;
    assert.equal(c.image, 'ghcr.io/mtls-dev/mtls-operator:0.1.0', 'kustomize image mtls-operator');
    assert.ok(c.args.includes('--leader-elect=true'));
    const grace = /^--shutdown-grace=(\d+)s$/.exec(c.args.find((a: string) => a.startsWith('--shutdown-grace=')))!;
    assert.ok(Number(grace[1]) < pod.terminationGracePeriodSeconds);
    assert.deepEqual(c.env.find((e: Any) => e.name === 'POD_NAME').valueFrom, { fieldRef: { fieldPath: 'metadata.name' } });
    assert.ok(c.args.includes('--metrics-auth=kubernetes') && c.args.includes('--metrics-port=9402') && c.args.includes('--health-port=8081'));
    assert.deepEqual(c.ports, [{ name: 'https-metrics', containerPort: 9402, protocol: 'TCP' }, { name: 'health', containerPort: 8081, protocol: 'TCP' }]);
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'health' });
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'health' });
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory);
    const soft = pod.topologySpreadConstraints.find((t: Any) => t.topologyKey === 'kubernetes.io/hostname');
    assert.equal(soft.whenUnsatisfiable, 'ScheduleAnyway');
    assert.equal(pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution, undefined, 'soft only');
  });

  it('Pod Security "restricted": non-root 65532, no escalation, drop ALL, RuntimeDefault, read-only root', () => {
    const pod = find('Deployment', 'mtls-operator').spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.runAsUser, 65532);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.equal(pod.hostNetwork, undefined);
    for (const c of pod.containers) {
      const sc = c.securityContext;
      assert.equal(sc.allowPrivilegeEscalation, false);
      assert.equal(sc.readOnlyRootFilesystem, true);
      assert.deepEqual(sc.capabilities.drop, ['ALL']);
      assert.equal(sc.capabilities.add, undefined);
      assert.notEqual(sc.privileged, true);
    }
  });

  it('Service on 9402 (https-metrics) and a PDB keeping one replica', () => {
    const s = find('Service', 'mtls-operator-metrics');
    assert.deepEqual(s.spec.ports.map((p: Any) => [p.name, p.port, p.targetPort]), [['https-metrics', 9402, 'https-metrics']]);
    const labels = find('Deployment', 'mtls-operator').spec.template.metadata.labels;
    assert.deepEqual(s.spec.selector, labels);
    const pdb = find('PodDisruptionBudget', 'mtls-operator');
    assert.equal(pdb.spec.minAvailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, labels);
  });

  it('RBAC: no "*" anywhere; the Lease Role is get/update by name and create in mtls-system', () => {
    for (const o of objs.filter((x) => x.kind === 'Role' || x.kind === 'ClusterRole')) {
      for (const rule of (o as Any).rules) {
        for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames', 'nonResourceURLs']) {
          for (const v of rule[field] ?? []) assert.ok(!String(v).includes('*'), `${o.kind}/${o.metadata.name} ${field}: ${v}`);
        }
      }
    }
    const role = find('Role', 'mtls-operator-leader-election');
    assert.deepEqual(role.rules, [
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['mtls-operator'], verbs: ['get', 'update'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    ]);
    const binding = find('RoleBinding', 'mtls-operator-leader-election');
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'mtls-operator-leader-election' });
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'mtls-operator', namespace: 'mtls-system' }]);
  });

  it('monitoring/: the PrometheusRule covers expiry, CA expiry, failures and readiness', () => {
    const mon = render('deploy/monitoring/');
    const rule = mon.find((o) => o.kind === 'PrometheusRule') as Any;
    const exprs = rule.spec.groups.flatMap((g: Any) => g.rules).map((r: Any) => `${r.alert}: ${r.expr}`).join('\n');
    for (const metric of ['mtls_identity_expiration_timestamp_seconds', 'mtls_identity_renewal_timestamp_seconds', 'mtls_ca_expiration_timestamp_seconds', 'mtls_issuance_total', 'mtls_identity_ready_status']) {
      assert.ok(exprs.includes(metric), metric);
    }
    // Every metric an alert names is one the operator exports.
    const source = readFileSync('src/ops/metrics.ts', 'utf8') + readFileSync('src/ops/identity-metrics.ts', 'utf8');
    for (const [m] of exprs.matchAll(/mtls_[a-z_]+/g)) assert.ok(source.includes(`'${m}'`), `${m} is exported`);
    assert.equal(objs.some((o) => o.kind === 'PrometheusRule'), false, 'not in the default install');
  });
});
