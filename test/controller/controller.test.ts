import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import {
  ANNOTATION_SERIAL,
  ANNOTATION_SPIFFE_ID,
  CA_CRT,
  LABEL_IDENTITY,
  LABEL_MANAGED_BY,
  TLS_CRT,
  TLS_KEY,
  type MutualTLSIdentity,
} from '../../src/api/types.ts';
import { b64, unb64 } from '../../src/controller/secret.ts';
import { ClusterError, NAMESPACE_TERMINATING } from '../../src/cluster/port.ts';
import { generateKey, generateRootCA, issueLeaf, loadSigningCA } from '../../src/pki/index.ts';
import { caSecret, CA_NAME, CA_NS, startHarness, type Harness } from '../support/harness.ts';

const H = 3_600_000;

function ready(h: Harness, name: string, ns = 'dev') {
  const id = h.cluster.identities.get(`${ns}/${name}`) as MutualTLSIdentity;
  return id.status?.conditions?.find((c) => c.type === 'Ready');
}
function secretWrites(h: Harness): number {
  return h.cluster.writesOf('applySecret') + h.cluster.writesOf('createSecret');
}
function status(h: Harness, name: string, ns = 'dev') {
  return h.cluster.identities.get(`${ns}/${name}`)!.status!;
}

describe('controller over the in-memory cluster', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it('an identity with a 253-character name gets its Secret (the identity label holds a prefix and a hash)', async () => {
    h = await startHarness();
    const name = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    h.identity(name, { secretName: 'long-mtls' });
    await h.settle();
    const s = h.secret('long-mtls')!;
    assert.ok(s, 'Secret long-mtls exists');
    assert.equal(s.metadata.labels![LABEL_IDENTITY]!.length, 63);
    assert.equal(ready(h, name)!.status, 'True');
    // A change to the Secret reaches its identity through the ownerReference: a deleted Secret is re-issued.
    const serial = h.leaf('long-mtls')!.serialNumber;
    h.cluster.deleteSecret('dev', 'long-mtls');
    await h.settle();
    assert.ok(h.secret('long-mtls'), 're-issued after deletion');
    assert.notEqual(h.leaf('long-mtls')!.serialNumber, serial);
  });

  it('creates a kubernetes.io/tls Secret and marks the identity Ready, in two writes', async () => {
    h = await startHarness();
    h.identity('web', { dnsNames: ['web', 'web.dev.svc'] });
    await h.settle();
    const s = h.secret('web-mtls')!;
    assert.ok(s, 'Secret web-mtls exists');
    assert.equal(s.type, 'kubernetes.io/tls');
    assert.deepEqual(Object.keys(s.data!).sort(), [CA_CRT, TLS_CRT, TLS_KEY]);
    const id = h.cluster.identities.get('dev/web')!;
    assert.deepEqual(s.metadata.ownerReferences, [
      { apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity', name: 'web', uid: id.metadata.uid, controller: true, blockOwnerDeletion: true },
    ]);
    assert.equal(s.metadata.labels![LABEL_MANAGED_BY], 'mtls-operator');
    assert.equal(s.metadata.labels![LABEL_IDENTITY], 'web');
    assert.equal(s.metadata.annotations![ANNOTATION_SPIFFE_ID], 'spiffe://cluster.local/ns/dev/sa/default');
    const leaf = h.leaf('web-mtls')!;
    assert.equal(s.metadata.annotations![ANNOTATION_SERIAL], leaf.serialNumber.toLowerCase());
    assert.match(leaf.subjectAltName!, /URI:spiffe:\/\/cluster\.local\/ns\/dev\/sa\/default/);
    assert.match(leaf.subjectAltName!, /DNS:web\.dev\.svc/);
    assert.ok(leaf.checkPrivateKey(createPrivateKey(unb64(s.data![TLS_KEY])!)), 'tls.key matches tls.crt');
    assert.ok(leaf.verify(new X509Certificate(h.root.certPem).publicKey), 'signed by the root');
    assert.equal(unb64(s.data![CA_CRT]), h.root.bundlePem ?? h.root.certPem);
    const r = ready(h, 'web')!;
    assert.equal(r.status, 'True');
    assert.equal(r.observedGeneration, 1);
    const st = status(h, 'web');
    assert.equal(st.serialNumber, leaf.serialNumber.toLowerCase());
    assert.equal(st.spiffeID, 'spiffe://cluster.local/ns/dev/sa/default');
    assert.equal(st.secretName, 'web-mtls');
    assert.equal(st.revision, 1);
    assert.equal(st.notAfter, new Date(leaf.validTo).toISOString());
    assert.equal(h.cluster.writesOf('applySecret'), 1, 'one Secret write: key, chain and bundle together');
    assert.equal(h.cluster.writesOf('patchStatus'), 1);
    assert.equal(h.cluster.writesOf('createConfigMap'), 1, "and the namespace's trust bundle ConfigMap (created: never one someone else made)");
    assert.equal(h.cluster.writesOf('writeConfigMap'), 1, 'the CA in use, recorded once in the rotation state');
    assert.equal(h.cluster.writesOf(), 4);
    assert.deepEqual(h.cluster.events.map((e) => e.reason), ['Issued']);
  });

  it('renews at the renewal time, not before', async () => {
    h = await startHarness();
    h.identity('web', { duration: '24h' });
    await h.settle();
    const first = h.leaf('web-mtls')!;
    const renewAt = new Date(status(h, 'web').renewalTime!).getTime();
    assert.equal(renewAt, new Date(first.validTo).getTime() - 8 * H, 'one third of 24h before notAfter');
    await h.advance(renewAt - h.time.now() - 1000);
    assert.equal(h.leaf('web-mtls')!.serialNumber, first.serialNumber, 'no renewal before time');
    await h.advance(2000);
    const second = h.leaf('web-mtls')!;
    assert.notEqual(second.serialNumber, first.serialNumber);
    assert.equal(status(h, 'web').revision, 2);
    assert.equal(h.cluster.events.at(-1)!.reason, 'Renewed');
    assert.equal(status(h, 'web').conditions!.find((c) => c.type === 'Issuing')!.reason, 'RenewalTimeReached');
  });

  it('re-creates a Secret deleted by hand', async () => {
    h = await startHarness();
    h.identity('web');
    await h.settle();
    const first = h.leaf('web-mtls')!;
    h.cluster.deleteSecret('dev', 'web-mtls');
    await h.settle();
    assert.ok(h.secret('web-mtls'));
    assert.notEqual(h.leaf('web-mtls')!.serialNumber, first.serialNumber);
    assert.equal(status(h, 'web').conditions!.find((c) => c.type === 'Issuing')!.reason, 'SecretMissing');
  });

  it('re-issues when the key is swapped', async () => {
    h = await startHarness();
    h.identity('web');
    await h.settle();
    const s = structuredClone(h.secret('web-mtls')!);
    const other = await generateKey({ algorithm: 'ECDSA', size: 256 });
    const { webcrypto } = await import('node:crypto');
    const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', other.privateKey));
    s.data![TLS_KEY] = b64(`-----BEGIN PRIVATE KEY-----\n${der.toString('base64')}\n-----END PRIVATE KEY-----\n`);
    h.cluster.putSecret(s);
    await h.settle();
    const now = h.secret('web-mtls')!;
    assert.ok(h.leaf('web-mtls')!.checkPrivateKey(createPrivateKey(unb64(now.data![TLS_KEY])!)));
    assert.equal(status(h, 'web').conditions!.find((c) => c.type === 'Issuing')!.reason, 'KeyMismatch');
  });

  it('re-issues a certificate from another CA', async () => {
    h = await startHarness();
    h.identity('web');
    await h.settle();
    const rogue = await loadSigningCA(await generateRootCA({ now: new Date(h.time.now() - H) }), new Date(h.time.now()));
    const forged = await issueLeaf(rogue, { dnsNames: [], ipAddresses: [], uris: ['spiffe://cluster.local/ns/dev/sa/default'], durationMs: 24 * H, usages: ['digital signature', 'server auth', 'client auth'], key: { algorithm: 'ECDSA', size: 256 }, encoding: 'PKCS8', now: new Date(h.time.now()) });
    const s = structuredClone(h.secret('web-mtls')!);
    s.data![TLS_CRT] = b64(forged.certChainPem);
    s.data![TLS_KEY] = b64(forged.keyPem);
    h.cluster.putSecret(s);
    await h.settle();
    assert.ok(h.leaf('web-mtls')!.verify(new X509Certificate(h.root.certPem).publicKey));
    assert.equal(status(h, 'web').conditions!.find((c) => c.type === 'Issuing')!.reason, 'IncorrectIssuer');
  });

  it('re-issues when the spec changes, and only then', async () => {
    h = await startHarness();
    h.identity('web', { dnsNames: ['web'] });
    await h.settle();
    const first = h.leaf('web-mtls')!;
    h.identity('web', { dnsNames: ['web'] }); // same spec again
    await h.settle();
    assert.equal(h.leaf('web-mtls')!.serialNumber, first.serialNumber);
    h.identity('web', { dnsNames: ['web', 'web.dev'] });
    await h.settle();
    const second = h.leaf('web-mtls')!;
    assert.notEqual(second.serialNumber, first.serialNumber);
    assert.match(second.subjectAltName!, /DNS:web\.dev/);
    assert.equal(status(h, 'web').observedGeneration, 2);
    assert.equal(ready(h, 'web')!.observedGeneration, 2);
    h.identity('web', { dnsNames: ['web', 'web.dev'], privateKey: { algorithm: 'Ed25519' } });
    await h.settle();
    assert.equal(h.leaf('web-mtls')!.publicKey.asymmetricKeyType, 'ed25519');
  });

  it('a broken CA makes every identity CANotReady and touches no Secret; fixing it recovers', async () => {
    h = await startHarness();
    h.identity('a');
    h.identity('b', {}, 'other');
    await h.settle();
    const before = JSON.stringify([h.secret('a-mtls'), h.secret('b-mtls', 'other')]);
    const applies = secretWrites(h);
    const broken = caSecret(h.root);
    broken.data![TLS_CRT] = b64('-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n');
    h.cluster.putSecret(broken);
    await h.settle();
    for (const [name, ns] of [['a', 'dev'], ['b', 'other']] as const) {
      const r = ready(h, name, ns)!;
      assert.equal(r.status, 'False');
      assert.equal(r.reason, 'CANotReady');
      assert.match(r.message, /mtls-system\/mtls-root-ca/);
    }
    assert.equal(JSON.stringify([h.secret('a-mtls'), h.secret('b-mtls', 'other')]), before, 'Secrets untouched');
    assert.equal(secretWrites(h), applies);
    assert.ok(h.cluster.events.some((e) => e.type === 'Warning' && e.reason === 'CANotReady'));
    h.cluster.putSecret(caSecret(h.root));
    await h.settle();
    assert.equal(ready(h, 'a')!.status, 'True');
    assert.equal(ready(h, 'b', 'other')!.status, 'True');
    assert.equal(secretWrites(h), applies, 'same CA back: the old certificates are still good');
  });

  it('restarting over valid identities writes nothing', async () => {
    h = await startHarness();
    for (let i = 0; i < 5; i++) h.identity(`id${i}`, { dnsNames: [`id${i}`] });
    await h.settle();
    const writes = h.cluster.writesOf();
    await h.stop();
    h = await startHarness({ time: h.time, cluster: h.cluster, root: h.root });
    await h.settle();
    assert.equal(h.cluster.writesOf(), writes, 'zero writes after restart');
  });

  it('an invalid spec gets InvalidSpec and does not affect other identities', async () => {
    h = await startHarness();
    h.identity('bad', { duration: '90d' });
    h.identity('good');
    await h.settle();
    const r = ready(h, 'bad')!;
    assert.equal(r.status, 'False');
    assert.equal(r.reason, 'InvalidSpec');
    assert.match(r.message, /duration/);
    assert.equal(h.secret('bad-mtls'), undefined);
    assert.equal(ready(h, 'good')!.status, 'True');
  });

  it('a failed write retries with backoff and records the failure', async () => {
    h = await startHarness();
    h.cluster.failNext('applySecret', new Error('apiserver unavailable'));
    h.identity('web');
    await h.settle();
    assert.equal(h.secret('web-mtls'), undefined);
    const st = status(h, 'web');
    assert.equal(st.failedIssuanceAttempts, 1);
    assert.ok(st.lastFailureTime);
    assert.equal(ready(h, 'web')!.reason, 'IssuanceFailed');
    assert.ok(h.cluster.events.some((e) => e.reason === 'IssuanceFailed'));
    await h.advance(1000);
    assert.ok(h.secret('web-mtls'));
    assert.equal(ready(h, 'web')!.status, 'True');
    assert.equal(status(h, 'web').failedIssuanceAttempts, 0);
  });

  it('a write refused because the namespace is being deleted (403 NamespaceTerminating): no Warning, no failure status, no retry', async () => {
    h = await startHarness();
    h.cluster.failNext('applySecret', new ClusterError(403, NAMESPACE_TERMINATING, 'PATCH secrets/dev/web-mtls: 403 Forbidden: unable to create new content in namespace dev because it is being terminated'));
    h.identity('web');
    await h.settle();
    assert.equal(h.secret('web-mtls'), undefined);
    assert.ok(!h.cluster.events.some((e) => e.type === 'Warning'), JSON.stringify(h.cluster.events));
    assert.equal(h.cluster.identities.get('dev/web')!.status?.failedIssuanceAttempts ?? 0, 0, 'no failure status');
    assert.notEqual(ready(h, 'web')?.reason, 'IssuanceFailed');
    await h.advance(10 * 60_000); // any backoff would have retried (and written) by now
    assert.equal(h.secret('web-mtls'), undefined, 'not retried');
  });

  it('a 403 that is a permission (Forbidden) is still a failure, retried', async () => {
    h = await startHarness();
    h.cluster.failNext('applySecret', new ClusterError(403, 'Forbidden', 'PATCH secrets/dev/web-mtls: 403 Forbidden: User "x" cannot patch resource "secrets"'));
    h.identity('web');
    await h.settle();
    assert.ok(h.cluster.events.some((e) => e.reason === 'IssuanceFailed'));
    await h.advance(1000);
    assert.ok(h.secret('web-mtls'));
  });

  it('bootstraps a root CA when the Secret is absent and bootstrap is on', async () => {
    h = await startHarness({ root: null, config: { bootstrapCA: true } });
    const s = h.cluster.secrets.get(`${CA_NS}/${CA_NAME}`)!;
    assert.ok(s, 'CA Secret created');
    const root = new X509Certificate(unb64(s.data![TLS_CRT])!);
    assert.ok(root.ca);
    h.identity('web');
    await h.settle();
    assert.ok(h.leaf('web-mtls')!.verify(root.publicKey));
  });

  it('without a CA and without bootstrap: CANotReady naming the Secret', async () => {
    h = await startHarness({ root: null });
    h.identity('web');
    await h.settle();
    assert.equal(ready(h, 'web')!.reason, 'CANotReady');
    assert.match(ready(h, 'web')!.message, /does not exist/);
  });

  it('refuses to write a Secret it does not own', async () => {
    h = await startHarness();
    h.cluster.putSecret({ metadata: { name: 'web-mtls', namespace: 'dev' }, type: 'Opaque', data: { password: b64('hunter2') } });
    h.identity('web');
    await h.settle();
    assert.equal(ready(h, 'web')!.reason, 'SecretConflict');
    assert.deepEqual(Object.keys(h.secret('web-mtls')!.data!), ['password']);
    assert.equal(secretWrites(h), 0);
  });

  it('a manual renewal request re-issues once', async () => {
    h = await startHarness();
    h.identity('web');
    await h.settle();
    const first = h.leaf('web-mtls')!.serialNumber;
    h.cluster.applyIdentity({ metadata: { name: 'web', namespace: 'dev', annotations: { 'mtls.dev/renew-request': '2026-11-23T12:00:00Z' } }, spec: {} });
    await h.settle();
    const second = h.leaf('web-mtls')!.serialNumber;
    assert.notEqual(second, first);
    assert.equal(status(h, 'web').conditions!.find((c) => c.type === 'Issuing')!.reason, 'ManuallyTriggered');
    await h.advance(60_000);
    assert.equal(h.leaf('web-mtls')!.serialNumber, second, 'the same request is honoured once');
  });
});

