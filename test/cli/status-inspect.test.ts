import assert from 'node:assert/strict';
import { generateRootCA } from '../../src/pki/index.ts';
import { fixture, withData, type Fixture } from './fixtures.ts';
import { harness, NOW } from './helpers.ts';
import { MemoryCliClient } from './memory-client.ts';

describe('kubectl mtls status', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture(NOW);
  });

  function world(): MemoryCliClient {
    return new MemoryCliClient()
      .addIdentity(f.identity)
      .addSecret(f.secret)
      .addEvent('team-a', { kind: 'MutualTLSIdentity', name: 'web' }, { type: 'Normal', reason: 'Issued', message: `Issued certificate serial ${f.issued.serialNumber}`, count: 1, lastSeen: '2026-03-01T11:59:00Z' })
      .addEvent('team-a', { kind: 'MutualTLSIdentity', name: 'other' }, { type: 'Warning', reason: 'Elsewhere', message: 'not about web', count: 1, lastSeen: '2026-03-01T11:59:30Z' });
  }

  it('shows conditions, the certificate (serial, SANs, SPIFFE ID, validity, renewal, issuer), Events and Secret health', async () => {
    const r = await harness(world()).run('status', 'web');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^MutualTLSIdentity team-a\/web: Ready/);
    assert.match(r.stdout, /TYPE\s+STATUS\s+REASON/);
    assert.match(r.stdout, /Ready\s+True\s+Ready/);
    assert.match(r.stdout, /Issuing\s+False\s+Initial/);
    assert.ok(r.stdout.includes(`Serial:`) && r.stdout.includes(f.issued.serialNumber), 'serial');
    assert.match(r.stdout, /SPIFFE ID:\s+spiffe:\/\/cluster.local\/ns\/team-a\/sa\/web/);
    assert.match(r.stdout, /SANs:\s+URI:spiffe:\/\/cluster.local\/ns\/team-a\/sa\/web, DNS:web.team-a.svc, IP:10.0.0.7/);
    assert.match(r.stdout, /Issuer:\s+CN=cli test root/);
    assert.match(r.stdout, /Not after:\s+2026-03-02T11:55:00.000Z \(in 23h55m\)/);
    assert.match(r.stdout, /Renewal:\s+2026-03-02T03:55:00.000Z/);
    assert.match(r.stdout, /Secret web-mtls:\n\s+Keys:\s+ca.crt, tls.crt, tls.key/);
    assert.match(r.stdout, /Key matches cert: yes/);
    assert.match(r.stdout, /Chain verifies:\s+yes/);
    assert.match(r.stdout, /Issued\s+1\s+Issued certificate serial/);
    assert.ok(!r.stdout.includes('not about web'), 'only Events about this identity');
  });

  it('-o json: a report scripts can read', async () => {
    const r = await harness(world()).run('status', 'web', '-o', 'json');
    assert.equal(r.code, 0);
    const report = JSON.parse(r.stdout);
    assert.equal(report.ready, true);
    assert.equal(report.certificate.serial, f.issued.serialNumber);
    assert.equal(report.certificate.spiffeId, 'spiffe://cluster.local/ns/team-a/sa/web');
    assert.deepEqual(report.secret.health.problems, []);
    assert.equal(report.events.length, 1);
    assert.equal(report.conditions[0].type, 'Ready');
  });

  it('-o yaml', async () => {
    const r = await harness(world()).run('status', '-o', 'yaml', 'web');
    assert.match(r.stdout, /^namespace: team-a\nname: web\nready: true/);
  });

  it('-n picks the namespace; a missing identity is one error line, exit 1', async () => {
    const r = await harness(world()).run('status', 'web', '-n', 'team-b');
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'error: MutualTLSIdentity team-b/web not found\n');
  });

  it('not Ready, no Secret yet: says so and exits 1', async () => {
    const id = structuredClone(f.identity);
    id.status = { conditions: [{ type: 'Ready', status: 'False', reason: 'CANotReady', message: 'the CA Secret is absent', lastTransitionTime: NOW.toISOString() }] };
    const r = await harness(new MemoryCliClient().addIdentity(id)).run('status', 'web');
    assert.equal(r.code, 1);
    assert.match(r.stdout, /NOT Ready/);
    assert.match(r.stdout, /CANotReady/);
    assert.match(r.stdout, /Certificate:\n\s+\(none issued\)/);
    assert.match(r.stdout, /Secret web-mtls:\n\s+\(absent\)/);
  });
});

describe('kubectl mtls inspect secret', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture(NOW);
  });

  it('decodes chain, SANs, key, fingerprints; key matches; chain verifies', async () => {
    const r = await harness(new MemoryCliClient().addSecret(f.secret)).run('inspect', 'secret', 'web-mtls');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^Secret team-a\/web-mtls \(kubernetes.io\/tls\)/);
    assert.match(r.stdout, /Key:\s+ECDSA 256 \(PKCS8\)/);
    assert.match(r.stdout, /Key matches cert: yes/);
    assert.match(r.stdout, /Chain verifies:\s+yes/);
    assert.match(r.stdout, /SANs:\s+URI:spiffe:\/\/cluster.local\/ns\/team-a\/sa\/web, DNS:web.team-a.svc, IP:10.0.0.7/);
    assert.match(r.stdout, /SHA-256:\s+([0-9A-F]{2}:){31}[0-9A-F]{2}/);
    assert.match(r.stdout, /Root \(ca.crt 1\)/);
    assert.match(r.stdout, /Problems: none/);
  });

  it('detects a key that does not match the certificate (exit 1)', async () => {
    const other = await generateRootCA({ now: NOW });
    const bad = withData(f.secret, 'tls.key', other.keyPem);
    const r = await harness(new MemoryCliClient().addSecret(bad)).run('inspect', 'secret', 'web-mtls');
    assert.equal(r.code, 1);
    assert.match(r.stdout, /Key matches cert: NO/);
    assert.match(r.stdout, /tls.key does not match the certificate in tls.crt/);
  });

  it('detects a chain that does not verify against ca.crt (exit 1)', async () => {
    const other = await generateRootCA({ now: NOW, commonName: 'some other root' });
    const bad = withData(f.secret, 'ca.crt', other.certPem);
    const r = await harness(new MemoryCliClient().addSecret(bad)).run('inspect', 'secret/web-mtls', '-o', 'json');
    assert.equal(r.code, 1);
    const report = JSON.parse(r.stdout);
    assert.equal(report.chainVerifies, false);
    assert.equal(report.keyMatchesCert, true);
    assert.match(report.problems.join('\n'), /does not verify against ca.crt: "CN=cli test root" signed its top certificate and is not in ca.crt/);
  });

  it('reports missing keys and expiry', async () => {
    const bad = withData(f.secret, 'ca.crt', undefined);
    const later = harness(new MemoryCliClient().addSecret(bad), 'team-a', () => new Date(NOW.getTime() + 3 * 86_400_000));
    const r = await later.run('inspect', 'secret', 'web-mtls', '-o', 'json');
    assert.equal(r.code, 1);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(report.keys.missing, ['ca.crt']);
    assert.equal(report.validNow, false);
    assert.match(report.problems.join('\n'), /ca.crt is missing/);
    assert.match(report.problems.join('\n'), /is expired/);
  });

  it('a missing Secret, a wrong kind', async () => {
    const h = harness(new MemoryCliClient());
    assert.deepEqual(await h.run('inspect', 'secret', 'nope'), { code: 1, stdout: '', stderr: 'error: Secret team-a/nope not found\n' });
    const r = await h.run('inspect', 'configmap', 'x');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: inspect configmap: only a Secret can be inspected/);
  });
});
