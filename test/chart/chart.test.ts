/**
 * Issue 21 point 2: the Helm chart. One source of truth: with default values `helm template`
 * renders the same objects as `kubectl kustomize deploy/` (the chart reads the CRD and the
 * RBAC/admission/monitoring manifests from crds/ and deploy/ through links; the Deployment,
 * Service, PDB and ServiceAccount are templates compared here). `helm lint` passes, and every
 * value renders what it says.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePolicyConfig } from '../../src/policy/names.ts';
import { helm, helmPath, keyOf, KUBE_VERSION, kustomize, render, type K8sObject } from './helm.ts';

const byKey = (objs: K8sObject[]) => new Map(objs.map((o) => [keyOf(o), o]));
const deployment = (objs: K8sObject[]) => objs.find((o) => o.kind === 'Deployment') as K8sObject & { spec: { template: { spec: { containers: { args: string[]; image: string; env: { name: string; value?: string }[] }[]; volumes?: unknown[] } } } };
const argsOf = (objs: K8sObject[]) => deployment(objs).spec.template.spec.containers[0]!.args;

describe('Helm chart charts/mtls-operator', function () {
  this.timeout(120_000);
  before(function () {
    this.timeout(1_800_000); // the first run builds helm from the Go module proxy
    if (!helmPath()) this.skip();
  });

  it('helm lint --strict passes', () => {
    const r = helm(['lint', '--strict', 'charts/mtls-operator']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('default values render exactly the objects of kubectl kustomize deploy/ (the Namespace is left to --create-namespace)', () => {
    const chart = byKey(render());
    const kust = byKey(kustomize('deploy'));
    const ns = kust.get('Namespace//mtls-system');
    assert.ok(ns, 'deploy/ has the Namespace');
    kust.delete('Namespace//mtls-system');
    // The one Helm-only difference: crds.keep (default true) keeps the CRD on helm uninstall.
    const crd = chart.get('CustomResourceDefinition//mutualtlsidentities.mtls.dev')!;
    assert.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
    delete crd.metadata.annotations!['helm.sh/resource-policy'];
    if (Object.keys(crd.metadata.annotations!).length === 0) delete crd.metadata.annotations;
    assert.deepEqual([...chart.keys()].sort(), [...kust.keys()].sort());
    for (const [k, o] of kust) assert.deepEqual(chart.get(k), o, k);
    // namespace.create renders deploy/'s Namespace too.
    const withNs = byKey(render(['--set', 'namespace.create=true']));
    assert.deepEqual(withNs.get('Namespace//mtls-system'), ns);
  });

  it('the packaged chart carries the linked CRD and deploy/ manifests (links followed) and renders the same', () => {
    const out = mkdtempSync(join(tmpdir(), 'mtls-chart-'));
    try {
      const r = helm(['package', 'charts/mtls-operator', '--version', '9.9.9', '--app-version', '9.9.9', '--destination', out]);
      assert.equal(r.code, 0, r.stderr);
      const tgz = join(out, readdirSync(out).find((f) => f.endsWith('.tgz'))!);
      const packed = render([], 'mtls-system', tgz);
      const local = render(['--set', 'image.tag=9.9.9']);
      assert.deepEqual(packed, local);
      assert.equal(deployment(packed).spec.template.spec.containers[0]!.image, 'ghcr.io/mtls-dev/mtls-operator:9.9.9');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('crds.enabled=false leaves the CRD out; crds.keep=false drops the keep annotation', () => {
    assert.ok(!render(['--set', 'crds.enabled=false']).some((o) => o.kind === 'CustomResourceDefinition'));
    const crd = render(['--set', 'crds.keep=false']).find((o) => o.kind === 'CustomResourceDefinition')!;
    assert.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], undefined);
  });

  it('another release namespace: every namespaced object, RBAC subject and the admission paramRef move with it', () => {
    const objs = render([], 'security');
    for (const o of objs) if (o.metadata.namespace !== undefined) assert.equal(o.metadata.namespace, 'security', keyOf(o));
    for (const o of objs.filter((x) => x.kind.endsWith('Binding') && x.kind !== 'ValidatingAdmissionPolicyBinding')) {
      for (const s of (o as unknown as { subjects: { namespace: string }[] }).subjects) assert.equal(s.namespace, 'security', keyOf(o));
    }
    const binding = objs.find((o) => o.kind === 'ValidatingAdmissionPolicyBinding') as unknown as { spec: { paramRef: { namespace: string } } };
    assert.equal(binding.spec.paramRef.namespace, 'security');
  });

  it('image, replicas, resources, leader election, trust and cluster domain, CA Secret, bootstrap, log level', () => {
    const objs = render(['--set', 'image.digest=sha256:' + 'ab'.repeat(32), '--set', 'replicaCount=3', '--set', 'resources.limits.memory=512Mi',
      '--set', 'leaderElection.enabled=false', '--set', 'trustDomain=example.org', '--set', 'clusterDomain=corp.internal',
      '--set', 'caSecret.name=corp-ca', '--set', 'caSecret.bootstrap=false', '--set', 'logLevel=debug']);
    const d = deployment(objs) as unknown as { spec: { replicas: number; template: { spec: { containers: { image: string; args: string[]; resources: { limits: { memory: string } }; env: { name: string; value?: string }[] }[] } } } };
    const c = d.spec.template.spec.containers[0]!;
    assert.equal(c.image, `ghcr.io/mtls-dev/mtls-operator@sha256:${'ab'.repeat(32)}`);
    assert.equal(d.spec.replicas, 3);
    assert.equal(c.resources.limits.memory, '512Mi');
    assert.deepEqual(c.args, ['--ca-secret=corp-ca', '--metrics-port=9402', '--metrics-auth=kubernetes', '--health-port=8081', '--shutdown-grace=20s', '--bootstrap-ca=false', '--trust-domain=example.org', '--cluster-domain=corp.internal']);
    assert.equal(c.env.find((e) => e.name === 'MTLS_LOG_LEVEL')?.value, 'debug');
    const params = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'mtls-name-policy') as unknown as { data: Record<string, string> };
    assert.equal(params.data.clusterDomain, 'corp.internal', 'the admission policy gets the same cluster domain');
  });

  it('namePolicy.allow: the operator\'s file (which the operator parses) and the admission parameters from one list', () => {
    const objs = render(['--set-json', 'namePolicy.allow=[{"namespaces":["payments","billing"],"dnsSuffixes":["pay.example.com"],"ipRanges":["10.20.0.0/16"]},{"dnsSuffixes":["mesh.example.com"]},{"namespaces":["payments"],"dnsSuffixes":["api.example.com"]}]']);
    const file = objs.find((o) => o.metadata.name === 'mtls-operator-name-policy') as unknown as { data: Record<string, string> };
    const parsed = parsePolicyConfig(file.data['name-policy.yaml']!);
    assert.deepEqual(parsed.allow, [
      { namespaces: ['payments', 'billing'], dnsSuffixes: ['pay.example.com'], ipRanges: ['10.20.0.0/16'] },
      { dnsSuffixes: ['mesh.example.com'] },
      { namespaces: ['payments'], dnsSuffixes: ['api.example.com'] },
    ]);
    assert.ok(argsOf(objs).includes('--name-policy-file=/etc/mtls-operator/name-policy/name-policy.yaml'));
    const d = deployment(objs) as unknown as { spec: { template: { metadata: { annotations: Record<string, string> }; spec: { volumes: { configMap: { name: string } }[] } } } };
    assert.equal(d.spec.template.spec.volumes[0]!.configMap.name, 'mtls-operator-name-policy');
    assert.match(d.spec.template.metadata.annotations['mtls.dev/name-policy-hash']!, /^[0-9a-f]{16}$/, 'a policy change rolls the pods');
    // The mapping documented in deploy/admission/name-policy-params.yaml.
    const params = objs.find((o) => o.metadata.name === 'mtls-name-policy' && o.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
    assert.deepEqual(params.data, {
      clusterDomain: 'cluster.local',
      'dnsSuffixes': 'mesh.example.com',
      'dnsSuffixes.billing': 'pay.example.com',
      'dnsSuffixes.payments': 'pay.example.com api.example.com',
      'ipRanges.billing': '10.20.0.0/16',
      'ipRanges.payments': '10.20.0.0/16',
    });
  });

  it('optional parts: admission policy off; monitoring and workload restart on (the objects of deploy/monitoring and deploy/optional)', () => {
    assert.ok(!render(['--set', 'admissionPolicy.enabled=false']).some((o) => o.kind.startsWith('ValidatingAdmissionPolicy') || o.metadata.name === 'mtls-name-policy'));
    const on = byKey(render(['--set', 'monitoring.serviceMonitor.enabled=true', '--set', 'monitoring.prometheusRule.enabled=true', '--set', 'workloadRestart.enabled=true']));
    for (const [k, o] of [...byKey(kustomize('deploy/monitoring')), ...byKey(kustomize('deploy/optional/workload-restart'))]) assert.deepEqual(on.get(k), o, k);
    assert.ok(argsOf([...on.values()]).includes('--allow-workload-restart=true'));
    const def = render();
    assert.ok(!def.some((o) => o.kind === 'ServiceMonitor' || o.kind === 'PrometheusRule' || o.metadata.name === 'mtls-operator-workload-restart'));
  });

  it('metrics.auth=none (issue 19.8): plain HTTP metrics, probes on the metrics port, ServiceMonitor without token or TLS', () => {
    type Port = { name: string; containerPort: number };
    type Container = { args: string[]; ports: Port[]; livenessProbe: { httpGet: { port: string } }; readinessProbe: { httpGet: { port: string } } };
    const secure = render(['--set', 'monitoring.serviceMonitor.enabled=true']);
    const sc = (deployment(secure) as unknown as { spec: { template: { spec: { containers: Container[] } } } }).spec.template.spec.containers[0]!;
    assert.deepEqual(sc.ports.map((p) => [p.name, p.containerPort]), [['https-metrics', 9402], ['health', 8081]]);
    assert.equal(sc.livenessProbe.httpGet.port, 'health');
    const smSecure = secure.find((o) => o.kind === 'ServiceMonitor') as unknown as { spec: { endpoints: Record<string, unknown>[] } };
    assert.equal(smSecure.spec.endpoints[0]!.scheme, 'https');
    const objs = render(['--set', 'metrics.auth=none', '--set', 'monitoring.serviceMonitor.enabled=true']);
    const c = (deployment(objs) as unknown as { spec: { template: { spec: { containers: Container[] } } } }).spec.template.spec.containers[0]!;
    assert.ok(c.args.includes('--metrics-auth=none'));
    assert.ok(!c.args.some((a) => a.startsWith('--health-port')));
    assert.deepEqual(c.ports.map((p) => [p.name, p.containerPort]), [['http-metrics', 9402]]);
    assert.deepEqual([c.livenessProbe.httpGet.port, c.readinessProbe.httpGet.port], ['http-metrics', 'http-metrics']);
    const svc = objs.find((o) => o.kind === 'Service') as unknown as { spec: { ports: { name: string; targetPort: string }[] } };
    assert.deepEqual(svc.spec.ports.map((p) => [p.name, p.targetPort]), [['http-metrics', 'http-metrics']]);
    const sm = objs.find((o) => o.kind === 'ServiceMonitor') as unknown as { spec: { endpoints: Record<string, unknown>[] } };
    assert.equal(sm.spec.endpoints[0]!.port, 'http-metrics');
    assert.equal(sm.spec.endpoints[0]!.scheme, 'http');
    assert.equal(sm.spec.endpoints[0]!.bearerTokenFile, undefined);
    assert.equal(sm.spec.endpoints[0]!.tlsConfig, undefined);
  });

  it('podCertificateSigner.enabled=true: the objects of deploy/optional/pod-certificates and --pod-certificates=true; off by default', () => {
    const on = byKey(render(['--set', 'podCertificateSigner.enabled=true']));
    const kust = byKey(kustomize('deploy/optional/pod-certificates'));
    for (const [k, o] of kust) assert.deepEqual(on.get(k), o, k);
    // Without watchNamespaces, no per-namespace Role: the requests of every namespace, by ClusterRoleBinding.
    assert.deepEqual([...on.keys()].filter((k) => k.includes('pod-certificate')).sort(), [...kust.keys()].sort());
    assert.ok(argsOf([...on.values()]).includes('--pod-certificates=true'));
    const def = render();
    assert.ok(!def.some((o) => o.metadata.name.startsWith('mtls-operator-pod-certificate')));
    assert.ok(!argsOf(def).some((a) => a.startsWith('--pod-certificates')));
  });

  it('podCertificateSigner with watchNamespaces: the request permissions are a Role + RoleBinding per listed namespace (deploy/optional/pod-certificates-namespace), no ClusterRoleBinding grants them; signers and ClusterTrustBundles stay cluster-wide', () => {
    type Rule = { apiGroups: string[]; resources?: string[]; resourceNames?: string[]; verbs: string[] };
    type Binding = K8sObject & { roleRef: { kind: string; name: string }; subjects: { kind: string; name: string; namespace: string }[] };
    const WATCHED = ['team-a', 'team-b'];
    const objs = render(['--set', 'podCertificateSigner.enabled=true', '--set-json', `watchNamespaces=${JSON.stringify(WATCHED)}`], 'security');
    const rulesOf = (kind: string, name: string, ns?: string) => (objs.find((o) => o.kind === kind && o.metadata.name === name && o.metadata.namespace === ns) as unknown as { rules: Rule[] } | undefined)?.rules ?? [];
    const grantsRequests = (rules: Rule[]) => rules.some((r) => (r.resources ?? []).some((x) => x.startsWith('podcertificaterequests')));
    assert.ok(argsOf(objs).includes('--watch-namespaces=team-a,team-b'));
    assert.ok(argsOf(objs).includes('--pod-certificates=true'));
    // No ClusterRole with request rules is bound cluster-wide (nor rendered at all).
    const crbs = objs.filter((o) => o.kind === 'ClusterRoleBinding') as Binding[];
    for (const b of crbs) assert.ok(!grantsRequests(rulesOf('ClusterRole', b.roleRef.name)), `${keyOf(b)} grants podcertificaterequests`);
    assert.ok(!objs.some((o) => o.kind === 'ClusterRole' && grantsRequests((o as unknown as { rules: Rule[] }).rules)));
    // Per listed namespace: one Role and one RoleBinding on podcertificaterequests, with exactly the rules
    // test/real/podcert-namespaces.test.ts proves enough there, bound to the ServiceAccount of the release namespace.
    const roles = objs.filter((o) => o.kind === 'Role' && grantsRequests((o as unknown as { rules: Rule[] }).rules));
    assert.deepEqual(roles.map(keyOf).sort(), WATCHED.map((ns) => `Role/${ns}/mtls-operator-pod-certificates`));
    const podcertBindings = objs.filter((o) => o.kind === 'RoleBinding' && (o as Binding).roleRef.name === 'mtls-operator-pod-certificates') as Binding[];
    assert.deepEqual(podcertBindings.map(keyOf).sort(), WATCHED.map((ns) => `RoleBinding/${ns}/mtls-operator-pod-certificates`));
    for (const ns of WATCHED) {
      assert.deepEqual(rulesOf('Role', 'mtls-operator-pod-certificates', ns), [
        { apiGroups: ['certificates.k8s.io'], resources: ['podcertificaterequests'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['certificates.k8s.io'], resources: ['podcertificaterequests/status'], verbs: ['update'] },
      ], ns);
      const b = podcertBindings.find((x) => x.metadata.namespace === ns)!;
      assert.equal(b.roleRef.kind, 'Role');
      assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: 'mtls-operator', namespace: 'security' }]);
    }
    // The same objects as the kustomize overlay applied to each namespace (subjects moved to the release namespace).
    const chart = byKey(objs);
    for (const ns of WATCHED) {
      for (const o of kustomize('deploy/optional/pod-certificates-namespace')) {
        o.metadata.namespace = ns;
        for (const subj of (o as Binding).subjects ?? []) subj.namespace = 'security';
        assert.deepEqual(chart.get(keyOf(o)), o, keyOf(o));
      }
    }
    // What has no namespace stays a ClusterRole bound cluster-wide: sign/attest for mtls.dev/identity, the bundle.
    assert.deepEqual(rulesOf('ClusterRole', 'mtls-operator-pod-certificate-signer'), [
      { apiGroups: ['certificates.k8s.io'], resources: ['signers'], resourceNames: ['mtls.dev/identity'], verbs: ['sign', 'attest'] },
      { apiGroups: ['certificates.k8s.io'], resources: ['clustertrustbundles'], verbs: ['get', 'create', 'update'] },
    ]);
    assert.ok(crbs.some((b) => b.roleRef.name === 'mtls-operator-pod-certificate-signer' && b.subjects[0]!.namespace === 'security'));
    // Without podCertificateSigner, watchNamespaces sets the flag only; with extraArgs --watch-namespaces too, the chart refuses.
    const plain = render(['--set-json', 'watchNamespaces=["team-a"]']);
    assert.ok(argsOf(plain).includes('--watch-namespaces=team-a'));
    assert.ok(!plain.some((o) => o.metadata.name.startsWith('mtls-operator-pod-certificate')));
    const both = helm(['template', 'mtls-operator', 'charts/mtls-operator', '--kube-version', KUBE_VERSION, '--set-json', 'watchNamespaces=["team-a"]', '--set-json', 'extraArgs=["--watch-namespaces=team-b"]']);
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, /set watchNamespaces only/);
  });
});
