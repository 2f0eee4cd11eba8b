/**
 * The assembled operator (src/main.ts as a child process: config, KubeCluster on client-node,
 * Controller, leader election, ops server) against the fake apiserver over HTTP. Each step builds
 * on the state the previous one left, as on a real cluster; a failure prints the operator's log.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OperatorProcess as Operator } from '../support/operator-process.ts';
import { eventually, sleep, within } from '../support/wait.ts';
import { FakeApiServer, type KubeObj, type RecordedRequest } from './fake-apiserver.ts';

const IDENTITIES = 'mutualtlsidentities';
const MANAGED = { 'app.kubernetes.io/managed-by': 'mtls-operator', 'mtls.dev/identity': 'web' };


const data = (o: KubeObj, key: string) => Buffer.from((o.data as Record<string, string>)[key]!, 'base64').toString('utf8');
const conditionOf = (o: KubeObj | undefined, type: string) =>
  ((o?.status as { conditions?: Array<{ type: string; status: string; reason: string; observedGeneration?: number }> } | undefined)?.conditions ?? [])
    .find((c) => c.type === type);

/** Writes by the operator that are not Events or the Lease. */
const isWrite = (r: RecordedRequest) =>
  ['POST', 'PATCH', 'PUT', 'DELETE'].includes(r.method) && !/\/(events|leases)(\/|$)/.test(r.path);