describe('controller: Secrets it never fights over', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it('two identities naming one Secret: the first keeps it, the second is refused, no ping-pong', async () => {
    h = await startHarness();
    h.identity('first', { secretName: 'shared' });
    await h.settle();
    const owner = h.secret('shared')!.metadata.ownerReferences![0]!.uid;
    h.identity('second', { secretName: 'shared' });
    await h.settle();
    await h.advance(3_600_000);
    assert.equal(h.secret('shared')!.metadata.ownerReferences![0]!.uid, owner);
    assert.equal(ready(h, 'first')!.status, 'True');
    const r = ready(h, 'second')!;
    assert.equal(r.reason, 'SecretConflict');
    assert.match(r.message, /dev\/shared/);
    assert.equal(secretWrites(h), 1, 'exactly one Secret write in all');
    assert.equal(h.cluster.events.filter((e) => e.reason === 'SecretConflict').length, 1, 'one Event, not one per resync');
  });

  it('never writes the operator CA Secret, whatever an identity says', async () => {
    h = await startHarness();
    const before = JSON.stringify(h.cluster.secrets.get(`${CA_NS}/${CA_NAME}`));
    h.identity('sneaky', { secretName: CA_NAME }, CA_NS);
    await h.settle();
    assert.equal(ready(h, 'sneaky', CA_NS)!.reason, 'SecretConflict');
    assert.equal(JSON.stringify(h.cluster.secrets.get(`${CA_NS}/${CA_NAME}`)), before);
  });

  it('deleting an identity removes its Secret', async () => {
    h = await startHarness();
    h.identity('web');
    await h.settle();
    assert.ok(h.secret('web-mtls'));
    h.cluster.deleteIdentity('dev', 'web');
    await h.settle();
    assert.equal(h.secret('web-mtls'), undefined);
  });

  it('a Secret changed between read and write is not overwritten blindly (resourceVersion precondition)', async () => {
    h = await startHarness();
    h.identity('web');
    await h.settle();
    const apply = h.cluster.applySecret.bind(h.cluster);
    let raced = false;
    const outcomes: number[] = [];
    h.cluster.applySecret = async (secret) => {
      if (!raced) {
        raced = true; // another writer touches the Secret after our read, before our write
        const now = structuredClone(h.cluster.secrets.get('dev/web-mtls')!);
        now.metadata.labels = { ...now.metadata.labels, touched: 'yes' };
        h.cluster.putSecret(now);
      }
      try {
        const out = await apply(secret);
        outcomes.push(200);
        return out;
      } catch (err) {
        outcomes.push((err as { code: number }).code);
        throw err;
      }
    };
    h.identity('web', { dnsNames: ['web'] });
    await h.settle();
    assert.deepEqual(outcomes, [409, 200], 'the stale write was refused, the retry read again and wrote');
    assert.match(h.leaf('web-mtls')!.subjectAltName!, /DNS:web/);
    assert.equal(h.secret('web-mtls')!.metadata.labels!.touched, 'yes', "the other writer's label survives");
    assert.equal(status(h, 'web').failedIssuanceAttempts, 0);
  });
});

