/**
 * A staged root rotation with the operator killed after every write it makes (issue 20, "done
 * when"): each operator process makes exactly one write to the cluster, then dies (its later
 * writes fail, it is stopped) and a fresh one starts from what is in the cluster. At the instant
 * of every write, every live leaf's issuer root must be in every trust bundle that might verify
 * it (every issued Secret's ca.crt and every mtls-trust-bundle ConfigMap), and the rotation must
 * still run once, to the end.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { setImmediate as tick } from 'node:timers/promises';
import { CA_CRT, TLS_CRT, TRUST_BUNDLE_CONFIGMAP } from '../../src/api/types.ts';
import { MemoryCluster } from '../../src/cluster/memory.ts';
import { Controller } from '../../src/controller/controller.ts';
import { unb64 } from '../../src/controller/secret.ts';
import { bundleFingerprints, fingerprintOf, generateRootCA } from '../../src/pki/index.ts';
import { silentLogger } from '../../src/log.ts';
import { caSecret, CA_NAME, CA_NS } from '../support/harness.ts';
import { FakeTime } from '../support/fake-time.ts';
import { ANNOTATION_ROTATE_TO, ROTATION_CONFIGMAP } from '../../src/controller/ca-source.ts';
import { rotationFromData } from '../../src/decide/rotation.ts';

const WRITES = new Set(['applySecret', 'createSecret', 'patchIdentityStatus', 'patchSecretAnnotations', 'applyConfigMap', 'writeConfigMap', 'deleteConfigMap', 'patchWorkloadTemplate']);

/** The cluster as one operator process sees it: after its first write, every write fails. */
function operatorProcess(inner: MemoryCluster, onWrite: (what: string) => void): { cluster: MemoryCluster; dead: () => boolean } {
  let dead = false;
  const cluster = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === 'stop') return async () => undefined; // the next process owns the watches now
      if (typeof prop === 'string' && WRITES.has(prop)) {
        return async (...args: unknown[]) => {
          if (dead) throw new Error('killed');
          const result = await value.apply(target, args);
          dead = true;
          onWrite(`${prop} ${JSON.stringify((args[0] as { metadata?: { name?: string } })?.metadata?.name ?? args.slice(0, 2))}`);
          return result;
        };
      }
      return value.bind(target);
    },
  });
  return { cluster, dead: () => dead };
}