function writeKubeconfig(dir: string, api: FakeApiServer): string {
  const path = join(dir, 'kubeconfig');
  // client-node refuses a plain http:// server unless TLS verification is off.
  writeFileSync(path, [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: fake\n  cluster:\n    server: ${api.url}\n    insecure-skip-tls-verify: true`,
    `users:\n- name: tester\n  user:\n    token: ${api.token}`,
    'contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tester',
    'current-context: fake',
    '',
  ].join('\n'));
  return path;
}

describe('operator process against a fake apiserver (HTTP)', function () {
  this.timeout(60_000);
  let api: FakeApiServer;
  let dir: string;
  let kubeconfig: string;
  const operators: Operator[] = [];
  let op: Operator;
  /** With leader election (Lease GET/POST/PUT) and short timings; the rest is defaults. */
  const start = () => {
    const o = new Operator(kubeconfig, [
      '--leader-elect=true',
      '--leader-election-lease-duration=15s',
      '--leader-election-renew-deadline=10s',
      '--leader-election-retry-period=2s',
      '--shutdown-grace=5s',
    ]);
    operators.push(o);
    return o;
  };

  before(async () => {
    api = await FakeApiServer.start();
    dir = mkdtempSync(join(tmpdir(), 'mtls-integration-'));
    kubeconfig = writeKubeconfig(dir, api);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      for (const o of operators) process.stderr.write(`--- operator pid ${o.child.pid} log (last 60 lines) ---\n${o.text.split('\n').slice(-60).join('\n')}\n`);
      process.stderr.write(`--- unknown requests: ${JSON.stringify(api.unknown)}\n`);
    }
  });

  after(async () => {
    for (const o of operators) o.kill();
    await Promise.all(operators.map((o) => within(o.exited, 5_000, 'killed operator').catch(() => undefined)));
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('bootstraps the CA Secret when it is absent, and takes the Lease', async () => {
    op = start();
    const ca = await eventually('the CA Secret mtls-system/mtls-root-ca', () => api.get('secrets', 'mtls-system', 'mtls-root-ca'));
    assert.equal(ca.type, 'kubernetes.io/tls');
    const cert = new X509Certificate(data(ca, 'tls.crt'));
    assert.ok(cert.ca, 'the bootstrapped certificate is a CA');
    assert.match(data(ca, 'tls.key'), /-----BEGIN [A-Z ]*PRIVATE KEY-----/);
    const lease = await eventually('the Lease', () => api.get('leases', 'mtls-system', 'mtls-operator'));
    assert.match(String((lease.spec as { holderIdentity?: string }).holderIdentity), /_[0-9a-f]{8}$/);
    await eventually('controller started', () => op.logged('controller started'));
  });

  it('issues a kubernetes.io/tls Secret for an identity, reports Ready=True via /status, writes the trust bundle', async () => {
    const created = api.putCustom(IDENTITIES, 'dev', 'web', { secretName: 'web-mtls', serviceAccountName: 'web', dnsNames: ['web.dev.svc'] });
    const secret = await eventually('Secret dev/web-mtls', () => api.get('secrets', 'dev', 'web-mtls'));
    assert.equal(secret.type, 'kubernetes.io/tls');
    assert.deepEqual(Object.keys(secret.data as object).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
    for (const [k, v] of Object.entries(MANAGED)) assert.equal(secret.metadata.labels?.[k], v, `label ${k}`);
    assert.deepEqual(secret.metadata.ownerReferences, [{
      apiVersion: 'mtls.dev/v1alpha1', kind: 'MutualTLSIdentity', name: 'web', uid: created.metadata.uid, controller: true, blockOwnerDeletion: true,
    }]);

    const leaf = new X509Certificate(data(secret, 'tls.crt'));
    const ca = new X509Certificate(data(secret, 'ca.crt'));
    assert.ok(leaf.verify(ca.publicKey), 'the leaf is signed by ca.crt');
    assert.ok(leaf.checkIssued(ca));
    assert.match(leaf.subjectAltName ?? '', /URI:spiffe:\/\/cluster\.local\/ns\/dev\/sa\/web/);
    assert.match(leaf.subjectAltName ?? '', /DNS:web\.dev\.svc/);
    assert.equal(ca.fingerprint256, new X509Certificate(data(api.get('secrets', 'mtls-system', 'mtls-root-ca')!, 'tls.crt')).fingerprint256);

    const ready = await eventually('web Ready=True', () => {
      const c = conditionOf(api.get(IDENTITIES, 'dev', 'web'), 'Ready');
      return c?.status === 'True' && c;
    });
    assert.equal(ready.observedGeneration, 1);
    const web = api.get(IDENTITIES, 'dev', 'web')!;
    assert.equal(web.metadata.generation, 1, 'a status write keeps the generation');
    assert.equal((web.status as { serialNumber?: string }).serialNumber, leaf.serialNumber.toLowerCase());
    const statusWrites = api.requests.filter((r) => r.path.includes('/mutualtlsidentities/'));
    assert.ok(statusWrites.length > 0);
    for (const r of statusWrites) {
      assert.equal(`${r.method} ${r.path}`, 'PATCH /apis/mtls.dev/v1alpha1/namespaces/dev/mutualtlsidentities/web/status');
      assert.equal(r.contentType, 'application/merge-patch+json');
    }

    const bundle = await eventually('ConfigMap dev/mtls-trust-bundle', () => api.get('configmaps', 'dev', 'mtls-trust-bundle'));
    assert.equal((bundle.data as Record<string, string>)['ca.crt'], data(secret, 'ca.crt'));
    assert.equal(bundle.metadata.labels?.['app.kubernetes.io/managed-by'], 'mtls-operator');
    await eventually('an Issued event', () => api.list('events', 'dev').find((e) => e.reason === 'Issued'));
  });

  it('refuses a name of another namespace: Ready=False PolicyViolation and no Secret', async () => {
    api.putCustom(IDENTITIES, 'dev', 'impostor', { secretName: 'impostor-mtls', dnsNames: ['payments.prod.svc'] });
    const ready = await eventually('impostor Ready=False', () => {
      const c = conditionOf(api.get(IDENTITIES, 'dev', 'impostor'), 'Ready');
      return c?.status === 'False' && c;
    });
    assert.equal(ready.reason, 'PolicyViolation');
    await eventually('a PolicyViolation Warning event', () =>
      api.list('events', 'dev').find((e) => e.reason === 'PolicyViolation' && e.type === 'Warning'));
    assert.equal(api.get('secrets', 'dev', 'impostor-mtls'), undefined);
    assert.equal(api.requests.some((r) => r.path.endsWith('/secrets/impostor-mtls') && r.method !== 'GET'), false);
  });

  it('re-creates the Secret after it is deleted (watch DELETED)', async () => {
    const before = api.get('secrets', 'dev', 'web-mtls')!;
    api.remove('secrets', 'dev', 'web-mtls');
    const again = await eventually('Secret dev/web-mtls re-created', () => {
      const s = api.get('secrets', 'dev', 'web-mtls');
      return s && s.metadata.uid !== before.metadata.uid && s;
    });
    const leaf = new X509Certificate(data(again, 'tls.crt'));
    assert.ok(leaf.verify(new X509Certificate(data(again, 'ca.crt')).publicKey));
    await eventually('status follows the new serial', () =>
      (api.get(IDENTITIES, 'dev', 'web')?.status as { serialNumber?: string }).serialNumber === leaf.serialNumber.toLowerCase());
  });

  it('resumes its watches after they are dropped, and follows a spec change', async () => {
    const restartsBefore = op.lines.filter((l) => l.message === 'watch restarting').length;
    const seen = api.requests.length;
    api.dropWatches();
    // identities, secrets, configmaps (all namespaces) and the CA Secret: they restart after a backoff.
    await eventually('every watch restarting', () => op.lines.filter((l) => l.message === 'watch restarting').length - restartsBefore >= 4);
    // Changed while the watches are down: the new watch must replay it from its resourceVersion.
    const serial = (api.get(IDENTITIES, 'dev', 'web')!.status as { serialNumber: string }).serialNumber;
    api.putCustom(IDENTITIES, 'dev', 'web', { secretName: 'web-mtls', serviceAccountName: 'web', dnsNames: ['web.dev.svc', 'api.dev.svc'] });
    const secret = await eventually('a certificate with the new name', () => {
      const s = api.get('secrets', 'dev', 'web-mtls');
      return s && /DNS:api\.dev\.svc/.test(new X509Certificate(data(s, 'tls.crt')).subjectAltName ?? '') && s;
    });
    const leaf = new X509Certificate(data(secret, 'tls.crt'));
    assert.notEqual(leaf.serialNumber.toLowerCase(), serial);
    await eventually('Ready for generation 2', () => conditionOf(api.get(IDENTITIES, 'dev', 'web'), 'Ready')?.observedGeneration === 2);
    const rewatches = await eventually('four watches re-opened', () => {
      const opened = api.requests.slice(seen).filter((r) => r.verb === 'watch');
      return opened.length >= 4 && opened;
    });
    for (const r of rewatches) assert.match(r.query, /[?&]resourceVersion=\d+/, `${r.path}${r.query} resumes from a resourceVersion`);
    assert.equal(api.requests.slice(seen).some((r) => r.verb === 'list'), false, 'no relist is needed to resume');
  });

  it('repairs a Secret whose managed-by label someone removed (it left the watch selector)', async () => {
    api.patch('secrets', 'dev', 'web-mtls', { metadata: { labels: { 'app.kubernetes.io/managed-by': null } } });
    await eventually('the label restored', () => api.get('secrets', 'dev', 'web-mtls')!.metadata.labels?.['app.kubernetes.io/managed-by'] === 'mtls-operator');
  });

  it('relists after 410 Expired and catches up with what it missed', async () => {
    const count = (message: string, reason?: string) => op.lines.filter((l) => l.message === message && (!reason || l.reason === reason)).length;
    const relisted = count('watch relisted');
    const gone = count('watch restarting', 'gone');
    const seen = api.requests.length;
    api.dropWatches();
    api.putCustom(IDENTITIES, 'dev', 'late', {});
    api.compact(); // every watch resumes from before this: ERROR 410 Expired
    await eventually('every watch relisted', () => count('watch relisted') - relisted >= 4);
    assert.ok(count('watch restarting', 'gone') - gone >= 4);
    await eventually('Secret dev/late-mtls', () => api.get('secrets', 'dev', 'late-mtls'));
    await eventually('late Ready=True', () => conditionOf(api.get(IDENTITIES, 'dev', 'late'), 'Ready')?.status === 'True');
    await quiet(api, 1_000);
    // The relist re-queues everything; only the new identity and its Secret are written.
    const writes = api.requests.slice(seen).filter(isWrite);
    assert.deepEqual([...new Set(writes.map((r) => r.name))].sort(), ['late', 'late-mtls']);
  });

  // This test found a bug: a Secret created with POST (manager mtls-operator, operation Update)
  // and later written by server-side apply (operation Apply: another manager to the apiserver)
  // kept keys the apply omitted, so every reconcile re-applied it. The first write is now an
  // apply without force (src/controller/writer.ts).
  it('removes extra outputs from the Secret when they are turned off, without re-issuing', async () => {
    api.putCustom(IDENTITIES, 'dev', 'pem', { additionalOutputFormats: [{ type: 'CombinedPEM' }] });
    const first = await eventually('Secret dev/pem-mtls with tls-combined.pem', () => {
      const s = api.get('secrets', 'dev', 'pem-mtls');
      return s && 'tls-combined.pem' in (s.data as object) && s;
    });
    const serial = new X509Certificate(data(first, 'tls.crt')).serialNumber;
    api.putCustom(IDENTITIES, 'dev', 'pem', {});
    await eventually('Ready for generation 2', () => conditionOf(api.get(IDENTITIES, 'dev', 'pem'), 'Ready')?.observedGeneration === 2);
    const secret = await eventually('tls-combined.pem removed', () => {
      const s = api.get('secrets', 'dev', 'pem-mtls')!;
      return !('tls-combined.pem' in (s.data as object)) && s;
    }, 5_000).catch((err: Error) => {
      throw new Error(`${err.message}; managedFields: ${JSON.stringify(api.get('secrets', 'dev', 'pem-mtls')!.metadata.managedFields)}`);
    });
    assert.deepEqual(Object.keys(secret.data as object).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
    assert.equal(new X509Certificate(data(secret, 'tls.crt')).serialNumber, serial);
  });

  it('removes the trust bundle of a namespace whose last identity is deleted', async () => {
    api.putCustom(IDENTITIES, 'staging', 'api', {});
    await eventually('Secret staging/api-mtls', () => api.get('secrets', 'staging', 'api-mtls'));
    await eventually('ConfigMap staging/mtls-trust-bundle', () => api.get('configmaps', 'staging', 'mtls-trust-bundle'));
    // Removed only once its reconcile has finished (status written): removing it mid-issue logs a 404 on the status
    // write, which the no-error test below would count.
    await eventually('staging/api Ready', () => conditionOf(api.get(IDENTITIES, 'staging', 'api'), 'Ready')?.status === 'True');
    api.remove(IDENTITIES, 'staging', 'api');
    await eventually('the bundle deleted', () => api.get('configmaps', 'staging', 'mtls-trust-bundle') === undefined);
    await eventually('the Secret garbage-collected', () => api.get('secrets', 'staging', 'api-mtls') === undefined);
    assert.ok(api.requests.some((r) => r.method === 'DELETE' && r.path === '/api/v1/namespaces/staging/configmaps/mtls-trust-bundle' && r.status === 200));
  });

  it('exits 0 on SIGTERM and releases the Lease; a restarted operator makes no write', async () => {
    // Let the first operator settle: no write for a while.
    await quiet(api, 1_500);
    const code = await op.terminate();
    assert.equal(code, 0);
    assert.ok(op.logged('leader election: lease released'));
    assert.ok(op.logged('stopped'));
    const released = api.get('leases', 'mtls-system', 'mtls-operator')!;
    assert.equal((released.spec as { holderIdentity?: string }).holderIdentity, '');

    const state = snapshot(api);
    const writesBefore = api.requests.filter(isWrite).length;
    const seen = api.requests.length;

    op = start();
    const started = await eventually('the new operator started its controller', () => op.logged('controller started'));
    assert.equal(started.identities, api.list(IDENTITIES).length);
    const port = await eventually('the metrics port', () => op.logged('metrics and health endpoint listening')?.port as number | undefined);
    await eventually('/readyz 200', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200);
    await sleep(2_000);
    await quiet(api, 1_500);
    const lease = api.get('leases', 'mtls-system', 'mtls-operator')!.spec as { holderIdentity: string; leaseTransitions: number };
    assert.equal(lease.holderIdentity, op.logged('leader election: became leader')?.identity);
    assert.equal(lease.leaseTransitions, 1);

    const writes = api.requests.slice(seen).filter(isWrite);
    assert.deepEqual(writes.map((r) => `${r.method} ${r.path}`), [], 'the restarted operator wrote');
    assert.equal(api.requests.filter(isWrite).length, writesBefore);
    assert.deepEqual(snapshot(api), state, 'no object changed');
    assert.equal(await op.terminate(), 0);
  });

  it('never logs key material or an error, sent no request the fake does not serve, had no write refused', () => {
    for (const o of operators) {
      assert.ok(o.lines.length > 10);
      assert.equal(o.text.includes('PRIVATE KEY'), false);
      assert.deepEqual(o.lines.filter((l) => l.level === 'error'), []);
    }
    assert.deepEqual(api.unknown, []);
    // Only reads of what does not exist yet failed: no write was ever refused (409, 422, 400).
    assert.deepEqual(api.requests.filter((r) => r.status >= 400 && !(r.status === 404 && r.method === 'GET')), []);
  });
});

/** The resourceVersion of every Secret, ConfigMap and identity. */
function snapshot(api: FakeApiServer): Record<string, string | undefined> {
  return Object.fromEntries(['secrets', 'configmaps', IDENTITIES].flatMap((plural) =>
    api.list(plural).map((o) => [`${plural}/${o.metadata.namespace}/${o.metadata.name}`, o.metadata.resourceVersion])));
}

/** Wait until no request other than a Lease renewal has arrived for `ms`. */
async function quiet(api: FakeApiServer, ms: number, limitMs = 15_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  const busy = () => api.requests.filter((r) => !r.path.includes('/leases/') && r.verb !== 'watch').length;
  let count = busy();
  let since = Date.now();
  while (Date.now() - since < ms) {
    if (Date.now() > deadline) throw new Error(`the operator did not go quiet within ${limitMs} ms`);
    await sleep(100);
    if (busy() !== count) (count = busy(), since = Date.now());
  }
}
