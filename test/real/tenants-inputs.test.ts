/**
 * Issue 19 on a real kube-apiserver, the hostile inputs of points 2, 5 and 9 (the operator process runs as its own
 * ServiceAccount with deploy/'s RBAC):
 *   - point 5: a keystore password Secret that has not opted in reads exactly like one that does not exist (status
 *     and Events say nothing of its existence or keys);
 *   - point 2: a password far over the bound is refused (KeystorePasswordInvalid) without stalling the operator; three
 *     new renew-request values in a row give one re-issue, not three;
 *   - point 9: `usages` naming only `server auth` still gives both extended key usages (X.509-SVID), read by openssl.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type MutualTLSIdentity } from '../../src/api/types.ts';
import { controlPlane, type ControlPlane } from '../support/controlplane.ts';
import { operatorForNewNamespace, type OperatorProcess } from '../support/operator-process.ts';
import { eventually, sleep } from '../support/wait.ts';


describe('real apiserver: hostile tenants\' inputs (issue 19, points 2, 5, 9)', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let ns: string;
  let op: OperatorProcess;

  before(async function () {
    cp = await controlPlane(this);
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    ({ ns, op } = await operatorForNewNamespace(cp, 'inputs', []));
  });

  after(async () => {
    op?.kill();
    await op?.exited;
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && op) process.stderr.write(`--- operator log (last 60 lines) ---\n${op.tail()}\n`);
  });

  const applyIdentity = (name: string, spec: Record<string, unknown>, annotations: Record<string, string> = {}) =>
    custom.patchNamespacedCustomObject({
      group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name, fieldManager: 'tenant', force: true,
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'MutualTLSIdentity', metadata: { name, namespace: ns, annotations }, spec },
    }, setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply));
  const identity = async (name: string) =>
    (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name })) as MutualTLSIdentity;
  const ready = async (name: string) => (await identity(name)).status?.conditions?.find((c) => c.type === 'Ready');
  const keystore = (secret: string) => ({ keystores: { pkcs12: { enabled: true, passwordSecretRef: { name: secret, key: 'password' } } } });

  it('point 5: a password Secret that has not opted in reads exactly like an absent one; nothing about it reaches status or Events', async () => {
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'someone-elses' }, stringData: { password: 'their-secret-123', other: 'x' } } });
    await applyIdentity('probe-existing', keystore('someone-elses'));
    await applyIdentity('probe-absent', keystore('no-such-secret'));
    const [a, b] = await Promise.all(['probe-existing', 'probe-absent'].map((n) => eventually(`${n} Ready=False`, async () => {
      const c = await ready(n);
      return c?.status === 'False' ? c : undefined;
    }, 120_000, 250)));
    assert.equal(a!.reason, 'KeystorePasswordMissing');
    assert.equal(b!.reason, a!.reason);
    const same = (m: string) => m.replace(/someone-elses|no-such-secret/g, 'S').replace(/probe-existing|probe-absent/g, 'I');
    assert.equal(same(a!.message), same(b!.message), 'the same words for an existing Secret and an absent one');
    const events = (await core.listNamespacedEvent({ namespace: ns })).items.filter((e) => e.involvedObject.name?.startsWith('probe-'));
    assert.ok(events.length >= 2);
    for (const e of events) assert.doesNotMatch(e.message ?? '', /their-secret|"other"|"password"|printable/, e.message);
    assert.equal(new Set(events.filter((e) => e.reason === 'KeystorePasswordMissing').map((e) => same(e.message ?? ''))).size, 1);
  });

  it('point 2: a password far over 128 characters is refused (KeystorePasswordInvalid) and the operator keeps issuing', async () => {
    await core.createNamespacedSecret({ namespace: ns, body: {
      metadata: { name: 'huge-password', annotations: { 'mtls.dev/keystore-for': 'huge' } }, stringData: { password: 'p'.repeat(200_000) } } });
    await applyIdentity('huge', keystore('huge-password'));
    const c = await eventually('huge Ready=False', async () => {
      const x = await ready('huge');
      return x?.status === 'False' ? x : undefined;
    }, 120_000, 250);
    assert.equal(c.reason, 'KeystorePasswordInvalid');
    assert.match(c.message, /longer than 128 characters/);
    await applyIdentity('after-huge', {});
    await eventually('an identity after it is Ready', async () => (await ready('after-huge'))?.status === 'True', 60_000, 250);
    assert.equal(op.child.exitCode, null);
  });

  it('point 2: three new renew-request values in a row re-issue once, not three times (1 per identity per 5 min)', async () => {
    await applyIdentity('renewer', {});
    await eventually('renewer Ready', async () => (await ready('renewer'))?.status === 'True', 60_000, 250);
    const serials = new Set<string>([(await identity('renewer')).status!.serialNumber!]);
    for (let i = 0; i < 3; i++) {
      await custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name: 'renewer',
        body: { metadata: { annotations: { 'mtls.dev/renew-request': `tenant-${i}-${Date.now()}` } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      await eventually(`renew request ${i} seen`, async () => {
        serials.add((await identity('renewer')).status!.serialNumber!);
        return i > 0 || serials.size === 2;
      }, 60_000, 200);
      await sleep(1500);
      serials.add((await identity('renewer')).status!.serialNumber!);
    }
    await sleep(5000);
    serials.add((await identity('renewer')).status!.serialNumber!);
    assert.equal(serials.size, 2, `one re-issue for three requests, saw serials ${[...serials].join(', ')}`);
  });

  it('point 9: usages naming only server auth give both extended key usages (X.509-SVID), as openssl reads them', async () => {
    await applyIdentity('server-only', { usages: ['digital signature', 'server auth'] });
    await eventually('server-only Ready', async () => (await ready('server-only'))?.status === 'True', 60_000, 250);
    const s = (await cp.readSecret(ns, 'server-only-mtls'))!;
    const leaf = Buffer.from(s.data!['tls.crt']!, 'base64').toString('utf8').split(/(?<=-----END CERTIFICATE-----)/)[0]!;
    const out = spawnSync('openssl', ['x509', '-noout', '-ext', 'extendedKeyUsage,keyUsage'], { input: leaf, encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    assert.match(out.stdout, /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(out.stdout, /Digital Signature/);
  });
});
