/**
 * Issue 19, point 4: least privilege in deploy/. Every rule carries a comment naming the code
 * that needs it (and that code calls it); ConfigMaps are pinned by name; nothing no code uses.
 * (What the API server then allows is proved with SelfSubjectAccessReview in test/real/ once the
 * control plane is available.)
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { SIGNER_ACCESS } from '../../src/adapter/podcert.ts';

type Any = any;

/** The cluster port's adapter: kube.ts and the modules it is split into (kube-secrets.ts, kube-configmaps.ts, ...). */
const kubeAdapter = () => readdirSync('src/adapter').filter((f) => /^kube(-[a-z-]+)?\.ts$/.test(f)).sort()
  .map((f) => readFileSync(`src/adapter/${f}`, 'utf8')).join('\n');
const FILES = ['deploy/rbac.yaml', 'deploy/leader-election-rbac.yaml', 'deploy/optional/workload-restart/rbac.yaml', 'deploy/optional/workload-restart-namespace/rbac.yaml',
  'deploy/optional/pod-certificates/rbac.yaml', 'deploy/optional/pod-certificates/signer-rbac.yaml', 'deploy/optional/pod-certificates-namespace/rbac.yaml'];

/** A role's rules as [resources, resourceNames, verbs] rows. */
const rows = (role: Any): string[][] => role.rules.map((r: Any) => [r.resources.join(','), r.resourceNames?.join(',') ?? '', r.verbs.join(',')]);

/** Whether a rule of these grants one of the signer's SelfSubjectAccessReviews (src/adapter/podcert.ts SIGNER_ACCESS). */
const grants = (rules: Any[], a: { group?: string; resource?: string; subresource?: string; name?: string; verb?: string }) => rules.some((r: Any) =>
  r.apiGroups.includes(a.group) && r.resources.includes(a.subresource ? `${a.resource}/${a.subresource}` : a.resource) && r.verbs.includes(a.verb)
  && (!r.resourceNames || (a.name !== undefined && r.resourceNames.includes(a.name))));

/** Each rule's text with the comment lines right above it. */
function rulesWithComments(text: string): { comment: string; rule: string }[] {
  const out: { comment: string; rule: string }[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (!/^  - apiGroups:/.test(line)) return;
    const comment: string[] = [];
    for (let j = i - 1; j >= 0 && /^\s*#/.test(lines[j]!); j--) comment.unshift(lines[j]!);
    out.push({ comment: comment.join('\n'), rule: lines.slice(i, i + 4).join('\n') });
  });
  return out;
}

