/**
 * Issue 21 point 2 on a real kube-apiserver: helm install / upgrade / uninstall of
 * charts/mtls-operator (helm built from the Go module proxy, test/tools/helm.sh). There is no
 * kubelet, so the chart's Deployment never runs a pod: the operator runs here as a process with a
 * token of the chart's own ServiceAccount, which proves the chart's RBAC is enough to make an
 * identity Ready. The README's first-install order is followed: init-root --create-namespace
 * (your own CA) before the chart, with caSecret.bootstrap=false.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { fileURLToPath } from 'node:url';
import { GROUP, PLURAL, VERSION } from '../../src/api/types.ts';
import { helm, helmPath } from '../chart/helm.ts';
import { controlPlane, type ControlPlane } from '../support/controlplane.ts';
import { untilOperatorRbacInEffect } from '../support/rbac.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

describe('real apiserver: Helm chart install, upgrade, uninstall', function () {
  let cp: ControlPlane;
  let release: string;
  let apps: string;
  let operator: ChildProcess | undefined;
  let hadDeploy = false;
  const h = (args: string[]) => helm([...args, '--kubeconfig', cp.kubeconfig]);

  before(async function () {
    cp = await controlPlane(this);
    this.timeout(1_800_000);
    if (!helmPath()) this.skip();
    release = `mtls-helm-${process.pid % 10000}`;
    apps = await cp.newNamespace('helm-apps');
    // Other files may have applied deploy/ (cluster-scoped ClusterRole, admission policy): helm
    // takes those over (--take-ownership) and they are re-applied after the uninstall.
    hadDeploy = (await cp.kubectl(['get', 'clusterrole', 'mtls-operator'])).code === 0;
  });

  after(async function () {
    this.timeout(120_000);
    operator?.kill('SIGKILL');
    if (!cp) return;
    // Later files expect deploy/'s cluster-scoped objects as crd.test.ts left them.
    if (hadDeploy) await cp.kubectl(['apply', '--server-side', '--force-conflicts', '-k', `${ROOT}deploy/`]);
  });

  it('the README order: kubectl mtls init-root --create-namespace, then helm install with bootstrap off', async function () {
    this.timeout(300_000);
    const init = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn(process.execPath, [`${ROOT}bin/kubectl-mtls.js`, 'init-root', '-n', release, '--create-namespace', '--kubeconfig', cp.kubeconfig], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => (out += d));
      c.on('exit', (code) => resolve({ code, out }));
    });
    assert.equal(init.code, 0, init.out);
    assert.match(init.out, new RegExp(`^Namespace ${release} created\\nSecret ${release}/mtls-root-ca created`));
    const ns = await cp.kubectl(['get', 'namespace', release, '-o', 'jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}']);
    assert.equal(ns.stdout, 'restricted');

    const r = h(['install', 'mtls-operator', 'charts/mtls-operator', '-n', release, '--take-ownership', '--set', 'caSecret.bootstrap=false']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /STATUS: deployed/);
    for (const [kind, name, nsArg] of [['deployment', 'mtls-operator', release], ['serviceaccount', 'mtls-operator', release], ['role', 'mtls-operator-leader-election', release],
      ['configmap', 'mtls-name-policy', release], ['clusterrole', 'mtls-operator', ''], ['validatingadmissionpolicy', 'mtls-name-policy', ''], ['crd', 'mutualtlsidentities.mtls.dev', '']] as const) {
      const g = await cp.kubectl(['get', kind, name, ...(nsArg ? ['-n', nsArg] : [])]);
      assert.equal(g.code, 0, `${kind}/${name}: ${g.stderr}`);
    }
    await cp.kubectl(['wait', '--for=condition=Established', 'crd/mutualtlsidentities.mtls.dev', '--timeout=60s']);
    const args = await cp.kubectl(['get', 'deployment', 'mtls-operator', '-n', release, '-o', 'jsonpath={.spec.template.spec.containers[0].args}']);
    assert.match(args.stdout, /--bootstrap-ca=false/);
  });

  it('the chart\'s ServiceAccount and RBAC are enough: the operator (as that ServiceAccount) makes an identity Ready from the CA init-root made', async function () {
    this.timeout(180_000);
    const kubeconfig = await cp.serviceAccountKubeconfig(release, 'mtls-operator');
    // Started once the chart's RBAC is in effect for its ServiceAccount (test/support/rbac.ts).
    await untilOperatorRbacInEffect(cp, kubeconfig, release);
    const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kubeconfig, MTLS_OPERATOR_NAMESPACE: release, POD_NAME: 'helm-test' };
    delete env.KUBERNETES_SERVICE_HOST;
    let log = '';
    operator = spawn(process.execPath, [`${ROOT}src/main.ts`, '--metrics-address=127.0.0.1', '--metrics-port=0', '--health-address=127.0.0.1', '--health-port=0', '--leader-elect=true', '--bootstrap-ca=false',
      '--leader-election-lease-duration=15s', '--leader-election-renew-deadline=10s', '--leader-election-retry-period=2s'], { env });
    operator.stdout!.on('data', (d) => (log += d));
    operator.stderr!.on('data', (d) => (log += d));
    const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: apps,
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'MutualTLSIdentity', metadata: { name: 'web', namespace: apps }, spec: { dnsNames: [`web.${apps}.svc`] } } });
    await until(`identity Ready (operator log:\n${log.slice(-3000)})`, async () => {
      const r = await cp.kubectl(['get', 'mtlsid', 'web', '-n', apps, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
      return r.stdout === 'True' ? true : undefined;
    }, 120_000);
    const issued = await cp.kubectl(['get', 'secret', 'web-mtls', '-n', apps, '-o', 'jsonpath={.data.ca\\.crt}']);
    const root = await cp.kubectl(['get', 'secret', 'mtls-root-ca', '-n', release, '-o', 'jsonpath={.data.tls\\.crt}']);
    assert.ok(Buffer.from(issued.stdout, 'base64').toString().includes(Buffer.from(root.stdout, 'base64').toString().trim()), 'issued under the root init-root created');
    // A permission denied reads 'User "system:serviceaccount:…" cannot <verb> resource …'. Other 403s are not the
    // chart's: a namespace another test file is deleting refuses creates (NamespaceTerminating) to anyone.
    const denied = log.split('\n').filter((l) => /User \\?"[^"\\]*\\?" cannot /.test(l));
    assert.deepEqual(denied.slice(0, 5), [], 'no permission the chart lacks');
    operator.kill('SIGTERM');
    await new Promise((r) => operator!.once('exit', r));
    operator = undefined;
  });

  it('the admission policy of the release enforces, and helm upgrade with namePolicy.allow widens it', async function () {
    this.timeout(120_000);
    const identity = (name: string, dns: string) => `apiVersion: mtls.dev/v1alpha1\nkind: MutualTLSIdentity\nmetadata: {name: ${name}, namespace: ${apps}}\nspec: {dnsNames: [${dns}]}\n`;
    const refused = await cp.kubectl(['apply', '-f', '-'], { input: identity('pay', 'api.pay.example.com') });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /mtls-name-policy.*api.pay.example.com/s);
    const r = h(['upgrade', 'mtls-operator', 'charts/mtls-operator', '-n', release, '--reuse-values', '--set', 'replicaCount=3',
      '--set-json', `namePolicy.allow=[{"namespaces":["${apps}"],"dnsSuffixes":["pay.example.com"]}]`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /REVISION: 2/);
    const replicas = await cp.kubectl(['get', 'deployment', 'mtls-operator', '-n', release, '-o', 'jsonpath={.spec.replicas}']);
    assert.equal(replicas.stdout, '3');
    await until('the admission policy sees the new parameters', async () => {
      const ok = await cp.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: identity('pay', 'api.pay.example.com') });
      return ok.code === 0 ? true : undefined;
    }, 30_000);
    const file = await cp.kubectl(['get', 'configmap', 'mtls-operator-name-policy', '-n', release, '-o', 'jsonpath={.data.name-policy\\.yaml}']);
    assert.match(file.stdout, /pay\.example\.com/);
  });

  it('helm uninstall removes the release and keeps the CRD (crds.keep), so identities and their Secrets stay', async function () {
    this.timeout(120_000);
    const r = h(['uninstall', 'mtls-operator', '-n', release]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout + r.stderr, /kept due to the resource policy/);
    assert.notEqual((await cp.kubectl(['get', 'deployment', 'mtls-operator', '-n', release])).code, 0);
    assert.notEqual((await cp.kubectl(['get', 'clusterrole', 'mtls-operator'])).code, 0);
    assert.equal((await cp.kubectl(['get', 'crd', 'mutualtlsidentities.mtls.dev'])).code, 0);
    assert.equal((await cp.kubectl(['get', 'mtlsid', 'web', '-n', apps])).code, 0);
    assert.equal((await cp.kubectl(['get', 'secret', 'web-mtls', '-n', apps])).code, 0);
  });
});
