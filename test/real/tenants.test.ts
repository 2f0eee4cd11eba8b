/**
 * Issue 19 on a real kube-apiserver, each point played by a hostile tenant:
 *   - point 4: what deploy/'s RBAC lets the operator's ServiceAccount do, asked with SelfSubjectAccessReview as
 *     that ServiceAccount (TokenRequest token): every verb the code needs is allowed, the rest is denied;
 *   - point 1: labelled 1 MB ConfigMaps and Secrets in a tenant namespace. The operator cannot even list the
 *     ConfigMaps (RBAC pins ConfigMaps by name) and its own list by name returns none of them; the operator
 *     process under the Deployment's NODE_OPTIONS (256 MB heap) stays up and issues certificates there.
 *
 * Scale: 40 ConfigMaps and 40 Secrets of ~1 MB (80 MB in etcd) rather than the review's 250, on a 2-core machine
 * shared with other builds. The claim proved does not depend on the count: the ConfigMaps are never listed
 * (forbidden, and not selected), and each Secret is reduced to bounded metadata on arrival, in pages of 25.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { AuthorizationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type MutualTLSIdentity } from '../../src/api/types.ts';
import { controlPlane, type ControlPlane } from '../support/controlplane.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { eventually } from '../support/wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OPERATOR_NS = 'mtls-system';
const MANAGED = { 'app.kubernetes.io/managed-by': 'mtls-operator' };
const ONE_MB = 'A'.repeat(1000 * 1024);
/** deploy/deployment.yaml's NODE_OPTIONS. */
const NODE_OPTIONS = '--max-semi-space-size=4 --max-old-space-size=256';

