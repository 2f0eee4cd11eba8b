/**
 * Issue 12, points 4, 5 and 6, on a real kube-apiserver: the controller runs in this process on the client-node
 * adapter (KubeCluster) against the shared control plane; every object is read back from the server.
 *
 * - 12.5: two identities that both found no Secret write it at once (the race, played directly with the writer):
 *   with one field manager per identity exactly one write lands and the other is refused with 409; with the one shared
 *   manager of earlier releases the second silently replaced key and ownerReference (shown too, as the reason).
 * - 12.6: a label/annotation removed from secretTemplate leaves the Secret (server-side apply field ownership), one set
 *   by kubectl stays; after spec.secretName changes the old Secret is deleted.
 * - 12.4: a user's own mtls-trust-bundle ConfigMap is never written nor deleted; a Warning Event says so.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { ApiException, CoreV1Api, CustomObjectsApi, type CoreV1Event } from '@kubernetes/client-node';
import { KubeCluster } from '../../src/adapter/kube.ts';
import { resolveSpec } from '../../src/api/spec.ts';
import { FIELD_MANAGER, GROUP, PLURAL, TLS_CRT, TLS_KEY, TRUST_BUNDLE_CONFIGMAP, VERSION, type MutualTLSIdentity } from '../../src/api/types.ts';
import { systemClock } from '../../src/clock.ts';
import { Controller } from '../../src/controller/controller.ts';
import { buildSecret, fieldManagerFor, unb64 } from '../../src/controller/secret.ts';
import { IdentityWriter } from '../../src/controller/writer.ts';
import { silentLogger } from '../../src/log.ts';
import { generateRootCA, issueLeaf, leafRequestFor, loadSigningCA } from '../../src/pki/index.ts';
import { caSecret } from '../support/harness.ts';
import { controlPlane, type ControlPlane } from '../support/controlplane.ts';
import { eventually } from '../support/wait.ts';

const CA_NAME = 'mtls-root-ca';

describe('real apiserver: Secrets and ConfigMaps never taken from their owners (issue 12.4-12.6)', function () {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let opNs: string;
  let ns: string;
  let cluster: KubeCluster;
  let controller: Controller;

  const createIdentity = async (name: string, spec: Record<string, unknown>, namespace = ns) =>
    await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'MutualTLSIdentity', metadata: { name, namespace }, spec } }) as MutualTLSIdentity;
  const getIdentity = async (name: string, namespace = ns) =>
    await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name }) as MutualTLSIdentity;
  const patchSpec = (name: string, spec: Record<string, unknown>) =>
    cp.kubectl(['-n', ns, 'patch', 'mtls', name, '--type=merge', '-p', JSON.stringify({ spec })]);
  const readSecret = async (name: string, namespace = ns) => {
    try {
      return await core.readNamespacedSecret({ name, namespace });
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  };
  const ready = async (name: string, namespace = ns) => (await getIdentity(name, namespace)).status?.conditions?.find((c) => c.type === 'Ready');
  const events = async (namespace: string, reason: string): Promise<CoreV1Event[]> =>
    (await core.listNamespacedEvent({ namespace })).items.filter((e) => e.reason === reason);

  before(async function () {
    cp = await controlPlane(this);
    await cp.installCrd();
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    opNs = await cp.newNamespace('trust-op');
    ns = await cp.newNamespace('trust');
    const root = await generateRootCA({ now: new Date(Date.now() - 3_600_000) });
    await core.createNamespacedSecret({ namespace: opNs, body: { ...caSecret(root), metadata: { name: CA_NAME, namespace: opNs } } as never });
    cluster = new KubeCluster({ kubeConfig: cp.kubeConfig, namespaces: [ns], operatorNamespace: opNs, caSecretName: CA_NAME, logger: silentLogger() });
    controller = new Controller({
      cluster, clock: systemClock, logger: silentLogger(),
      config: { trustDomain: 'cluster.local', operatorNamespace: opNs, caSecretName: CA_NAME, bootstrapCA: false, workers: 4, baseBackoffMs: 200, maxBackoffMs: 2_000 },
    });
    await controller.start();
  });

  after(async () => {
    await controller?.stop(2_000);
    await cluster?.stop();
  });

  it('12.5: two identities that both found no Secret write it at once: one lands, the other gets 409; key, certificate and ownerReference are the winner\'s', async () => {
    const raceNs = await cp.newNamespace('race'); // not watched by the controller: only the two writes below touch it
    const a = await createIdentity('first', { secretName: 'shared', serviceAccountName: 'first' }, raceNs);
    const b = await createIdentity('second', { secretName: 'shared', serviceAccountName: 'second' }, raceNs);
    const root = await generateRootCA({ now: new Date(Date.now() - 3_600_000) });
    const ca = await loadSigningCA(root, new Date());
    const secretFor = async (id: MutualTLSIdentity) => {
      const spec = resolveSpec(id, { trustDomain: 'cluster.local' });
      const issued = await issueLeaf(ca, leafRequestFor(spec, new Date()));
      return buildSecret(id, spec, issued, { serialNumber: issued.serialNumber, notAfter: issued.notAfter, spiffeId: spec.spiffeId, caFingerprint: ca.fingerprint, specHash: 'h', revision: 1 });
    };
    const [sa, sb] = await Promise.all([secretFor(a), secretFor(b)]);
    const rawCluster = new KubeCluster({ kubeConfig: cp.kubeConfig, namespaces: [raceNs], operatorNamespace: opNs, caSecretName: CA_NAME, logger: silentLogger() });
    const writer = new IdentityWriter(rawCluster, silentLogger(), false);
    // Both saw "no Secret" (existing undefined): both make the first write, at once.
    const results = await Promise.allSettled([writer.secret(sa, undefined, fieldManagerFor(a)), writer.secret(sb, undefined, fieldManagerFor(b))]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(results.map((r) => r.status)));
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.equal((refused.reason as { code?: number }).code, 409, String(refused.reason));
    const winner = results[0]!.status === 'fulfilled' ? a : b;
    const wrote = winner === a ? sa : sb;
    const stored = (await readSecret('shared', raceNs))!;
    assert.equal(stored.data![TLS_KEY], wrote.data![TLS_KEY], 'the winner\'s key');
    assert.equal(stored.data![TLS_CRT], wrote.data![TLS_CRT]);
    assert.deepEqual(stored.metadata!.ownerReferences!.map((r) => r.uid), [winner.metadata.uid]);
    assert.match(new X509Certificate(unb64(stored.data![TLS_CRT])!).subjectAltName!, new RegExp(`/sa/${winner.metadata.name}$`));
    assert.deepEqual(stored.metadata!.managedFields!.map((m) => m.manager), [fieldManagerFor(winner)]);

    // Why: with the one manager earlier releases shared, the same second write is accepted and takes the Secret.
    const loser = winner === a ? sb : sa;
    await rawCluster.applySecret({ ...wrote, metadata: { ...wrote.metadata, name: 'shared-old' } }, { force: false, fieldManager: FIELD_MANAGER });
    await rawCluster.applySecret({ ...loser, metadata: { ...loser.metadata, name: 'shared-old' } }, { force: false, fieldManager: FIELD_MANAGER });
    const taken = (await readSecret('shared-old', raceNs))!;
    assert.equal(taken.data![TLS_KEY], loser.data![TLS_KEY], 'shared manager: the second write replaced the key');
    assert.deepEqual(taken.metadata!.ownerReferences!.map((r) => r.uid), [loser.metadata.ownerReferences![0]!.uid], 'and the first owner is gone');
  });

  it('12.5: through the controller, the loser of a Secret is SecretConflict and the winner stays Ready', async () => {
    await createIdentity('one', { secretName: 'both', serviceAccountName: 'one' });
    await createIdentity('two', { secretName: 'both', serviceAccountName: 'two' });
    const reasons = await eventually('both identities settled', async () => {
      const r = [await ready('one'), await ready('two')].map((c) => c?.reason);
      return r.includes('Ready') && r.includes('SecretConflict') ? r : undefined;
    }, 60_000, 250);
    const winner = reasons[0] === 'Ready' ? 'one' : 'two';
    const s = (await readSecret('both'))!;
    assert.match(new X509Certificate(unb64(s.data![TLS_CRT])!).subjectAltName!, new RegExp(`/sa/${winner}$`));
    assert.equal(s.metadata!.ownerReferences!.length, 1);
  });

  it('12.6: labels and annotations removed from secretTemplate leave the Secret; a label kubectl set stays; no re-issue', async () => {
    await createIdentity('tmpl', { secretTemplate: { labels: { team: 'a', tier: 'gold' }, annotations: { note: 'x', keep: 'y' } } });
    await eventually('the Secret with the template', async () => (await readSecret('tmpl-mtls'))?.metadata?.labels?.tier === 'gold', 60_000, 250);
    const label = await cp.kubectl(['-n', ns, 'label', 'secret', 'tmpl-mtls', 'backup=yes']);
    assert.equal(label.code, 0, label.stderr);
    const serial = new X509Certificate(unb64((await readSecret('tmpl-mtls'))!.data![TLS_CRT])!).serialNumber;
    // A JSON merge patch would keep the labels it does not name: replace the whole template.
    const patched = await cp.kubectl(['-n', ns, 'patch', 'mtls', 'tmpl', '--type=json', '-p',
      JSON.stringify([{ op: 'replace', path: '/spec/secretTemplate', value: { labels: { team: 'a' }, annotations: { keep: 'y' } } }])]);
    assert.equal(patched.code, 0, patched.stderr);
    const s = await eventually('tier removed', async () => {
      const x = await readSecret('tmpl-mtls');
      return x?.metadata?.labels?.tier === undefined && x?.metadata?.annotations?.note === undefined ? x : undefined;
    }, 60_000, 250);
    assert.equal(s.metadata!.labels!.team, 'a');
    assert.equal(s.metadata!.labels!.backup, 'yes', 'not ours to remove');
    assert.equal(s.metadata!.annotations!.keep, 'y');
    assert.equal(new X509Certificate(unb64(s.data![TLS_CRT])!).serialNumber, serial, 'a template change re-issues nothing');
  });

  it('12.6: after spec.secretName changes, the new Secret is written and the old one deleted', async () => {
    await createIdentity('mover', {});
    await eventually('the first Secret', () => readSecret('mover-mtls'), 60_000, 250);
    const patched = await patchSpec('mover', { secretName: 'mover-tls' });
    assert.equal(patched.code, 0, patched.stderr);
    await eventually('the new Secret', () => readSecret('mover-tls'), 60_000, 250);
    await eventually('the old Secret deleted', async () => (await readSecret('mover-mtls')) === undefined, 60_000, 250);
    assert.equal((await getIdentity('mover')).status?.secretName, 'mover-tls');
  });

  it('12.4: a user\'s own mtls-trust-bundle ConfigMap is never written nor deleted; the identities get a TrustBundleConflict Warning', async () => {
    const userNs = await cp.newNamespace('trust-user');
    const created = await cp.kubectl(['-n', userNs, 'create', 'configmap', TRUST_BUNDLE_CONFIGMAP, '--from-literal=ca.crt=my own bundle']);
    assert.equal(created.code, 0, created.stderr);
    const before = await core.readNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace: userNs });
    // A controller that serves this namespace.
    const c2 = new KubeCluster({ kubeConfig: cp.kubeConfig, namespaces: [userNs], operatorNamespace: opNs, caSecretName: CA_NAME, logger: silentLogger() });
    const ctl2 = new Controller({
      cluster: c2, clock: systemClock, logger: silentLogger(),
      config: { trustDomain: 'cluster.local', operatorNamespace: opNs, caSecretName: CA_NAME, bootstrapCA: false, workers: 2, baseBackoffMs: 200, maxBackoffMs: 2_000 },
    });
    await ctl2.start();
    try {
      await createIdentity('web', { dnsNames: [`web.${userNs}.svc`] }, userNs);
      await eventually('the identity Ready', async () => (await ready('web', userNs))?.reason === 'Ready', 60_000, 250);
      const ev = await eventually('a TrustBundleConflict Event', async () => {
        const e = await events(userNs, 'TrustBundleConflict');
        return e.length > 0 ? e : undefined;
      }, 30_000, 250);
      assert.equal(ev[0]!.type, 'Warning');
      assert.equal(ev[0]!.involvedObject.name, 'web');
      assert.match(ev[0]!.message!, /was not created by mtls-operator: it is left untouched/);
      let now = await core.readNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace: userNs });
      assert.equal(now.metadata!.resourceVersion, before.metadata!.resourceVersion, 'not written');
      assert.deepEqual(now.data, { 'ca.crt': 'my own bundle' });
      assert.deepEqual(ctl2.bundles.conflicted().has(userNs), true);
      // The last identity goes: the ConfigMap stays.
      await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: userNs, name: 'web' });
      await eventually('the identity gone from the cache', () => c2.getIdentity(userNs, 'web') === undefined, 30_000, 100);
      await ctl2.idle(50);
      now = await core.readNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace: userNs });
      assert.equal(now.metadata!.resourceVersion, before.metadata!.resourceVersion, 'not deleted, not written');
    } finally {
      await ctl2.stop(2_000);
      await c2.stop();
    }
  });

  it('12.4: the operator\'s own bundle ConfigMap is created (a create, not an apply over someone\'s) and kept', async () => {
    await createIdentity('bundle-owner', {});
    const cm = await eventually('our bundle ConfigMap', async () => {
      try {
        return await core.readNamespacedConfigMap({ name: TRUST_BUNDLE_CONFIGMAP, namespace: ns });
      } catch {
        return undefined;
      }
    }, 60_000, 250);
    assert.equal(cm.metadata!.labels!['app.kubernetes.io/managed-by'], 'mtls-operator');
    assert.ok(cm.metadata!.managedFields!.some((m) => m.manager === FIELD_MANAGER && m.operation === 'Update'), 'created by POST');
  });
});
