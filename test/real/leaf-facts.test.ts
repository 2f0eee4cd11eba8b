/**
 * Issue 11 on a real kube-apiserver: once the controller knows the facts of an issued Secret's version, the adapter's
 * cache drops its tls.crt and tls.key. What the server holds is unchanged; a Secret edited by hand (a new version,
 * delivered whole by the watch) is healed; a new trust bundle rewrites each Secret with its own key pair, read back
 * whole from the server; a restarted operator inspects every Secret again and writes nothing.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { ApiException, CoreV1Api, CustomObjectsApi, type V1Secret } from '@kubernetes/client-node';
import { KubeCluster } from '../../src/adapter/kube.ts';
import { CA_CRT, GROUP, PLURAL, TLS_CRT, TLS_KEY, VERSION, type MutualTLSIdentity } from '../../src/api/types.ts';
import { systemClock } from '../../src/clock.ts';
import { Controller } from '../../src/controller/controller.ts';
import { factsCount, knownFacts, leafParses } from '../../src/controller/leaf-facts.ts';
import { b64, unb64 } from '../../src/controller/secret.ts';
import { silentLogger } from '../../src/log.ts';
import { generateRootCA } from '../../src/pki/index.ts';
import type { CAMaterial } from '../../src/pki/types.ts';
import { caSecret } from '../support/harness.ts';
import { controlPlane, type ControlPlane } from '../support/controlplane.ts';
import { eventually } from '../support/wait.ts';

const CA_NAME = 'mtls-root-ca';
const NAMES = ['web', 'api', 'db'];

describe('real apiserver: issued Secrets cached without their key pair once inspected (issue 11)', function () {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let opNs: string;
  let ns: string;
  let root: CAMaterial;
  let op: { cluster: KubeCluster; controller: Controller } | undefined;

  const start = async () => {
    const cluster = new KubeCluster({ kubeConfig: cp.kubeConfig, namespaces: [ns], operatorNamespace: opNs, caSecretName: CA_NAME, logger: silentLogger() });
    const controller = new Controller({
      cluster, clock: systemClock, logger: silentLogger(),
      config: { trustDomain: 'cluster.local', operatorNamespace: opNs, caSecretName: CA_NAME, bootstrapCA: false, workers: 4, baseBackoffMs: 200, maxBackoffMs: 2_000 },
    });
    await controller.start();
    op = { cluster, controller };
  };
  const stop = async () => {
    await op?.controller.stop(2_000);
    await op?.cluster.stop();
    op = undefined;
  };
  const stored = async (name: string): Promise<V1Secret | undefined> => {
    try {
      return await core.readNamespacedSecret({ name: `${name}-mtls`, namespace: ns });
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  };
  const ready = async (name: string) =>
    ((await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns, name })) as MutualTLSIdentity)
      .status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  const cached = (name: string) => op!.cluster.getSecret(ns, `${name}-mtls`);
  const serial = (s: V1Secret | undefined) => new X509Certificate(unb64(s!.data![TLS_CRT])!).serialNumber;

  before(async function () {
    cp = await controlPlane(this);
    await cp.installCrd();
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    opNs = await cp.newNamespace('facts-op');
    ns = await cp.newNamespace('facts');
    root = await generateRootCA({ now: new Date(Date.now() - 3_600_000) });
    await core.createNamespacedSecret({ namespace: opNs, body: { ...caSecret(root), metadata: { name: CA_NAME, namespace: opNs } } as never });
    await start();
    for (const name of NAMES) {
      await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns, body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'MutualTLSIdentity', metadata: { name, namespace: ns }, spec: { serviceAccountName: name } } });
    }
    for (const name of NAMES) await eventually(`${name} Ready`, () => ready(name), 30_000);
  });

  after(async () => {
    await stop();
  });

  it('the cache holds no key pair of an issued Secret; the server holds it whole', async () => {
    for (const name of NAMES) {
      const c = await eventually(`${name}: the key pair dropped from the cache`, async () => {
        const s = await cached(name);
        return s && s.data?.[TLS_KEY] === undefined && s;
      });
      assert.equal(c.data?.[TLS_CRT], undefined);
      assert.equal(unb64(c.data?.[CA_CRT]), root.certPem, 'the bundle stays in the cache');
      const s = (await stored(name))!;
      assert.equal(s.metadata!.resourceVersion, c.metadata.resourceVersion, 'the same version');
      assert.ok(createPrivateKey(unb64(s.data![TLS_KEY])!), 'the server holds the key');
      assert.ok(new X509Certificate(unb64(s.data![TLS_CRT])!).checkPrivateKey(createPrivateKey(unb64(s.data![TLS_KEY])!)));
    }
  });

  it('a tls.key replaced by hand arrives whole through the watch and is healed (re-issued)', async () => {
    const before = serial(await stored('web'));
    const foreign = (await generateRootCA({ now: new Date() })).keyPem;
    const r = await cp.kubectl(['-n', ns, 'patch', 'secret', 'web-mtls', '--type=merge', '-p', JSON.stringify({ data: { [TLS_KEY]: b64(foreign) } })]);
    assert.equal(r.code, 0, r.stderr);
    const healed = await eventually('web re-issued', async () => {
      const s = await stored('web');
      return s && serial(s) !== before && s;
    }, 30_000);
    assert.ok(new X509Certificate(unb64(healed.data![TLS_CRT])!).checkPrivateKey(createPrivateKey(unb64(healed.data![TLS_KEY])!)));
  });

  it('a new trust bundle rewrites each Secret with its own certificate and key, read whole from the server', async () => {
    const other = await generateRootCA({ now: new Date(Date.now() - 3_600_000) });
    const before = new Map<string, V1Secret>();
    for (const name of NAMES) before.set(name, (await stored(name))!);
    const bundle = root.certPem + other.certPem;
    const r = await cp.kubectl(['-n', opNs, 'patch', 'secret', CA_NAME, '--type=merge', '-p', JSON.stringify({ data: { [CA_CRT]: b64(bundle) } })]);
    assert.equal(r.code, 0, r.stderr);
    for (const name of NAMES) {
      const s = await eventually(`${name}: the new bundle`, async () => {
        const got = await stored(name);
        return got && unb64(got.data?.[CA_CRT]) === bundle && got;
      }, 30_000);
      assert.equal(s.data![TLS_CRT], before.get(name)!.data![TLS_CRT], `${name}: the same certificate`);
      assert.equal(s.data![TLS_KEY], before.get(name)!.data![TLS_KEY], `${name}: the same key`);
      await eventually(`${name}: dropped from the cache again`, async () => {
        const c = await cached(name);
        return c?.metadata.resourceVersion === s.metadata!.resourceVersion && c?.data?.[TLS_KEY] === undefined;
      });
    }
  });

  it('a restarted operator inspects every Secret as its list arrives (before any reconcile: the cache never holds the key pairs) and writes nothing', async () => {
    const versions = new Map<string, string>();
    for (const name of NAMES) versions.set(name, (await stored(name))!.metadata!.resourceVersion!);
    await stop();
    // The caches of a new process, synced, and no reconcile run: the facts were made on arrival.
    const lists = new KubeCluster({ kubeConfig: cp.kubeConfig, namespaces: [ns], operatorNamespace: opNs, caSecretName: CA_NAME, logger: silentLogger() });
    const idle = new Controller({
      cluster: lists, clock: systemClock, logger: silentLogger(),
      config: { trustDomain: 'cluster.local', operatorNamespace: opNs, caSecretName: CA_NAME, bootstrapCA: false, workers: 1 },
    });
    const parses = leafParses.count;
    await lists.start(idle.handlers);
    try {
      for (const name of NAMES) {
        const c = await lists.getSecret(ns, `${name}-mtls`);
        assert.equal(c?.metadata.resourceVersion, versions.get(name), `${name}: the listed version`);
        assert.equal(c?.data?.[TLS_KEY], undefined, `${name}: no key pair in the cache as listed`);
        assert.equal(c?.data?.[TLS_CRT], undefined);
        assert.ok(c?.data?.[CA_CRT], 'the bundle stays');
        const whole = await lists.wholeSecret(c!);
        assert.equal(whole?.data?.[TLS_KEY], (await stored(name))!.data![TLS_KEY], `${name}: read whole from the server on demand`);
      }
      assert.equal(factsCount(lists), NAMES.length, 'facts for each');
      assert.equal(leafParses.count - parses, NAMES.length, 'one inspection each, as listed');
      // The CA Secret was in the cache before the issued Secrets were listed: each leaf's verdict was made as it
      // arrived, and no leaf is kept for a second parse.
      const caFingerprint = new X509Certificate(root.certPem).fingerprint256;
      for (const name of NAMES) {
        const f = knownFacts(lists, `${ns}/${name}`, (await lists.getSecret(ns, `${name}-mtls`))!);
        assert.equal(f?.inspection.signedBy?.get(caFingerprint), true, `${name}: signed by the CA, known as listed`);
        assert.equal(f?.leafDer, undefined, `${name}: no leaf kept`);
      }
    } finally {
      await lists.stop();
    }
    await start();
    for (const name of NAMES) {
      await eventually(`${name}: inspected and dropped`, async () => (await cached(name))?.data?.[TLS_KEY] === undefined);
    }
    await new Promise((r) => setTimeout(r, 1_000));
    for (const name of NAMES) {
      assert.equal((await stored(name))!.metadata!.resourceVersion, versions.get(name), `${name}: not written`);
      assert.ok(await ready(name));
    }
  });
});
