import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { generateIntermediateCA, generateRootCA, loadSigningCA, sanOf } from '../../src/pki/index.ts';
import { harness, NOW } from './helpers.ts';
import { MemoryCliClient } from './memory-client.ts';

const decode = (v: string | undefined): string => Buffer.from(v ?? '', 'base64').toString('utf8');

describe('kubectl mtls init-root', () => {
  let dir: string;
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mtls-cli-init-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('generated: creates mtls-system/mtls-root-ca with a root the operator can load', async () => {
    const h = harness();
    const r = await h.run('init-root');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Secret mtls-system\/mtls-root-ca created\n\s+Subject:\s+CN=mtls-operator root CA/);
    assert.deepEqual(h.client.writes(), ['create-secret mtls-system/mtls-root-ca']);
    const secret = h.client.secrets.get('mtls-system/mtls-root-ca')!;
    assert.equal(secret.type, 'kubernetes.io/tls');
    const ca = await loadSigningCA({ certPem: decode(secret.data!['tls.crt']), keyPem: decode(secret.data!['tls.key']), bundlePem: decode(secret.data!['ca.crt']) }, NOW);
    assert.equal(ca.certificate.subject, 'CN=mtls-operator root CA');
  });

  it('generated, with --name, -n, --common-name, --validity-days', async () => {
    const h = harness();
    const r = await h.run('init-root', '-n', 'ops', '--name', 'next-root', '--common-name', 'Example Root 2026', '--validity-days', '365', '-o', 'json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.subject, 'CN=Example Root 2026');
    assert.equal(out.notAfter.slice(0, 10), '2027-03-01');
    assert.ok(h.client.secrets.has('ops/next-root'));
  });

  it('--dry-run -o yaml prints the manifest and creates nothing', async () => {
    const h = harness();
    const r = await h.run('init-root', '--dry-run', '-o', 'yaml');
    assert.equal(r.code, 0, r.stderr);
    const manifest = parseYaml(r.stdout);
    assert.equal(manifest.kind, 'Secret');
    assert.equal(manifest.metadata.name, 'mtls-root-ca');
    assert.equal(manifest.metadata.namespace, 'mtls-system');
    assert.match(decode(manifest.data['tls.key']), /BEGIN PRIVATE KEY/);
    assert.deepEqual(h.client.calls, []);
    const text = await h.run('init-root', '--dry-run');
    assert.match(text.stdout, /checked \(dry run: nothing created/);
  });

  it('from files: an intermediate with its root bundle', async () => {
    const root = await generateRootCA({ now: NOW, commonName: 'Corp Root' });
    const inter = await generateIntermediateCA(await loadSigningCA(root, NOW), { commonName: 'Corp mTLS Issuing CA', validityDays: 365, now: NOW });
    const h = harness();
    const r = await h.run('init-root', '--from-cert', file('i.crt', inter.certPem), '--from-key', file('i.key', inter.keyPem), '--from-bundle', file('root.crt', root.certPem));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Subject:\s+CN=Corp mTLS Issuing CA/);
    const secret = h.client.secrets.get('mtls-system/mtls-root-ca')!;
    assert.equal(decode(secret.data!['tls.crt']), inter.certPem);
    assert.equal(decode(secret.data!['ca.crt']), root.certPem);
  });

  it('from files: refuses an invalid pair with a clear error, creating nothing', async () => {
    const a = await generateRootCA({ now: NOW });
    const b = await generateRootCA({ now: NOW });
    const h = harness();
    const r = await h.run('init-root', '--from-cert', file('a.crt', a.certPem), '--from-key', file('b.key', b.keyPem));
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error: the CA is not usable: tls.key does not match the signing certificate (the first certificate in tls.crt)\n');
    const missing = await h.run('init-root', '--from-cert', join(dir, 'nope.crt'), '--from-key', file('b2.key', b.keyPem));
    assert.match(missing.stderr, /^error: cannot read certificate .*nope.crt: ENOENT\n$/);
    const half = await h.run('init-root', '--from-cert', file('a2.crt', a.certPem));
    assert.equal(half.code, 2);
    assert.deepEqual(h.client.calls, []);
  });

  it('an existing CA Secret is never overwritten', async () => {
    const h = harness();
    await h.run('init-root');
    const again = await h.run('init-root');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^error: Secret mtls-system\/mtls-root-ca already exists: it is left as is/);
    assert.equal(h.client.writes().length, 1);
  });
});