describe('deploy/ RBAC: least privilege (issue 19, point 4)', () => {
  const docs = (file: string): Any[] => parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS());

  it('every rule of the operator roles names the source file that needs it, and that file exists', () => {
    for (const file of FILES.filter((f) => f !== 'deploy/leader-election-rbac.yaml')) {
      for (const { comment, rule } of rulesWithComments(readFileSync(file, 'utf8'))) {
        const paths = [...comment.matchAll(/src\/[\w/.-]+\.ts/g)].map((m) => m[0]);
        assert.ok(paths.length > 0, `${file}: no code named above\n${rule}`);
        for (const p of paths) assert.ok(existsSync(p), `${file}: ${p} does not exist`);
      }
    }
  });

  it('ConfigMaps only by name: mtls-trust-bundle cluster-wide, mtls-trust-rotation in mtls-system; no ConfigMap get', () => {
    const all = docs('deploy/rbac.yaml');
    const cm = all.flatMap((o) => (o.rules ?? []).map((r: Any) => ({ kind: o.kind, ns: o.metadata.namespace, ...r }))).filter((r: Any) => r.resources?.includes('configmaps'));
    assert.deepEqual(cm, [
      { kind: 'ClusterRole', ns: undefined, apiGroups: [''], resources: ['configmaps'], resourceNames: ['mtls-trust-bundle'], verbs: ['list', 'watch', 'patch', 'delete'] },
      // First writes are POSTs (the trust bundle, never taking over someone's ConfigMap; the rotation state): a POST has
      // no name in the URL, so create cannot carry resourceNames. A create can make a new object, never change one.
      { kind: 'ClusterRole', ns: undefined, apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
      // The rotation state is written only with a resourceVersion precondition (PUT = update).
      { kind: 'Role', ns: 'mtls-system', apiGroups: [''], resources: ['configmaps'], resourceNames: ['mtls-trust-rotation'], verbs: ['list', 'watch', 'update'] },
    ]);
  });

  it('identities: list/watch only; status: patch only (no update); no update of Secrets (delete only for a renamed secretName)', () => {
    const role = docs('deploy/rbac.yaml').find((o) => o.kind === 'ClusterRole');
    const verbs = (resource: string) => role.rules.find((r: Any) => r.resources.includes(resource))?.verbs;
    assert.deepEqual(verbs('mutualtlsidentities'), ['list', 'watch']);
    assert.deepEqual(verbs('mutualtlsidentities/status'), ['patch']);
    assert.deepEqual(verbs('mutualtlsidentities/finalizers'), ['update']);
    assert.deepEqual(verbs('secrets'), ['get', 'list', 'watch', 'patch', 'create', 'delete']);
    assert.deepEqual(verbs('events'), ['create', 'patch']);
    // Issue 19.6: one GET per ServiceAccount name (no list, no watch); 19.8: the metrics endpoint's two reviews.
    assert.deepEqual(verbs('serviceaccounts'), ['get']);
    assert.deepEqual(verbs('tokenreviews'), ['create']);
    assert.deepEqual(verbs('subjectaccessreviews'), ['create']);
  });

  it('the metrics reader (issue 19.8): a ClusterRole for Prometheus with get on /metrics and nothing else; the code asks exactly that', () => {
    const reader = docs('deploy/rbac.yaml').find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'mtls-operator-metrics-reader');
    assert.deepEqual(reader.rules, [{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]);
    assert.match(readFileSync('src/ops/metrics-auth.ts', 'utf8'), /authorize\(user, 'get', path\)/);
    assert.match(readFileSync('src/adapter/reviews.ts', 'utf8'), /nonResourceAttributes: \{ path, verb \}/);
    assert.match(readFileSync('src/adapter/service-accounts.ts', 'utf8'), /ServiceAccountCache/);
    assert.match(kubeAdapter(), /readNamespacedServiceAccount/);
    assert.doesNotMatch(kubeAdapter(), /listNamespacedServiceAccount|listServiceAccountForAllNamespaces/);
  });

  it('the code uses the verbs granted: the adapter has no identity get, no status update, no ConfigMap read by API', () => {
    const kube = kubeAdapter();
    assert.doesNotMatch(kube, /getNamespacedCustomObject\b|replaceNamespacedCustomObjectStatus|readNamespacedConfigMap|replaceNamespacedSecret/);
    assert.match(kube, /patchNamespacedCustomObjectStatus/);
    assert.match(kube, /deleteNamespacedConfigMap/);
    // Secret delete: only deleteOwnedSecret (a Secret left under an earlier spec.secretName), with uid + resourceVersion
    // preconditions.
    assert.deepEqual(kube.match(/deleteNamespacedSecret\(\{[^}]*\}/g), ['deleteNamespacedSecret({ name, namespace, body: { preconditions: precondition }']);
  });

  it('pod certificates: exactly the signer\'s verbs, sign/attest for mtls.dev/identity only, and the adapter checks the same list', () => {
    // The requests (every namespace) and the signer's cluster-scoped part, each a ClusterRole bound cluster-wide.
    const [role, binding] = docs('deploy/optional/pod-certificates/rbac.yaml');
    const [signer, signerBinding] = docs('deploy/optional/pod-certificates/signer-rbac.yaml');
    assert.equal(role.kind, 'ClusterRole');
    assert.deepEqual(rows(role), [
      ['podcertificaterequests', '', 'get,list,watch'],
      ['podcertificaterequests/status', '', 'update'],
    ]);
    assert.equal(signer.kind, 'ClusterRole');
    assert.deepEqual(rows(signer), [
      ['signers', 'mtls.dev/identity', 'sign,attest'],
      ['clustertrustbundles', '', 'get,create,update'],
    ]);
    for (const [r, b] of [[role, binding], [signer, signerBinding]]) {
      assert.ok(r.rules.every((x: Any) => x.apiGroups.join() === 'certificates.k8s.io'));
      assert.deepEqual([b.kind, b.roleRef.name, b.subjects[0].name], ['ClusterRoleBinding', r.metadata.name, 'mtls-operator']);
    }
    const kustomization = docs('deploy/optional/pod-certificates/kustomization.yaml')[0];
    assert.deepEqual(kustomization.resources, ['signer-rbac.yaml', 'rbac.yaml']);
    // Every SelfSubjectAccessReview the signer makes at start is granted by one of the two.
    for (const a of SIGNER_ACCESS) assert.ok(grants([...role.rules, ...signer.rules], a), JSON.stringify(a));
    const adapter = readFileSync('src/adapter/podcert.ts', 'utf8');
    // Writes the adapter makes: status PUT, bundle POST and PUT; nothing else (no delete, no patch).
    assert.match(adapter, /replaceNamespacedCustomObjectStatus/);
    assert.match(adapter, /createClusterCustomObject/);
    assert.match(adapter, /replaceClusterCustomObject\(/);
    assert.doesNotMatch(adapter, /delete\w*CustomObject|patch\w*CustomObject/);
  });

  it('workload restart is offered per namespace: a Role and RoleBinding, no namespace of their own until applied', () => {
    const [role, binding] = docs('deploy/optional/workload-restart-namespace/rbac.yaml');
    assert.equal(role.kind, 'Role');
    assert.equal(binding.kind, 'RoleBinding');
    assert.equal(binding.roleRef.kind, 'Role');
    assert.deepEqual(role.rules.map((r: Any) => r.verbs), [['patch']]);
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'mtls-operator', namespace: 'mtls-system' }]);
  });

  it('pod certificates per namespace (--watch-namespaces): a Role + RoleBinding with the request rules only, no namespace until applied; the cluster part is signer-rbac.yaml', () => {
    const [role, binding] = docs('deploy/optional/pod-certificates-namespace/rbac.yaml');
    assert.equal(role.kind, 'Role');
    assert.equal(binding.kind, 'RoleBinding');
    assert.equal(role.metadata.namespace, undefined);
    assert.equal(binding.metadata.namespace, undefined);
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'mtls-operator', namespace: 'mtls-system' }]);
    // Exactly the request rules test/real/podcert-namespaces.test.ts proves enough in each listed namespace (it applies
    // this overlay): those of the cluster-wide variant, nothing cluster-scoped (a RoleBinding could not grant it).
    assert.deepEqual(role.rules, docs('deploy/optional/pod-certificates/rbac.yaml')[0].rules);
    assert.deepEqual(rows(role), [
      ['podcertificaterequests', '', 'get,list,watch'],
      ['podcertificaterequests/status', '', 'update'],
    ]);
    const kustomization = docs('deploy/optional/pod-certificates-namespace/kustomization.yaml')[0];
    assert.equal(kustomization.namespace, 'REPLACE-ME');
    assert.deepEqual(kustomization.resources, ['rbac.yaml']);
    // With the cluster part, every SelfSubjectAccessReview of the signer is granted (the request ones per namespace).
    const signer = docs('deploy/optional/pod-certificates/signer-rbac.yaml')[0];
    for (const a of SIGNER_ACCESS) assert.ok(grants(a.resource === 'podcertificaterequests' ? role.rules : signer.rules, a), JSON.stringify(a));
  });
});
