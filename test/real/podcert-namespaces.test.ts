/**
 * Issue 18: --watch-namespaces restricts the pod-certificate signer too, on a real kube-apiserver 1.37.2 of this file's
 * own. The operator lists and watches PodCertificateRequests in the listed namespaces only (one watch each, as the
 * identity watches): a request in another namespace is never seen, so never answered, even where RBAC would let the
 * operator answer it; and with --watch-namespaces the signer needs the request permissions only in those namespaces
 * (RoleBindings), which it checks per namespace before it turns on.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ownControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { createRequest, installOperatorRbac, listRequests, makeNode, makePods, OPERATOR_USER, stubRequest, terminalType, type NodeRef, type PodRef } from '../support/podcert-cluster.ts';
import { eventually, sleep } from '../support/wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WATCHED = ['team-a', 'team-b'];
const OTHER = 'team-other';

/**
 * deploy/optional/pod-certificates-namespace/ as its comment says to apply it, once per listed namespace: a Role +
 * RoleBinding on the requests there. The cluster-scoped part (signers, ClusterTrustBundles) is
 * deploy/optional/pod-certificates/signer-rbac.yaml, applied by installOperatorRbac with the rest of that directory.
 */
async function namespacedRbac(cp: ControlPlane): Promise<string> {
  const built = await cp.kubectl(['kustomize', `${ROOT}deploy/optional/pod-certificates-namespace/`]);
  assert.equal(built.code, 0, built.stderr);
  return WATCHED.map((ns) => built.stdout.replaceAll('namespace: REPLACE-ME', `namespace: ${ns}`)).join('---\n');
}

describe('pod certificates with --watch-namespaces on the real API server: only requests of the listed namespaces are answered (issue 18)', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let node: NodeRef;
  const pods = new Map<string, PodRef>();
  let op: OperatorProcess | undefined;

  const startOperator = async () => {
    op = new OperatorProcess(await cp.serviceAccountKubeconfig('mtls-system', 'mtls-operator'), [
      `--watch-namespaces=${WATCHED.join(',')}`, '--pod-certificates=auto', '--shutdown-grace=2s',
    ]);
    await eventually('the operator decided about the signer', async () => op!.logged('pod certificate signer on') ?? op!.logged('pod certificate signer off'), 90_000, 200);
  };
  const stopOperator = async () => {
    op?.child.kill('SIGTERM');
    await op?.exited;
  };
  const ask = async (ns: string, name: string) => createRequest(node, pods.get(ns)!, name, await stubRequest());
  const stateOf = async (ns: string, name: string) => terminalType((await listRequests(cp, ns)).find((p) => p.metadata.name === name)!);

  before(async function () {
    cp = await ownControlPlane(this, { controllerManager: false });
    await installOperatorRbac(cp);
    node = await makeNode(cp, 'ns-node');
    for (const ns of [...WATCHED, OTHER]) {
      await cp.kubectl(['create', 'namespace', ns]);
      pods.set(ns, (await makePods(cp, ns, 'app', [node], 1))[0]!);
    }
  });

  after(async function () {
    if (this.currentTest?.state === 'failed' && op) process.stderr.write(`--- operator log ---\n${op.tail(40)}\n`);
    await stopOperator();
    await cp?.stop();
  });

  it('a request in an unlisted namespace is never seen nor answered (though RBAC allows it); the listed ones are Issued', async () => {
    await startOperator();
    assert.ok(op!.logged('pod certificate signer on'), op!.tail(10));
    await ask(OTHER, 'first'); // first in line: were it watched, it would be answered before the others
    for (const ns of WATCHED) await ask(ns, 'first');
    for (const ns of WATCHED) await eventually(`${ns}/first Issued`, async () => (await stateOf(ns, 'first')) === 'Issued' || undefined, 60_000, 200);
    await sleep(2_000);
    assert.equal(await stateOf(OTHER, 'first'), undefined, `${OTHER}/first must stay unanswered`);
    const touched = cp.audit((e) => e.user.username === OPERATOR_USER && e.objectRef?.resource === 'podcertificaterequests');
    assert.ok(touched.length > 0);
    const outside = touched.filter((e) => !WATCHED.includes(e.objectRef!.namespace ?? ''));
    assert.deepEqual(outside.map((e) => `${e.verb} ${e.requestURI}`), [], 'no list, watch or write of requests outside the listed namespaces');
    for (const ns of WATCHED) assert.ok(touched.some((e) => e.verb === 'watch' && e.objectRef!.namespace === ns), `a watch in ${ns}`);
  });

  it('with --watch-namespaces, RoleBindings in the listed namespaces are enough: the signer checks each namespace, and says which one lacks them', async () => {
    await stopOperator();
    // The cluster-wide request grant (deploy/optional/pod-certificates/rbac.yaml) goes; signer-rbac.yaml stays.
    const res = await cp.kubectl(['delete', '-f', `${ROOT}deploy/optional/pod-certificates/rbac.yaml`]);
    assert.equal(res.code, 0, res.stderr);
    await cp.apply(await namespacedRbac(cp));
    const canI = async (ns: string, ...args: string[]) => (await cp.kubectl(['auth', 'can-i', ...args, '-n', ns, '--as', OPERATOR_USER])).stdout.trim();
    for (const ns of WATCHED) assert.equal(await canI(ns, 'list', 'podcertificaterequests.certificates.k8s.io'), 'yes', ns);
    assert.equal(await canI(OTHER, 'list', 'podcertificaterequests.certificates.k8s.io'), 'no', 'no request permission outside the listed namespaces');
    assert.equal(await canI(OTHER, 'update', 'podcertificaterequests.certificates.k8s.io', '--subresource=status'), 'no');
    await startOperator();
    assert.ok(op!.logged('pod certificate signer on'), op!.tail(10));
    await ask('team-b', 'second');
    await eventually('team-b/second Issued', async () => (await stateOf('team-b', 'second')) === 'Issued' || undefined, 60_000, 200);
    // Without the RoleBinding in team-b, the signer stays off and names what is missing where.
    await stopOperator();
    assert.equal((await cp.kubectl(['-n', 'team-b', 'delete', 'rolebinding', 'mtls-operator-pod-certificates'])).code, 0);
    await startOperator();
    const off = op!.logged('pod certificate signer off');
    assert.ok(off, op!.tail(10));
    assert.match(String(off!.detail), /list podcertificaterequests in team-b/);
    assert.doesNotMatch(String(off!.detail), /team-a/);
  });
});