describe('kubectl mtls issue --local', () => {
  let dir: string;
  let caCert: string;
  let caKey: string;
  const real = () => harness(new MemoryCliClient(), 'team-a', () => new Date());
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mtls-cli-issue-'));
    const root = await generateRootCA({ now: new Date(), commonName: 'Dev Root' });
    caCert = join(dir, 'ca.pem');
    caKey = join(dir, 'ca-key.pem');
    writeFileSync(caCert, root.certPem);
    writeFileSync(caKey, root.keyPem);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes tls.crt, tls.key (0600), ca.crt that openssl verify accepts, with the SPIFFE ID SAN', async () => {
    const out = join(dir, 'web');
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, 'allow:\n  - namespaces: [team-a]\n    ipRanges: [10.1.0.0/16]\n');
    const r = await real().run('issue', '--local', '--ca-cert', caCert, '--ca-key', caKey, '--name', 'web', '-n', 'team-a', '--sa', 'web-sa',
      '--dns', 'web.team-a.svc', '--dns', 'web.team-a.svc.cluster.local', '--ip', '10.1.2.3', '--duration', '48h', '--name-policy-file', policy, '--out', out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Issued spiffe:\/\/cluster.local\/ns\/team-a\/sa\/web-sa\n/);
    const v = spawnSync('openssl', ['verify', '-CAfile', join(out, 'ca.crt'), join(out, 'tls.crt')], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /tls.crt: OK/);
    const leaf = new X509Certificate(readFileSync(join(out, 'tls.crt')));
    assert.deepEqual(sanOf(leaf), { uris: ['spiffe://cluster.local/ns/team-a/sa/web-sa'], dnsNames: ['web.team-a.svc', 'web.team-a.svc.cluster.local'], ipAddresses: ['10.1.2.3'] });
    assert.equal(leaf.validToDate.getTime() - leaf.validFromDate.getTime(), 48 * 3_600_000);
    assert.equal(statSync(join(out, 'tls.key')).mode & 0o777, 0o600);
    const text = spawnSync('openssl', ['x509', '-in', join(out, 'tls.crt'), '-noout', '-ext', 'subjectAltName'], { encoding: 'utf8' });
    assert.match(text.stdout, /URI:spiffe:\/\/cluster.local\/ns\/team-a\/sa\/web-sa/);
  });

  it('the operator\'s rules: key type, trust domain, -o json', async () => {
    const out = join(dir, 'rsa');
    const r = await real().run('issue', '--local', '--ca-cert', caCert, '--ca-key', caKey, '--name', 'api', '--key-algorithm', 'RSA', '--key-size', '3072',
      '--trust-domain', 'example.org', '--out', out, '-o', 'json');
    assert.equal(r.code, 0, r.stderr);
    const data = JSON.parse(r.stdout);
    assert.equal(data.spiffeId, 'spiffe://example.org/ns/default/sa/default');
    const key = readFileSync(join(out, 'tls.key'), 'utf8');
    const k = spawnSync('openssl', ['pkey', '-noout', '-text'], { input: key, encoding: 'utf8' });
    assert.match(k.stdout, /Private-Key: \(3072 bit/);
  });

  it('refuses what the operator would refuse, and a bad CA, with one line', async () => {
    const h = real();
    const bad = await h.run('issue', '--local', '--ca-cert', caCert, '--ca-key', caKey, '--name', 'x', '--duration', '30d');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^error: invalid identity: spec.duration: duration must be a Go duration such as '24h'.*\n$/);
    const dns = await h.run('issue', '--local', '--ca-cert', caCert, '--ca-key', caKey, '--name', 'x', '--dns', 'Not_A_Name');
    assert.match(dns.stderr, /^error: invalid identity: spec.dnsNames\[0\]: each DNS name must be lowercase/);
    const leafAsCA = await h.run('issue', '--local', '--ca-cert', join(dir, 'web', 'tls.crt'), '--ca-key', join(dir, 'web', 'tls.key'), '--name', 'x');
    assert.match(leafAsCA.stderr, /^error: the CA is not usable: signing certificate .* is not a CA: basicConstraints CA:true is missing\n$/);
    const noLocal = await h.run('issue', '--ca-cert', caCert, '--ca-key', caKey, '--name', 'x');
    assert.equal(noLocal.code, 2);
    assert.match(noLocal.stderr, /issue needs --local/);
    const noName = await h.run('issue', '--local', '--ca-cert', caCert, '--ca-key', caKey);
    assert.match(noName.stderr, /issue --local needs --name/);
  });
});