describe('root rotation: the operator killed after every write', () => {
  it('every live leaf\'s issuer root is in every bundle at every instant, and the rotation runs once to Retired', async function () {
    this.timeout(600_000);
    const time = new FakeTime();
    const inner = new MemoryCluster({ caNamespace: CA_NS, caName: CA_NAME });
    const oldRoot = await generateRootCA({ now: new Date(time.now() - 86_400_000) });
    inner.putSecret(caSecret(oldRoot));
    const roots = new Map<string, X509Certificate>([[fingerprintOf(new X509Certificate(oldRoot.certPem)), new X509Certificate(oldRoot.certPem)]]);
    let checks = 0;
    const violations: string[] = [];
    const log: string[] = [];

    const check = (what: string) => {
      log.push(`${new Date(time.now()).toISOString()} ${what}`); if (process.env.CRASH_DEBUG) console.log(log.at(-1));
      if (log.length > 400) throw new Error(`no end in sight; the last writes:\n${log.slice(-30).join('\n')}`);
      // Roots known so far: the old one and any generated one.
      for (const s of inner.secrets.values()) {
        if (s.metadata.namespace === CA_NS && s.metadata.name.startsWith(`${CA_NAME}-`)) {
          const c = new X509Certificate(unb64(s.data![TLS_CRT])!);
          roots.set(fingerprintOf(c), c);
        }
      }
      const bundles: Array<[string, string[]]> = [];
      for (const s of inner.listSecrets()) bundles.push([`Secret ${s.metadata.namespace}/${s.metadata.name}`, bundleFingerprints(unb64(s.data?.[CA_CRT]) ?? '')]);
      for (const cm of inner.listConfigMaps()) if (cm.metadata.name === TRUST_BUNDLE_CONFIGMAP) bundles.push([`ConfigMap ${cm.metadata.namespace}`, bundleFingerprints(cm.data?.[CA_CRT] ?? '')]);
      for (const s of inner.storedSecrets()) {
        const leaf = new X509Certificate(unb64(s.data![TLS_CRT])!);
        if (time.now() >= leaf.validToDate.getTime()) continue; // expired: verifies nothing
        const issuer = [...roots.entries()].find(([, r]) => leaf.checkIssued(r) && leaf.verify(r.publicKey));
        if (!issuer) {
          violations.push(`after ${what}: the leaf of ${s.metadata.name} has no known root`);
          continue;
        }
        for (const [where, fps] of bundles) {
          if (!fps.includes(issuer[0])) violations.push(`after ${what}: ${where} does not trust the root of ${s.metadata.namespace}/${s.metadata.name}'s leaf (${issuer[0].slice(0, 12)})`);
        }
      }
      checks++;
    };

    let current: { controller: Controller; dead: () => boolean } | undefined;
    let processes = 0;
    const boot = async () => {
      const p = operatorProcess(inner, check);
      const controller = new Controller({
        cluster: p.cluster, clock: time, timers: time, logger: silentLogger(),
        config: {
          trustDomain: 'cluster.local', operatorNamespace: CA_NS, caSecretName: CA_NAME, bootstrapCA: false, workers: 2,
          baseBackoffMs: 1000, maxBackoffMs: 10_000, propagationDelayMs: 60_000, skewMs: 300_000, checkIntervalMs: 10_000, reissuePerSecond: 1000,
        },
      });
      processes++;
      current = { controller, dead: p.dead };
      await controller.start();
    };
    /** Run until idle, replacing each process as soon as it has written once. */
    const settle = async () => {
      for (let quiet = 0; quiet < 3;) {
        await tick();
        if (current!.dead()) {
          await current!.controller.stop(1000);
          await boot();
          quiet = 0;
          continue;
        }
        const q = current!.controller.queue;
        if (q.length > 0 || q.inFlight > 0) {
          quiet = 0;
          await new Promise((r) => setTimeout(r, 1));
        } else quiet++;
      }
    };
    const phase = () => rotationFromData(inner.getConfigMap(CA_NS, ROTATION_CONFIGMAP)?.data)?.phase;

    await boot();
    for (const [name, ns, duration] of [['web', 'dev', '1h'], ['api', 'dev', '2h'], ['db', 'other', '1h']] as const) {
      inner.applyIdentity({ metadata: { name, namespace: ns }, spec: { duration } });
    }
    await settle();
    const ca = structuredClone(inner.secrets.get(`${CA_NS}/${CA_NAME}`)!);
    ca.metadata.annotations = { ...ca.metadata.annotations, [ANNOTATION_ROTATE_TO]: 'generate' };
    inner.putSecret(ca);
    await settle();
    for (let i = 0; i < 2000 && phase() !== 'Retired'; i++) {
      time.advance(10_000);
      await settle();
    }
    for (let i = 0; i < 10; i++) {
      time.advance(10_000);
      await settle();
    }
    await current!.controller.stop(1000);

    assert.deepEqual(violations.slice(0, 10), [], `${violations.length} moments where a live leaf was not trusted everywhere`);
    assert.equal(phase(), 'Retired');
    assert.equal(inner.events.filter((e) => e.reason === 'RotationPrepared').length, 1, 'one rotation, however often the operator died');
    assert.equal([...inner.secrets.keys()].filter((k) => k.startsWith(`${CA_NS}/${CA_NAME}-`)).length, 1, 'one generated root');
    const newFp = rotationFromData(inner.getConfigMap(CA_NS, ROTATION_CONFIGMAP)!.data)!.newRootFingerprint;
    for (const s of inner.listSecrets()) assert.deepEqual(bundleFingerprints(unb64(s.data![CA_CRT])!), [newFp]);
    assert.equal(inner.secrets.get(`${CA_NS}/${CA_NAME}`)!.metadata.annotations?.[ANNOTATION_ROTATE_TO], undefined, 'the request was cleared');
    assert.ok(checks >= 20 && processes >= checks - 1, `the operator died after each of ${checks} writes (${processes} processes)`);
  });
});
