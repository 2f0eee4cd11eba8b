/**
 * The root of trust on a real kube-apiserver (issues 12.1, 12.2, 13.3, 20.3): the controller runs in-process over
 * the client-node adapter against the test control plane, with the real clock and short rotation timings.
 *   - the rotation state is written only with a resourceVersion precondition (PUT) or a create (POST): the server
 *     refuses a stale write (409) and a create over an existing state (409);
 *   - the CA Secret deleted by an admin once a CA existed: no new root, CANotReady, the issued Secret untouched, and
 *     the admin's own create succeeds;
 *   - the CA replaced in place: the old root stays in every bundle (unstaged rotation);
 *   - the state ConfigMap deleted mid-Active: the same rotation resumes Active, no second rotation;
 *   - the state ConfigMap deleted during an unstaged rotation: the replaced root is found again (20.3);
 *   - an opted-in Deployment is restarted when Prepared changes its trust bundle (20.6), before any new-root leaf.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type V1Secret } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type MutualTLSIdentity } from '../../src/api/types.ts';
import { KubeCluster } from '../../src/adapter/kube.ts';
import { ClusterError } from '../../src/cluster/port.ts';
import { ANNOTATION_ROTATE_TO, ANNOTATION_UNSTAGED_OLD_ROOTS, ROTATION_CONFIGMAP } from '../../src/controller/ca-source.ts';
import { Controller } from '../../src/controller/controller.ts';
import { rotationFromData } from '../../src/decide/rotation.ts';
import { createLogger, silentLogger } from '../../src/log.ts';
import { createWriteStream } from 'node:fs';
const testLogger = () => process.env.MTLS_TEST_LOG ? createLogger('debug', createWriteStream(process.env.MTLS_TEST_LOG, { flags: 'a' })) : silentLogger();
import { trustBundleHash } from '../../src/controller/writer.ts';
import { bundleFingerprints, fingerprintOf, generateRootCA } from '../../src/pki/index.ts';
import type { CAMaterial } from '../../src/pki/types.ts';
import { controlPlane, type ControlPlane } from '../support/controlplane.ts';
import { eventually, sleep } from '../support/wait.ts';

const OPERATOR_NS = 'mtls-system';
const CA = 'mtls-root-ca';
const b64 = (t: string) => Buffer.from(t).toString('base64');
const text = (s: V1Secret | undefined, k: string) => Buffer.from(s?.data?.[k] ?? '', 'base64').toString('utf8');
const fp = (pem: string) => fingerprintOf(new X509Certificate(pem));

describe('real apiserver: the root of trust and the rotation state', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let controller: Controller | undefined;

  const getSecret = (ns: string, name: string) => cp.readSecret(ns, name);
  const state = async () => {
    try {
      return rotationFromData((await core.readNamespacedConfigMap({ namespace: OPERATOR_NS, name: ROTATION_CONFIGMAP })).data);
    } catch {
      return undefined;
    }
  };
  const createCa = (root: CAMaterial, annotations: Record<string, string> = {}) => core.createNamespacedSecret({
    namespace: OPERATOR_NS,
    body: { metadata: { name: CA, annotations }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(root.certPem), 'tls.key': b64(root.keyPem), 'ca.crt': b64(root.certPem) } },
  });
  const putIdentity = (ns: string, name: string, spec: Record<string, unknown>) =>
    custom.patchNamespacedCustomObject({
      group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name, fieldManager: 'tester', force: true,
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'MutualTLSIdentity', metadata: { name, namespace: ns }, spec },
    }, setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply));
  const readyOf = async (ns: string, name: string) =>
    ((await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name })) as MutualTLSIdentity).status?.conditions?.find((c) => c.type === 'Ready');
  let startedAt = 0;
  /** Events in the operator namespace since this test started (other files rotate there too). */
  const recentEvents = async () => (await core.listNamespacedEvent({ namespace: OPERATOR_NS })).items
    .filter((e) => new Date((e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? 0) as string | Date).getTime() >= startedAt - 1000);
  const clean = async () => {
    startedAt = Date.now();
    await cp.kubectl(['-n', OPERATOR_NS, 'delete', 'secret', '-l', 'app.kubernetes.io/created-by=mtls-operator', '--ignore-not-found']);
    await cp.kubectl(['-n', OPERATOR_NS, 'delete', `secret/${CA}`, `configmap/${ROTATION_CONFIGMAP}`, '--ignore-not-found']);
  };
  const start = async (ns: string, config: Record<string, unknown> = {}) => {
    const cluster = new KubeCluster({ kubeConfig: cp.kubeConfig, namespaces: [ns], operatorNamespace: OPERATOR_NS, caSecretName: CA, logger: silentLogger() });
    controller = new Controller({
      cluster, clock: { now: () => Date.now() }, logger: testLogger(),
      config: {
        trustDomain: 'cluster.local', operatorNamespace: OPERATOR_NS, caSecretName: CA, bootstrapCA: true, workers: 2,
        propagationDelayMs: 1000, skewMs: 1000, checkIntervalMs: 500, reissuePerSecond: 100, ...config,
      },
    });
    await controller.start();
  };

  /** Identity web issued under one root, then the CA Secret replaced in place by another (an unstaged rotation). */
  const replacedInPlace = async (ns: string) => {
    const [oldRoot, newRoot] = await Promise.all([generateRootCA({ now: new Date(Date.now() - 3_600_000) }), generateRootCA({ now: new Date(Date.now() - 3_600_000) })]);
    await createCa(oldRoot);
    await start(ns);
    await putIdentity(ns, 'web', { duration: '2h' });
    await eventually('Secret web-mtls', () => getSecret(ns, 'web-mtls'), 60_000, 200);
    await eventually('the CA recorded', async () => (await core.readNamespacedConfigMap({ namespace: OPERATOR_NS, name: ROTATION_CONFIGMAP })).data?.caFingerprint === fp(oldRoot.certPem), 30_000, 200);
    await core.replaceNamespacedSecret({
      namespace: OPERATOR_NS, name: CA,
      body: { metadata: { name: CA }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(newRoot.certPem), 'tls.key': b64(newRoot.keyPem), 'ca.crt': b64(newRoot.certPem) } },
    });
    return { oldRoot, newRoot };
  };

  before(async function () {
    cp = await controlPlane(this);
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    await cp.installCrd();
    const ns = await cp.kubectl(['create', 'namespace', OPERATOR_NS]);
    assert.ok(ns.code === 0 || /AlreadyExists/.test(ns.stderr), ns.stderr);
  });

  beforeEach(clean);

  afterEach(async () => {
    await controller?.stop(2000);
    controller = undefined;
    await clean();
  });

  it('writes of the rotation state carry a precondition: a create over an existing state and a stale replace are refused with 409', async () => {
    const cluster = new KubeCluster({ kubeConfig: cp.kubeConfig, operatorNamespace: OPERATOR_NS, caSecretName: CA, logger: silentLogger() });
    const cm = (data: Record<string, string>, resourceVersion?: string) => ({
      apiVersion: 'v1', kind: 'ConfigMap',
      metadata: { name: ROTATION_CONFIGMAP, namespace: OPERATOR_NS, labels: { 'app.kubernetes.io/managed-by': 'mtls-operator' }, ...(resourceVersion ? { resourceVersion } : {}) },
      data,
    });
    const first = await cluster.writeConfigMap(cm({ phase: 'Prepared' }));
    await assert.rejects(cluster.writeConfigMap(cm({ phase: 'Prepared' })), (e: unknown) => ClusterError.isConflict(e));
    const second = await cluster.writeConfigMap(cm({ phase: 'Active' }, first.metadata.resourceVersion));
    assert.notEqual(second.metadata.resourceVersion, first.metadata.resourceVersion);
    // A stale leader still holding the Prepared resourceVersion cannot move the phase back.
    await assert.rejects(cluster.writeConfigMap(cm({ phase: 'Prepared' }, first.metadata.resourceVersion)), (e: unknown) => ClusterError.isConflict(e));
    assert.equal((await state())!.phase, 'Active');
    await core.deleteNamespacedConfigMap({ namespace: OPERATOR_NS, name: ROTATION_CONFIGMAP });
    await assert.rejects(cluster.writeConfigMap(cm({ phase: 'Active' }, second.metadata.resourceVersion)), (e: unknown) => ClusterError.isNotFound(e));
  });

  it('the CA Secret deleted once a CA existed: no new root, CANotReady, the issued Secret untouched; the admin\'s create succeeds', async () => {
    const ns = await cp.newNamespace('trust');
    const root = await generateRootCA({ now: new Date(Date.now() - 3_600_000) });
    await createCa(root);
    await start(ns);
    await putIdentity(ns, 'web', {});
    const issued = await eventually('Secret web-mtls', () => getSecret(ns, 'web-mtls'), 60_000, 200);
    await eventually('the CA recorded in the state', async () => {
      const cm = await core.readNamespacedConfigMap({ namespace: OPERATOR_NS, name: ROTATION_CONFIGMAP });
      return cm.data?.caFingerprint === fp(root.certPem);
    }, 30_000, 200);
    await core.deleteNamespacedSecret({ namespace: OPERATOR_NS, name: CA });
    await eventually('web CANotReady', async () => (await readyOf(ns, 'web'))?.reason === 'CANotReady', 30_000, 200);
    await sleep(3000);
    assert.equal(await getSecret(OPERATOR_NS, CA), undefined, 'the operator minted no root');
    assert.equal((await getSecret(ns, 'web-mtls'))!.metadata!.resourceVersion, issued.metadata!.resourceVersion, 'the issued Secret is untouched');
    const events = await recentEvents();
    assert.ok(events.some((e) => e.reason === 'CANotReady' && e.type === 'Warning' && e.involvedObject.name === CA));
    await createCa(root); // no 409: nobody took the name
    await eventually('web Ready again', async () => (await readyOf(ns, 'web'))?.status === 'True', 30_000, 200);
    assert.equal(text(await getSecret(ns, 'web-mtls'), 'tls.crt'), text(issued, 'tls.crt'), 'nothing re-issued');
  });

  it('the CA replaced in place: the old root stays in the bundles beside the new one', async () => {
    const ns = await cp.newNamespace('inplace');
    const { oldRoot, newRoot } = await replacedInPlace(ns);
    const s = await eventually('a leaf from the new CA', async () => {
      const x = await getSecret(ns, 'web-mtls');
      return x && new X509Certificate(text(x, 'tls.crt')).checkIssued(new X509Certificate(newRoot.certPem)) && x;
    }, 60_000, 200);
    assert.deepEqual(bundleFingerprints(text(s, 'ca.crt')), [fp(oldRoot.certPem), fp(newRoot.certPem)]);
    // The namespace's bundle ConfigMap is its own key in the queue: it may land just after the first new leaf (an
    // unstaged rotation is Active at once), but it never drops the old root.
    await eventually('the bundle ConfigMap with both roots', async () => {
      const cm = await core.readNamespacedConfigMap({ namespace: ns, name: 'mtls-trust-bundle' });
      const fps = bundleFingerprints(cm.data!['ca.crt']!);
      assert.ok(fps.includes(fp(oldRoot.certPem)), 'the old root is never dropped from the ConfigMap');
      return fps.length === 2 && fps[1] === fp(newRoot.certPem);
    }, 30_000, 200);
    const r = (await state())!;
    assert.equal(r.phase, 'Active');
    assert.equal(r.unstaged, true);
  });

  it('the state ConfigMap deleted during an unstaged rotation: the replaced root is found again and stays in every bundle', async () => {
    const ns = await cp.newNamespace('unstaged-lost');
    const { oldRoot, newRoot } = await replacedInPlace(ns);
    await eventually('the CA Secret names the replaced root', async () =>
      (await getSecret(OPERATOR_NS, CA))?.metadata?.annotations?.[ANNOTATION_UNSTAGED_OLD_ROOTS] === fp(oldRoot.certPem), 60_000, 200);
    await eventually('a leaf from the new CA', async () => {
      const x = await getSecret(ns, 'web-mtls');
      return x && new X509Certificate(text(x, 'tls.crt')).checkIssued(new X509Certificate(newRoot.certPem));
    }, 60_000, 200);
    await core.deleteNamespacedConfigMap({ namespace: OPERATOR_NS, name: ROTATION_CONFIGMAP });
    const after = await eventually('the state again', async () => {
      const r = await state();
      return r?.phase === 'Active' && r;
    }, 60_000, 200);
    assert.equal(after.unstaged, true);
    assert.deepEqual(bundleFingerprints(after.oldBundlePem!), [fp(oldRoot.certPem)]);
    await sleep(2000);
    assert.deepEqual(bundleFingerprints(text(await getSecret(ns, 'web-mtls'), 'ca.crt')), [fp(oldRoot.certPem), fp(newRoot.certPem)], 'the Secret still trusts the replaced root');
    const cm = await core.readNamespacedConfigMap({ namespace: ns, name: 'mtls-trust-bundle' });
    assert.deepEqual(bundleFingerprints(cm.data!['ca.crt']!), [fp(oldRoot.certPem), fp(newRoot.certPem)]);
    assert.ok((await recentEvents()).some((e) => e.reason === 'RotationRecovered'));
  });

  it('the state ConfigMap deleted mid-Active: the same rotation resumes Active, no second rotation', async () => {
    const ns = await cp.newNamespace('lost');
    const root = await generateRootCA({ now: new Date(Date.now() - 3_600_000) });
    await createCa(root);
    await start(ns);
    await putIdentity(ns, 'web', { duration: '2h' });
    await eventually('Secret web-mtls', () => getSecret(ns, 'web-mtls'), 60_000, 200);
    await core.patchNamespacedSecret({ namespace: OPERATOR_NS, name: CA, body: { metadata: { annotations: { [ANNOTATION_ROTATE_TO]: 'generate' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    const active = await eventually('Active', async () => {
      const s = await state();
      return s?.phase === 'Active' && s;
    }, 60_000, 200);
    const newRoot = new X509Certificate(text(await getSecret(OPERATOR_NS, active.newRootSecret), 'tls.crt'));
    await eventually('web on the new root', async () => new X509Certificate(text(await getSecret(ns, 'web-mtls'), 'tls.crt')).checkIssued(newRoot), 60_000, 200);
    await core.deleteNamespacedConfigMap({ namespace: OPERATOR_NS, name: ROTATION_CONFIGMAP });
    const after = await eventually('the state again', () => state(), 30_000, 200);
    assert.equal(after.phase, 'Active');
    assert.equal(after.newRootFingerprint, active.newRootFingerprint);
    const generated = (await core.listNamespacedSecret({ namespace: OPERATOR_NS, labelSelector: 'app.kubernetes.io/created-by=mtls-operator' })).items
      .filter((s) => s.metadata!.name!.startsWith(`${CA}-`));
    assert.equal(generated.length, 1, 'one generated root');
    assert.ok(bundleFingerprints(text(await getSecret(ns, 'web-mtls'), 'ca.crt')).includes(fingerprintOf(newRoot)), 'the new root is still trusted');
    const events = await recentEvents();
    assert.equal(events.filter((e) => e.reason === 'RotationPrepared').length, 1);
  });

  it('an opted-in Deployment restarts when Prepared changes its trust bundle, before any leaf from the new root (20.6)', async () => {
    const ns = await cp.newNamespace('restart');
    const apps = cp.kubeConfig.makeApiClient(AppsV1Api);
    const root = await generateRootCA({ now: new Date(Date.now() - 3_600_000) });
    await createCa(root);
    await apps.createNamespacedDeployment({ namespace: ns, body: {
      metadata: { name: 'reader' },
      spec: { selector: { matchLabels: { app: 'reader' } }, template: { metadata: { labels: { app: 'reader' } }, spec: { containers: [{ name: 'c', image: 'example/reader:1' }] } } },
    } });
    await start(ns, { allowWorkloadRestart: true, propagationDelayMs: 8000 });
    await putIdentity(ns, 'reader', { duration: '2h', restartWorkloads: [{ kind: 'Deployment', name: 'reader' }] });
    const first = await eventually('Secret reader-mtls', () => getSecret(ns, 'reader-mtls'), 60_000, 200);
    const serial = new X509Certificate(text(first, 'tls.crt')).serialNumber.toLowerCase();
    const template = async () => (await apps.readNamespacedDeployment({ namespace: ns, name: 'reader' })).spec!.template.metadata!.annotations ?? {};
    assert.deepEqual(await template(), {}, 'the first certificate restarts nothing');
    await core.patchNamespacedSecret({ namespace: OPERATOR_NS, name: CA, body: { metadata: { annotations: { [ANNOTATION_ROTATE_TO]: 'generate' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    const twoRoots = await eventually('the bundle with both roots', async () => {
      const x = await getSecret(ns, 'reader-mtls');
      return x && bundleFingerprints(text(x, 'ca.crt')).length === 2 && x;
    }, 60_000, 100);
    const restarted = await eventually('the Deployment restarted for the new bundle', async () => {
      const a = await template();
      return a['mtls.dev/trust-bundle-hash'] === trustBundleHash(text(twoRoots, 'ca.crt')) && a;
    }, 30_000, 100);
    assert.equal(restarted['mtls.dev/certificate-hash'], serial, 'restarted while the leaf is still the first one');
    const r = (await state())!;
    assert.equal(r.phase, 'Prepared', 'the restart came in Prepared, before the new CA signs');
    await eventually('the new leaf restarts it once more', async () => {
      const leaf = new X509Certificate(text(await getSecret(ns, 'reader-mtls'), 'tls.crt')).serialNumber.toLowerCase();
      return leaf !== serial && (await template())['mtls.dev/certificate-hash'] === leaf;
    }, 60_000, 200);
  });
});