describe('real apiserver: hostile tenants (issue 19)', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let core: CoreV1Api;
  let saConfig: KubeConfig;
  let tenant: string;
  let kubeconfig: string;
  let op: OperatorProcess | undefined;

  before(async function () {
    cp = await controlPlane(this);
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    const res = await cp.kubectl(['apply', '-k', `${ROOT}deploy/`]);
    assert.equal(res.code, 0, res.stderr);
    await cp.kubectl(['delete', 'validatingadmissionpolicybinding', 'mtls-name-policy', '--ignore-not-found']);
    // The control plane is shared per run: another file may have applied the cluster-wide restart grant.
    await cp.kubectl(['delete', '-k', `${ROOT}deploy/optional/workload-restart/`, '--ignore-not-found']);
    tenant = await cp.newNamespace('tenant');
    kubeconfig = await cp.serviceAccountKubeconfig(OPERATOR_NS, 'mtls-operator');
    saConfig = new KubeConfig();
    saConfig.loadFromFile(kubeconfig);
  });

  after(async () => {
    op?.kill();
    await op?.exited;
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && op) process.stderr.write(`--- operator log (last 60 lines) ---\n${op.tail()}\n`);
  });

  /** SelfSubjectAccessReview as the operator's ServiceAccount. */
  const can = async (verb: string, resource: string, o: { group?: string; namespace?: string; name?: string; subresource?: string } = {}) => {
    const authz = saConfig.makeApiClient(AuthorizationV1Api);
    const review = await authz.createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { verb, resource, group: o.group ?? '', namespace: o.namespace, name: o.name, subresource: o.subresource } } },
    });
    return review.status?.allowed === true;
  };

  it('point 4: the operator\'s ServiceAccount may do what the code calls, and nothing more', async () => {
    const ns = tenant;
    const allowed: [string, string, Parameters<typeof can>[2]][] = [
      ['list', 'mutualtlsidentities', { group: GROUP }],
      ['watch', 'mutualtlsidentities', { group: GROUP }],
      ['patch', 'mutualtlsidentities', { group: GROUP, namespace: ns, name: 'web', subresource: 'status' }],
      ['update', 'mutualtlsidentities', { group: GROUP, namespace: ns, name: 'web', subresource: 'finalizers' }],
      ['get', 'secrets', { namespace: ns, name: 'web-tls' }],
      ['list', 'secrets', {}],
      ['watch', 'secrets', {}],
      ['patch', 'secrets', { namespace: ns, name: 'web-tls' }],
      ['create', 'secrets', { namespace: ns, name: 'web-tls' }],
      ['list', 'configmaps', { name: 'mtls-trust-bundle' }],
      ['watch', 'configmaps', { name: 'mtls-trust-bundle' }],
      ['patch', 'configmaps', { namespace: ns, name: 'mtls-trust-bundle' }],
      ['create', 'configmaps', { namespace: ns, name: 'mtls-trust-bundle' }],
      ['delete', 'configmaps', { namespace: ns, name: 'mtls-trust-bundle' }],
      ['list', 'configmaps', { namespace: OPERATOR_NS, name: 'mtls-trust-rotation' }],
      ['update', 'configmaps', { namespace: OPERATOR_NS, name: 'mtls-trust-rotation' }],
      ['create', 'configmaps', { namespace: OPERATOR_NS }],
      ['create', 'configmaps', { namespace: ns }],
      ['create', 'events', { namespace: ns }],
      ['patch', 'events', { namespace: ns, name: 'web.1' }],
      ['get', 'leases', { group: 'coordination.k8s.io', namespace: OPERATOR_NS, name: 'mtls-operator' }],
    ];
    const denied: [string, string, Parameters<typeof can>[2]][] = [
      ['get', 'mutualtlsidentities', { group: GROUP, namespace: ns, name: 'web' }],
      ['update', 'mutualtlsidentities', { group: GROUP, namespace: ns, name: 'web', subresource: 'status' }],
      ['delete', 'mutualtlsidentities', { group: GROUP, namespace: ns, name: 'web' }],
      ['update', 'secrets', { namespace: ns, name: 'web-tls' }],
      ['list', 'configmaps', {}],
      ['list', 'configmaps', { namespace: ns }],
      ['get', 'configmaps', { namespace: 'kube-system', name: 'coredns' }],
      ['patch', 'configmaps', { namespace: 'kube-system', name: 'kube-proxy' }],
      ['patch', 'configmaps', { namespace: ns, name: 'app-config' }],
      ['delete', 'configmaps', { namespace: ns, name: 'app-config' }],
      ['patch', 'configmaps', { namespace: ns, name: 'mtls-trust-rotation' }],
      ['patch', 'configmaps', { namespace: OPERATOR_NS, name: 'mtls-trust-rotation' }],
      ['update', 'configmaps', { namespace: OPERATOR_NS, name: 'mtls-name-policy' }],
      ['patch', 'daemonsets', { group: 'apps', namespace: 'kube-system', name: 'kube-proxy' }],
      ['patch', 'deployments', { group: 'apps', namespace: ns, name: 'web' }],
      ['get', 'serviceaccounts', { namespace: ns, name: 'default' }],
      ['create', 'pods', { namespace: ns }],
    ];
    const wrong: string[] = [];
    for (const [verb, resource, o] of allowed) if (!(await can(verb, resource, o))) wrong.push(`denied but needed: ${verb} ${resource} ${JSON.stringify(o)}`);
    for (const [verb, resource, o] of denied) if (await can(verb, resource, o)) wrong.push(`allowed but not needed: ${verb} ${resource} ${JSON.stringify(o)}`);
    assert.deepEqual(wrong, []);
  });

  it('point 4: the per-namespace workload-restart Role reaches its namespace and no other', async () => {
    const built = await cp.kubectl(['kustomize', `${ROOT}deploy/optional/workload-restart-namespace/`]);
    assert.equal(built.code, 0, built.stderr);
    await cp.apply(built.stdout.replaceAll('namespace: REPLACE-ME', `namespace: ${tenant}`));
    assert.equal(await can('patch', 'deployments', { group: 'apps', namespace: tenant, name: 'web' }), true);
    assert.equal(await can('patch', 'daemonsets', { group: 'apps', namespace: tenant, name: 'agent' }), true);
    assert.equal(await can('patch', 'daemonsets', { group: 'apps', namespace: 'kube-system', name: 'kube-proxy' }), false);
    assert.equal(await can('patch', 'deployments', { group: 'apps', namespace: 'default', name: 'web' }), false);
  });

  it('point 1: 40 labelled 1 MB ConfigMaps and Secrets; the operator lists none of the ConfigMaps, stays up under the Deployment heap cap, and issues', async () => {
    for (let i = 0; i < 40; i++) {
      await core.createNamespacedConfigMap({ namespace: tenant, body: { metadata: { name: `junk-${i}`, labels: MANAGED }, data: { blob: ONE_MB } } });
      await core.createNamespacedSecret({
        namespace: tenant,
        body: {
          metadata: {
            name: `junk-${i}`, labels: MANAGED,
            ownerReferences: [{ apiVersion: `${GROUP}/${VERSION}`, kind: 'MutualTLSIdentity', name: 'web', uid: '00000000-0000-0000-0000-000000000000', controller: true }],
          },
          data: { 'tls.crt': Buffer.from(ONE_MB.slice(0, 700 * 1024)).toString('base64') },
        },
      });
    }
    // As the operator's ServiceAccount: the old list (every labelled ConfigMap) is forbidden; the list by name finds none.
    const saCore = saConfig.makeApiClient(CoreV1Api);
    await assert.rejects(saCore.listNamespacedConfigMap({ namespace: tenant, labelSelector: 'app.kubernetes.io/managed-by=mtls-operator' }), (err: { code?: number }) => err.code === 403);
    const byName = await saCore.listNamespacedConfigMap({ namespace: tenant, labelSelector: 'app.kubernetes.io/managed-by=mtls-operator', fieldSelector: 'metadata.name=mtls-trust-bundle' });
    assert.equal(byName.items.length, 0);

    await cp.kubectl(['-n', OPERATOR_NS, 'delete', 'lease/mtls-operator', '--ignore-not-found']);
    op = new OperatorProcess(kubeconfig, [`--watch-namespaces=${tenant}`, '--leader-elect=false'], { env: { NODE_OPTIONS } });
    await eventually('controller started', () => op!.logged('controller started'), 120_000, 200);
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    const body = { apiVersion: `${GROUP}/${VERSION}`, kind: 'MutualTLSIdentity', metadata: { name: 'web', namespace: tenant }, spec: { secretName: 'web-tls' } };
    await custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: tenant, plural: PLURAL, name: 'web', body, fieldManager: 'tester', force: true },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply));
    await eventually('web Ready=True', async () => {
      const o = (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: tenant, plural: PLURAL, name: 'web' })) as MutualTLSIdentity;
      return o.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    }, 120_000, 250);
    assert.equal(op.child.exitCode, null, 'the operator is still running');
    assert.ok(!op.text.includes('heap out of memory'));
  });
});