describe('controller: names as written vs names in the certificate', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it('an IPv6 address written in a long form is issued once, not forever', async () => {
    h = await startHarness();
    h.identity('db', { ipAddresses: ['2001:DB8:0:0::1', '10.0.0.7'] });
    await h.settle();
    const first = h.leaf('db-mtls')!;
    assert.match(first.subjectAltName!, /IP Address:2001:DB8:0:0:0:0:0:1/i);
    await h.advance(60 * 60_000);
    assert.equal(h.leaf('db-mtls')!.serialNumber, first.serialNumber);
    assert.equal(secretWrites(h), 1);
  });
});

describe('controller: fairness to the event loop', () => {
  it('workers yield between reconciles, so a restart over many valid identities never hogs the loop', async () => {
    const h = await startHarness();
    for (let i = 0; i < 40; i++) h.identity(`id${i}`);
    await h.settle();
    await h.stop();
    let reconciled = 0;
    const fresh = await startHarness({ time: h.time, cluster: h.cluster, root: h.root, config: { workers: 2 }, observer: { reconciled: () => reconciled++ }, settle: false });
    reconciled = 0;
    await new Promise((r) => setImmediate(r));
    assert.ok(reconciled <= 4, `at most a couple of reconciles per worker per turn, saw ${reconciled}`);
    await fresh.settle();
    assert.ok(reconciled >= 40, 'and all of them run');
    assert.equal(fresh.cluster.writesOf(), 82, 'no writes beyond the first issuance (80), the bundle ConfigMap and the CA record');
    await fresh.stop();
  });
});

