/**
 * The assembled operator (src/main.ts as a child process) on a real kube-apiserver, authenticated as its own
 * ServiceAccount mtls-system/mtls-operator with a TokenRequest token and exactly deploy/'s RBAC (plus
 * deploy/optional/workload-restart). Each step builds on the state the previous one left, as on a real cluster.
 * What the operator wrote is read from the apiserver's audit log, by the ServiceAccount's username.
 *
 * The admission policy is not bound here (test/real/crd.test.ts proves it): these steps meet the operator's own
 * backstop. The controller-manager's garbage collector is real.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type V1Secret,
} from '@kubernetes/client-node';
import { identityLabelValue } from '../../src/api/labels.ts';
import { GROUP, PLURAL, VERSION, type MutualTLSIdentity } from '../../src/api/types.ts';
import { controlPlane, WRITE_VERBS, type AuditEvent, type ControlPlane } from '../support/controlplane.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { eventually, sleep } from '../support/wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OPERATOR_NS = 'mtls-system';
const SA_USER = `system:serviceaccount:${OPERATOR_NS}:mtls-operator`;

type Identity = MutualTLSIdentity & { metadata: { uid?: string; generation?: number; resourceVersion?: string } };
const data = (s: V1Secret, key: string) => Buffer.from(s.data![key]!, 'base64').toString('utf8');
const conditionOf = (o: Identity | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);

describe('real apiserver: the operator as its own ServiceAccount with deploy/\'s RBAC', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let apps: AppsV1Api;
  let dev: string;
  let staging: string;
  let kubeconfig: string;
  let op: OperatorProcess;
  const operators: OperatorProcess[] = [];
  let auditFrom = 0;
  let restartWindow: [number, number] = [0, 0];

  const start = () => {
    const o = new OperatorProcess(kubeconfig, [
      `--watch-namespaces=${dev},${staging}`,
      // Leader election with its default timings: a restarted apiserver (below) must not cost the leadership.
      '--leader-elect=true',
      '--shutdown-grace=5s', '--allow-workload-restart=true', '--reissue-rate=100',
    ]);
    operators.push(o);
    return o;
  };
  /** The operator's requests since the start of this file (audit log), optionally only writes. */
  const byOperator = (writesOnly = false) =>
    cp.audit().slice(auditFrom).filter((e) => e.user.username === SA_USER && (!writesOnly || WRITE_VERBS.has(e.verb)));
  // SelfSubjectAccessReviews are no change to anything: the pod-certificate signer asks at start whether it may run
  // (src/adapter/podcert.ts unavailable(); this ServiceAccount has no deploy/optional/pod-certificates, so it stays off).
  const notLease = (e: AuditEvent) => !['leases', 'events', 'selfsubjectaccessreviews'].includes(e.objectRef?.resource ?? '');

  const getIdentity = async (ns: string, name: string) =>
    (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name })) as Identity;
  const getSecret = (ns: string, name: string) => cp.readSecret(ns, name);
  const putIdentity = async (ns: string, name: string, spec: Record<string, unknown>) => {
    const body = { apiVersion: `${GROUP}/${VERSION}`, kind: 'MutualTLSIdentity', metadata: { name, namespace: ns }, spec };
    return (await custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name, body, fieldManager: 'tester', force: true },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply))) as Identity;
  };
  const ready = (ns: string, name: string, generation?: number) => eventually(`${ns}/${name} Ready=True`, async () => {
    const c = conditionOf(await getIdentity(ns, name), 'Ready');
    return c?.status === 'True' && (generation === undefined || c.observedGeneration === generation) && c;
  }, 60_000, 200);

  /** Until the operator has made no request but Lease renewals for `ms`. */
  const quiet = async (ms: number, limitMs = 30_000) => {
    const deadline = Date.now() + limitMs;
    let count = byOperator().filter(notLease).length;
    let since = Date.now();
    while (Date.now() - since < ms) {
      if (Date.now() > deadline) throw new Error(`the operator did not go quiet within ${limitMs} ms`);
      await sleep(200);
      const now = byOperator().filter(notLease).length;
      if (now !== count) (count = now, since = Date.now());
    }
  };

  before(async function () {
    cp = await controlPlane(this);
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    apps = cp.kubeConfig.makeApiClient(AppsV1Api);
    for (const args of [['apply', '-k', `${ROOT}deploy/`], ['apply', '-k', `${ROOT}deploy/optional/workload-restart`]]) {
      const res = await cp.kubectl(args);
      assert.equal(res.code, 0, res.stderr);
    }
    await cp.kubectl(['delete', 'validatingadmissionpolicybinding', 'mtls-name-policy', '--ignore-not-found']);
    // Start from a first install: no CA, no rotation state, no Lease left by another test file.
    await cp.kubectl(['-n', OPERATOR_NS, 'delete', 'secret,configmap,lease', '-l', 'app.kubernetes.io/managed-by=mtls-operator', '--ignore-not-found']);
    await cp.kubectl(['-n', OPERATOR_NS, 'delete', 'secret/mtls-root-ca', 'configmap/mtls-trust-rotation', 'lease/mtls-operator', '--ignore-not-found']);
    dev = await cp.newNamespace('dev');
    staging = await cp.newNamespace('staging');
    kubeconfig = await cp.serviceAccountKubeconfig(OPERATOR_NS, 'mtls-operator');
    auditFrom = cp.audit().length;
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      for (const o of operators) process.stderr.write(`--- operator pid ${o.child.pid} log (last 60 lines) ---\n${o.tail()}\n`);
    }
  });

  after(async () => {
    for (const o of operators) o.kill();
    await Promise.all(operators.map((o) => o.exited));
  });

  it('bootstraps the CA Secret on a first install and takes the Lease', async () => {
    op = start();
    const ca = await eventually('the CA Secret', () => getSecret(OPERATOR_NS, 'mtls-root-ca'), 60_000, 200);
    assert.equal(ca.type, 'kubernetes.io/tls');
    assert.ok(new X509Certificate(data(ca, 'tls.crt')).ca);
    const leases = cp.kubeConfig.makeApiClient(CoordinationV1Api);
    const lease = await eventually('the Lease', () => leases.readNamespacedLease({ namespace: OPERATOR_NS, name: 'mtls-operator' }), 30_000, 200);
    assert.match(String(lease.spec?.holderIdentity), /_[0-9a-f]{8}$/);
    await eventually('controller started', () => op.logged('controller started'), 30_000);
  });

  it('issues a kubernetes.io/tls Secret owned by the identity, Ready=True through /status, the trust bundle and an Event', async () => {
    const created = await putIdentity(dev, 'web', { secretName: 'web-mtls', serviceAccountName: 'web', dnsNames: [`web.${dev}.svc`, `web.${dev}.svc.cluster.local`] });
    const secret = await eventually('Secret web-mtls', () => getSecret(dev, 'web-mtls'), 60_000, 200);
    assert.equal(secret.type, 'kubernetes.io/tls');
    assert.deepEqual(Object.keys(secret.data!).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
    assert.equal(secret.metadata!.labels!['app.kubernetes.io/managed-by'], 'mtls-operator');
    assert.equal(secret.metadata!.labels!['mtls.dev/identity'], 'web');
    assert.deepEqual(JSON.parse(JSON.stringify(secret.metadata!.ownerReferences)), [{
      apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity', name: 'web', uid: created.metadata.uid, controller: true, blockOwnerDeletion: true,
    }]);
    const leaf = new X509Certificate(data(secret, 'tls.crt'));
    assert.ok(leaf.verify(new X509Certificate(data(secret, 'ca.crt')).publicKey));
    assert.match(leaf.subjectAltName ?? '', new RegExp(`URI:spiffe://cluster\\.local/ns/${dev}/sa/web`));
    const r = await ready(dev, 'web', 1);
    assert.equal(r.reason, 'Ready');
    const bundle = await eventually('the trust bundle ConfigMap', () => core.readNamespacedConfigMap({ namespace: dev, name: 'mtls-trust-bundle' }), 30_000, 200);
    assert.equal(bundle.data!['ca.crt'], data(secret, 'ca.crt'));
    await eventually('an Issued Event', async () =>
      (await core.listNamespacedEvent({ namespace: dev })).items.find((e) => e.reason === 'Issued' && e.involvedObject.name === 'web'), 30_000, 200);
  });

  it('round-trips everything it writes to status through the CRD schema: nothing pruned, nothing refused', async () => {
    const id = await getIdentity(dev, 'web');
    const s = id.status!;
    const secret = (await getSecret(dev, 'web-mtls'))!;
    const leaf = new X509Certificate(data(secret, 'tls.crt'));
    assert.equal(s.serialNumber, leaf.serialNumber.toLowerCase());
    assert.equal(s.secretName, 'web-mtls');
    assert.equal(s.spiffeID, `spiffe://cluster.local/ns/${dev}/sa/web`);
    assert.equal(new Date(s.notAfter!).getTime(), new Date(leaf.validTo).getTime());
    for (const f of ['notBefore', 'notAfter', 'renewalTime'] as const) assert.match(String(s[f]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, f);
    assert.equal(s.observedGeneration, 1);
    assert.ok((s.revision ?? 0) >= 1);
    assert.deepEqual(conditionOf(id, 'Issuing')?.status, 'False');
    // Every status write the server answered with a 2xx.
    const statusWrites = byOperator(true).filter((e) => e.objectRef?.subresource === 'status');
    assert.ok(statusWrites.length > 0);
    assert.deepEqual(statusWrites.filter((e) => (e.responseStatus?.code ?? 0) >= 300).map((e) => `${e.verb} ${e.requestURI} ${e.responseStatus?.code}`), []);
  });

  it('refuses a name of another namespace itself (no admission policy bound): Ready=False PolicyViolation, no Secret, no write', async () => {
    await putIdentity(dev, 'impostor', { secretName: 'impostor-mtls', dnsNames: ['payments.prod.svc'] });
    const c = await eventually('impostor Ready=False', async () => {
      const x = conditionOf(await getIdentity(dev, 'impostor'), 'Ready');
      return x?.status === 'False' && x;
    }, 30_000, 200);
    assert.equal(c.reason, 'PolicyViolation');
    assert.equal(await getSecret(dev, 'impostor-mtls'), undefined);
    assert.deepEqual(byOperator(true).filter((e) => e.objectRef?.name === 'impostor-mtls'), []);
  });

  it('server-side apply keeps what other managers wrote (kubectl label), and repairs what it owns (kubectl edit of tls.crt)', async () => {
    const before = (await getSecret(dev, 'web-mtls'))!;
    const label = await cp.kubectl(['-n', dev, 'label', 'secret/web-mtls', 'team=payments']);
    assert.equal(label.code, 0, label.stderr);
    // Someone replaces tls.crt with garbage through an update (kubectl edit is a PUT/patch by manager kubectl-edit).
    const edit = await cp.kubectl(['-n', dev, 'patch', 'secret/web-mtls', '--type=merge', '-p',
      JSON.stringify({ data: { 'tls.crt': Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n').toString('base64') } })]);
    assert.equal(edit.code, 0, edit.stderr);
    const repaired = await eventually('tls.crt repaired', async () => {
      const s = (await getSecret(dev, 'web-mtls'))!;
      try {
        return new X509Certificate(data(s, 'tls.crt')) && s;
      } catch {
        return false;
      }
    }, 60_000, 200);
    assert.notEqual(new X509Certificate(data(repaired, 'tls.crt')).serialNumber, new X509Certificate(data(before, 'tls.crt')).serialNumber);
    assert.equal(repaired.metadata!.labels!.team, 'payments', 'another manager\'s label survives the operator\'s apply');
    const managers = (repaired.metadata!.managedFields ?? []).map((m) => `${m.manager}/${m.operation}`);
    // The identity's own field manager, mtls-operator/<identity uid> (issue 12.5).
    assert.ok(managers.some((m) => /^mtls-operator\/[0-9a-f-]{36}\/Apply$/.test(m)), JSON.stringify(managers));
    await ready(dev, 'web');
  });

  it('never touches a Secret someone else created under the target name (kubectl create): SecretConflict', async () => {
    const res = await cp.kubectl(['-n', dev, 'create', 'secret', 'generic', 'taken-mtls', '--from-literal=k=v']);
    assert.equal(res.code, 0, res.stderr);
    await putIdentity(dev, 'taken', { secretName: 'taken-mtls' });
    const c = await eventually('taken Ready=False', async () => {
      const x = conditionOf(await getIdentity(dev, 'taken'), 'Ready');
      return x?.status === 'False' && x;
    }, 30_000, 200);
    assert.equal(c.reason, 'SecretConflict');
    const s = (await getSecret(dev, 'taken-mtls'))!;
    assert.deepEqual(Object.keys(s.data!), ['k']);
    assert.deepEqual(byOperator(true).filter((e) => e.objectRef?.resource === 'secrets' && e.objectRef.name === 'taken-mtls'), []);
    await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: dev, plural: PLURAL, name: 'taken' });
  });

  it('writes PKCS#12 keystores from a password Secret in the same write', async () => {
    await core.createNamespacedSecret({ namespace: dev, body: {
      metadata: { name: 'jvm-keystore', annotations: { 'mtls.dev/keystore-for': 'jvm' } }, stringData: { password: 'changeit-123' } } });
    await putIdentity(dev, 'jvm', { keystores: { pkcs12: { enabled: true, passwordSecretRef: { name: 'jvm-keystore', key: 'password' } } } });
    const s = await eventually('keystore.p12', async () => {
      const x = await getSecret(dev, 'jvm-mtls');
      return x?.data?.['keystore.p12'] ? x : undefined;
    }, 60_000, 200);
    assert.ok(s.data!['truststore.p12']);
    await ready(dev, 'jvm');
  });

  it('restarts an opted-in Deployment on renewal (deploy/optional/workload-restart)', async () => {
    await apps.createNamespacedDeployment({ namespace: dev, body: {
      metadata: { name: 'app' },
      spec: { selector: { matchLabels: { app: 'app' } }, template: { metadata: { labels: { app: 'app' } }, spec: { containers: [{ name: 'c', image: 'example/app:1' }] } } },
    } });
    await putIdentity(dev, 'app', { restartWorkloads: [{ kind: 'Deployment', name: 'app' }] });
    await ready(dev, 'app');
    const first = (await getIdentity(dev, 'app')).status!.serialNumber;
    await custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: dev, plural: PLURAL, name: 'app',
      body: { metadata: { annotations: { 'mtls.dev/renew-request': new Date().toISOString() } } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    const serial = await eventually('a renewed certificate', async () => {
      const s = (await getIdentity(dev, 'app')).status?.serialNumber;
      return s !== first && s;
    }, 60_000, 200);
    await eventually('the Deployment template annotated with the new serial', async () =>
      (await apps.readNamespacedDeployment({ namespace: dev, name: 'app' })).spec?.template.metadata?.annotations?.['mtls.dev/certificate-hash'] === serial,
    30_000, 200);
  });

  it('identities with names of 64 to 253 characters get their Secrets, found by their label', async () => {
    for (const n of [64, 100, 253]) {
      const name = n === 253 ? `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}` : 'l'.repeat(n);
      await putIdentity(staging, name, { secretName: `long-${n}` });
      await ready(staging, name);
      const s = (await getSecret(staging, `long-${n}`))!;
      assert.equal(s.metadata!.labels!['mtls.dev/identity'], identityLabelValue(name));
      const found = await cp.kubectl(['-n', staging, 'get', 'secret', '-l', `mtls.dev/identity=${identityLabelValue(name)}`, '-o', 'name']);
      assert.equal(found.stdout.trim(), `secret/long-${n}`);
    }
  });

  it('garbage collection by ownerReference with the real controller-manager; the bundle goes with the last identity', async function () {
    cp.needControllerManager(this);
    await putIdentity(staging, 'gc', {});
    await ready(staging, 'gc');
    for (const name of (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: staging, plural: PLURAL }) as { items: Identity[] }).items.map((i) => i.metadata.name)) {
      await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: staging, plural: PLURAL, name });
    }
    await eventually('the Secrets garbage-collected', async () =>
      (await core.listNamespacedSecret({ namespace: staging, labelSelector: 'app.kubernetes.io/managed-by=mtls-operator' })).items.length === 0, 60_000, 200);
    await eventually('the bundle deleted', async () =>
      (await core.listNamespacedConfigMap({ namespace: staging, fieldSelector: 'metadata.name=mtls-trust-bundle' })).items.length === 0, 30_000, 200);
  });

  it('an identity being deleted (foreground: deletionTimestamp set, its Secret still there) is left alone', async function () {
    cp.needControllerManager(this);
    await putIdentity(dev, 'leaving', {});
    await ready(dev, 'leaving');
    const writes = byOperator(true).length;
    await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: dev, plural: PLURAL, name: 'leaving', propagationPolicy: 'Foreground' });
    const deleting = await getIdentity(dev, 'leaving').catch(() => undefined);
    if (deleting) assert.ok(deleting.metadata.deletionTimestamp, 'deletionTimestamp set during foreground deletion');
    await eventually('the identity and its Secret gone', async () => {
      const gone = await getIdentity(dev, 'leaving').then(() => false, (e) => e instanceof ApiException && e.code === 404);
      return gone && (await getSecret(dev, 'leaving-mtls')) === undefined;
    }, 60_000, 200);
    const after = byOperator(true).slice(writes).filter((e) => e.objectRef?.resource === 'secrets' && e.objectRef.name === 'leaving-mtls');
    assert.deepEqual(after.map((e) => `${e.verb} ${e.requestURI}`), [], 'no Secret write for an identity on its way out');
  });

  it('an identity deleted and re-created under the same name while garbage collection is at work ends with a Secret owned by the new one', async function () {
    cp.needControllerManager(this);
    await putIdentity(dev, 'again', {});
    await ready(dev, 'again');
    const old = await getIdentity(dev, 'again');
    // Background deletion: the identity goes at once, the garbage collector deletes its Secret afterwards.
    await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: dev, plural: PLURAL, name: 'again', propagationPolicy: 'Background' });
    await eventually('the old identity gone', () => getIdentity(dev, 'again').then(() => false, (e) => e instanceof ApiException && e.code === 404), 30_000, 20);
    const created = await putIdentity(dev, 'again', {});
    assert.notEqual(created.metadata.uid, old.metadata.uid);
    await eventually('a Secret owned by the new identity', async () => {
      const x = await getSecret(dev, 'again-mtls');
      return x?.metadata?.ownerReferences?.[0]?.uid === created.metadata.uid && x;
    }, 90_000, 200);
    await ready(dev, 'again');
  });

  it('rides out a kube-apiserver killed and restarted under load: watches resume (410 relists where needed), nothing is missed', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `load-${i}`);
    const restarts = op.count('watch restarting');
    for (const [i, n] of names.entries()) {
      await putIdentity(dev, n, {});
      if (i === 9) {
        const from = Date.now();
        await cp.restartApiserver();
        // A restarted apiserver answers 403 for a moment, until its RBAC caches have synced: the operator retries.
        restartWindow = [from, Date.now() + 10_000];
      }
    }
    for (const n of names) await ready(dev, n);
    assert.ok(op.count('watch restarting') > restarts, 'the watches saw the apiserver go');
    const gone = op.count('watch restarting', 'gone');
    process.stdout.write(`      (after the restart: ${op.count('watch restarting') - restarts} watch restarts, ${gone} of them 410 Gone, ${op.count('watch relisted')} relists)\n`);
    // Created after the restart, seen through the resumed watches.
    await putIdentity(dev, 'after-restart', {});
    await ready(dev, 'after-restart');
  });

  it('exits 0 on SIGTERM and releases the Lease; a restarted operator writes nothing', async () => {
    await quiet(2_000);
    assert.equal(await op.terminate(10_000), 0, op.tail(20));
    assert.ok(op.logged('leader election: lease released'));
    const writesBefore = byOperator(true).filter(notLease).length;
    op = start();
    await eventually('controller started', () => op.logged('controller started'), 60_000);
    await sleep(3_000);
    await quiet(2_000);
    const writes = byOperator(true).filter(notLease).slice(writesBefore);
    assert.deepEqual(writes.map((e) => `${e.verb} ${e.requestURI}`), [], 'the restarted operator wrote');
  });

  it('never logs key material or an error; no request of its ServiceAccount was forbidden', () => {
    for (const o of operators) {
      assert.ok(o.lines.length > 10);
      assert.equal(o.text.includes('PRIVATE KEY'), false);
      // The apiserver killed mid-request (above) fails the issuances in flight; nothing else is an error.
      const inRestart = (l: Record<string, unknown>) => {
        const t = Date.parse(String(l.timestamp));
        return t >= restartWindow[0] - 1_000 && t <= restartWindow[1];
      };
      assert.deepEqual(o.lines.filter((l) => l.level === 'error' && !inRestart(l)).map((l) => `${l.message}: ${String(l.detail)}`), []);
    }
    const duringRestart = (e: AuditEvent) => {
      const t = Date.parse(e.requestReceivedTimestamp);
      return t >= restartWindow[0] && t <= restartWindow[1];
    };
    assert.deepEqual(byOperator().filter((e) => e.responseStatus?.code === 403 && !duringRestart(e)).map((e) => `${e.verb} ${e.requestURI}`), []);
  });

  it('cannot do what it has no business doing (SelfSubjectAccessReview as the ServiceAccount)', async () => {
    const can = async (args: string[]) => (await cp.kubectl(['auth', 'can-i', ...args], { kubeconfig })).stdout.trim();
    const denied: string[][] = [
      ['create', 'pods', '-n', dev],
      ['update', 'secrets', '-n', dev],
      ['delete', 'namespaces'],
      ['create', 'clusterrolebindings'],
      ['escalate', 'clusterroles'],
      ['impersonate', 'serviceaccounts'],
      ['update', 'customresourcedefinitions.apiextensions.k8s.io'],
      ['delete', 'mutualtlsidentities.mtls.dev', '-n', dev],
      ['update', 'mutualtlsidentities.mtls.dev', '-n', dev],
      ['patch', 'mutualtlsidentities.mtls.dev', '-n', dev],
      ['patch', 'validatingadmissionpolicies.admissionregistration.k8s.io'],
      ['create', 'serviceaccounts/token', '-n', dev],
    ];
    for (const a of denied) assert.equal(await can(a), 'no', `can-i ${a.join(' ')}`);
    const allowed: string[][] = [
      ['patch', 'secrets', '-n', dev],
      ['delete', 'secrets', '-n', dev], // a Secret written under an earlier spec.secretName (IdentityWriter.staleSecrets)
      ['patch', 'mutualtlsidentities.mtls.dev', '--subresource=status', '-n', dev],
      ['watch', 'mutualtlsidentities.mtls.dev', '--all-namespaces'],
      ['update', 'leases.coordination.k8s.io/mtls-operator', '-n', OPERATOR_NS],
      ['create', 'events', '-n', dev],
    ];
    for (const a of allowed) assert.equal(await can(a), 'yes', `can-i ${a.join(' ')}`);
  });
});
