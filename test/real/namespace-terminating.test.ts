/**
 * A namespace being deleted refuses every create with 403 Forbidden (the lifecycle admission plugin), the same
 * status code as a missing permission. The operator tells them apart by the Status's cause NamespaceTerminating:
 * such a refusal is neither a Warning nor retried (src/controller/controller.ts), a permission denied still is.
 * Proved here on the real kube-apiserver, through the operator's own request path (callApi → toClusterError).
 */
import assert from 'node:assert/strict';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { callApi } from '../../src/adapter/timing.ts';
import { ClusterError, NAMESPACE_TERMINATING } from '../../src/cluster/port.ts';
import { controlPlane, type ControlPlane } from '../support/controlplane.ts';
import { eventually } from '../support/wait.ts';

const HOLD = 'mtls.dev/test-hold';

describe('real apiserver: a write into a namespace being deleted', function () {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let ns: string;

  before(async function () {
    cp = await controlPlane(this);
    cp.needControllerManager(this);
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    ns = await cp.newNamespace('terminating');
    // A finalizer only this test removes keeps the namespace in Terminating while the test writes.
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'hold', finalizers: [HOLD] } } });
  });

  after(async function () {
    if (!cp) return;
    await cp.kubectl(['-n', ns, 'patch', 'configmap', 'hold', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
  });

  it('is a ClusterError with reason NamespaceTerminating; a permission denied stays Forbidden', async function () {
    this.timeout(60_000);
    await core.deleteNamespace({ name: ns });
    await eventually(`namespace ${ns} Terminating`, async () => (await core.readNamespace({ name: ns })).status?.phase === 'Terminating', 10_000, 100);
    const err = await callApi(`POST secrets/${ns}/web-mtls`, 10_000, (o) =>
      core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'web-mtls' }, type: 'kubernetes.io/tls', data: { 'tls.crt': '', 'tls.key': '' } } }, o),
    ).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ClusterError, String(err));
    assert.equal(err.code, 403);
    assert.equal(err.reason, NAMESPACE_TERMINATING, err.message);
    assert.ok(ClusterError.isNamespaceTerminating(err));
    assert.match(err.message, /being terminated/);

    // The same code for a permission the caller lacks: not taken for a terminating namespace.
    const other = await cp.newNamespace('denied');
    const sa = await cp.serviceAccountKubeconfig(other, 'nobody');
    const kc = new KubeConfig();
    kc.loadFromFile(sa);
    const denied = await callApi(`POST secrets/${other}/x`, 10_000, (o) =>
      kc.makeApiClient(CoreV1Api).createNamespacedSecret({ namespace: other, body: { metadata: { name: 'x' } } }, o),
    ).then(() => undefined, (e: unknown) => e);
    assert.ok(denied instanceof ClusterError, String(denied));
    assert.equal(denied.code, 403);
    assert.equal(denied.reason, 'Forbidden', denied.message);
    assert.ok(!ClusterError.isNamespaceTerminating(denied));
  });
});