describe('controller: conflicts resolve by themselves', () => {
  it('a foreign Secret in the way is looked at again: once it is gone, the identity is issued', async () => {
    const h = await startHarness();
    h.cluster.putSecret({ metadata: { name: 'web-mtls', namespace: 'dev' }, type: 'Opaque', data: { password: b64('hunter2') } });
    h.identity('web');
    await h.settle();
    assert.equal(ready(h, 'web')!.reason, 'SecretConflict');
    h.cluster.deleteSecret('dev', 'web-mtls'); // not one of ours: no watch event reaches the operator
    await h.advance(5 * 60_000);
    assert.equal(ready(h, 'web')!.status, 'True');
    assert.ok(h.leaf('web-mtls'));
    await h.stop();
  });
});

describe('controller: the first write of a Secret', () => {
  it('is an apply without force: a Secret that appeared after our read is not taken over', async () => {
    const h = await startHarness();
    const apply = h.cluster.applySecret.bind(h.cluster);
    let raced = false;
    h.cluster.applySecret = async (secret, options) => {
      if (!raced) {
        raced = true; // someone creates the Secret between our read (absent) and our write
        h.cluster.putSecret({ metadata: { name: 'web-mtls', namespace: 'dev' }, type: 'Opaque', data: { 'tls.crt': b64('theirs') } });
      }
      return apply(secret, options);
    };
    h.identity('web');
    await h.settle();
    assert.ok(raced);
    assert.equal(unb64(h.secret('web-mtls')!.data!['tls.crt']), 'theirs', 'their Secret is untouched');
    assert.equal(ready(h, 'web')!.reason, 'IssuanceFailed', 'the refused write is a failed attempt');
    await h.advance(1000);
    assert.equal(ready(h, 'web')!.reason, 'SecretConflict', 'and the retry sees whose it is');
    assert.equal(unb64(h.secret('web-mtls')!.data!['tls.crt']), 'theirs');
    await h.stop();
  });
});

describe('controller: hand edits to its Secret', () => {
  it('a removed mtls.dev/identity label is put back at once (the owner is found by ownerReference)', async () => {
    const h = await startHarness();
    h.identity('web');
    await h.settle();
    const s = structuredClone(h.secret('web-mtls')!);
    delete s.metadata.labels!['mtls.dev/identity'];
    h.cluster.putSecret(s);
    await h.settle();
    assert.equal(h.secret('web-mtls')!.metadata.labels!['mtls.dev/identity'], 'web');
    await h.stop();
  });
});
