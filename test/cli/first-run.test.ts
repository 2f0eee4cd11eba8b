/**
 * Issue 21 point 4 (first run) and issue 19 point 7 (key files): init-root --out and
 * --create-namespace, issue --local under the operator's name policy, and key files created
 * exclusively, mode 0600, never through a symbolic link, never over an existing file unless --force.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INIT_ROOT_HELP } from '../../src/cli/init-root.ts';
import { loadSigningCA, sanOf } from '../../src/pki/index.ts';
import { harness, NOW } from './helpers.ts';
import { MemoryCliClient } from './memory-client.ts';

const now = () => new Date();

describe('kubectl mtls init-root: first run', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mtls-first-run-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('--out DIR writes tls.crt, tls.key (0600), ca.crt, touches no cluster, and issue --local signs with them', async () => {
    const h = harness(new MemoryCliClient(), 'team-a', now);
    const out = join(dir, 'root');
    const r = await h.run('init-root', '--out', out, '--common-name', 'Dev Root');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Root written to .*root \(nothing created in the cluster\)\n/);
    assert.match(r.stdout, /kubectl mtls issue --local --ca-cert .*tls.crt --ca-key .*tls.key/);
    assert.deepEqual(h.client.calls, []);
    assert.equal(statSync(join(out, 'tls.key')).mode & 0o777, 0o600);
    assert.equal(statSync(out).mode & 0o777, 0o700);
    const ca = await loadSigningCA({ certPem: readFileSync(join(out, 'tls.crt'), 'utf8'), keyPem: readFileSync(join(out, 'tls.key'), 'utf8'), bundlePem: readFileSync(join(out, 'ca.crt'), 'utf8') }, new Date());
    assert.equal(ca.certificate.subject, 'CN=Dev Root');
    const leafDir = join(dir, 'leaf');
    const issued = await h.run('issue', '--local', '--ca-cert', join(out, 'tls.crt'), '--ca-key', join(out, 'tls.key'), '--name', 'web', '-n', 'dev', '--dns', 'web.dev.svc', '--out', leafDir);
    assert.equal(issued.code, 0, issued.stderr);
    const v = spawnSync('openssl', ['verify', '-CAfile', join(out, 'ca.crt'), join(leafDir, 'tls.crt')], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stdout + v.stderr);
  });

  it('--out refuses to overwrite (nothing written), --force replaces; --out does not go with --dry-run', async () => {
    const h = harness(new MemoryCliClient(), 'team-a', now);
    assert.equal((await h.run('init-root', '--out', dir)).code, 0);
    const before = readFileSync(join(dir, 'tls.key'), 'utf8');
    const again = await h.run('init-root', '--out', dir);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^error: .*tls.key \(a file\), .*tls.crt \(a file\), .*ca.crt \(a file\) already exist: nothing written; pass --force to replace/);
    assert.equal(readFileSync(join(dir, 'tls.key'), 'utf8'), before);
    const forced = await h.run('init-root', '--out', dir, '--force');
    assert.equal(forced.code, 0, forced.stderr);
    assert.notEqual(readFileSync(join(dir, 'tls.key'), 'utf8'), before);
    const bad = await h.run('init-root', '--out', dir, '--dry-run');
    assert.equal(bad.code, 2);
    const forceAlone = await h.run('init-root', '--force');
    assert.equal(forceAlone.code, 2);
    assert.match(forceAlone.stderr, /--force applies to --out files/);
  });

  it('without the namespace: says to add --create-namespace; with it: creates mtls-system (restricted) then the Secret', async () => {
    const client = new MemoryCliClient();
    client.strictNamespaces = true;
    const h = harness(client);
    const missing = await h.run('init-root');
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'error: namespace mtls-system does not exist: add --create-namespace (or install the operator first with bootstrap off)\n');
    const r = await h.run('init-root', '--create-namespace');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Namespace mtls-system created\nSecret mtls-system\/mtls-root-ca created\n/);
    assert.deepEqual(client.writes(), ['create-namespace /mtls-system', 'create-secret mtls-system/mtls-root-ca']);
    assert.deepEqual(client.namespaces.get('mtls-system'), { 'app.kubernetes.io/name': 'mtls-operator', 'pod-security.kubernetes.io/enforce': 'restricted' });
    const again = await h.run('init-root', '--create-namespace');
    assert.match(again.stderr, /already exists: it is left as is/);
    assert.equal(client.writes().length, 2);
  });

  it('the openssl command in its help makes a CA that init-root --from-cert accepts', async function () {
    const cmd = INIT_ROOT_HELP.slice(INIT_ROOT_HELP.indexOf('openssl req')).replace(/\\\n\s*/g, '');
    const r = spawnSync('bash', ['-c', cmd], { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0 && /unknown option|Unknown cipher|ec_paramgen/.test(r.stderr)) this.skip();
    assert.equal(r.status, 0, r.stderr);
    const h = harness(new MemoryCliClient(), 'team-a', now);
    const checked = await h.run('init-root', '--from-cert', join(dir, 'ca.crt'), '--from-key', join(dir, 'ca.key'), '--dry-run');
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stdout, /Subject:\s+CN=my root/);
  });
});

describe('kubectl mtls issue --local: the operator\'s name policy', () => {
  let dir: string;
  let ca: string[];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mtls-issue-policy-'));
    const h = harness(new MemoryCliClient(), 'team-a', now);
    assert.equal((await h.run('init-root', '--out', join(dir, 'ca'))).code, 0);
    ca = ['--ca-cert', join(dir, 'ca', 'tls.crt'), '--ca-key', join(dir, 'ca', 'tls.key')];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses another namespace\'s service name, as the operator does, and writes nothing', async () => {
    const out = join(dir, 'refused');
    const r = await harness(new MemoryCliClient(), 'x', now).run('issue', '--local', ...ca, '--name', 'web', '-n', 'dev', '--dns', 'payments.prod.svc', '--out', out);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.split('\n').length, 2, 'one line');
    assert.match(r.stderr, /^error: refused by the name policy, as the operator would refuse it: dnsNames\[0\] "payments.prod.svc" belongs to namespace "prod", not "dev"/);
    assert.match(r.stderr, /--name-policy-file/);
    assert.equal(existsSync(out), false);
  });

  it('--name-policy-file (the operator\'s format) allows what it lists, for the namespaces it names only', async () => {
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, 'allow:\n  - namespaces: [dev]\n    dnsSuffixes: [pay.example.com]\n    ipRanges: [10.20.0.0/16]\n');
    const h = harness(new MemoryCliClient(), 'x', now);
    const out = join(dir, 'allowed');
    const ok = await h.run('issue', '--local', ...ca, '--name', 'web', '-n', 'dev', '--dns', 'api.pay.example.com', '--ip', '10.20.1.1', '--name-policy-file', policy, '--out', out);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(sanOf(new X509Certificate(readFileSync(join(out, 'tls.crt')))).dnsNames, ['api.pay.example.com']);
    const otherNs = await h.run('issue', '--local', ...ca, '--name', 'web', '-n', 'prod', '--dns', 'api.pay.example.com', '--name-policy-file', policy, '--out', join(dir, 'other'));
    assert.equal(otherNs.code, 1);
    assert.match(otherNs.stderr, /refused by the name policy.*"api.pay.example.com"/);
    const badPolicy = join(dir, 'bad.yaml');
    writeFileSync(badPolicy, 'allow:\n  - namespace: [dev]\n');
    const bad = await h.run('issue', '--local', ...ca, '--name', 'web', '-n', 'dev', '--name-policy-file', badPolicy);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^error: --name-policy-file .*bad.yaml: name policy: allow\[0\]/);
  });

  it('--cluster-domain: <svc>.<ns>.svc.<domain> belongs to the namespace, the default domain then does not', async () => {
    const h = harness(new MemoryCliClient(), 'x', now);
    const ok = await h.run('issue', '--local', ...ca, '--name', 'web', '-n', 'dev', '--cluster-domain', 'corp.internal', '--dns', 'web.dev.svc.corp.internal', '--out', join(dir, 'corp'));
    assert.equal(ok.code, 0, ok.stderr);
    const no = await h.run('issue', '--local', ...ca, '--name', 'web', '-n', 'dev', '--dns', 'web.dev.svc.corp.internal', '--out', join(dir, 'corp2'));
    assert.equal(no.code, 1);
  });
});

describe('kubectl mtls issue --local: key files (issue 19 point 7)', () => {
  let dir: string;
  let ca: string[];
  const issue = (out: string, ...more: string[]) =>
    harness(new MemoryCliClient(), 'x', now).run('issue', '--local', ...ca, '--name', 'web', '-n', 'dev', '--out', out, ...more);
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mtls-keyfiles-'));
    assert.equal((await harness(new MemoryCliClient(), 'x', now).run('init-root', '--out', join(dir, 'ca'))).code, 0);
    ca = ['--ca-cert', join(dir, 'ca', 'tls.crt'), '--ca-key', join(dir, 'ca', 'tls.key')];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a symbolic link at DIR/tls.key is refused and its target untouched; --force replaces the link, not the target', async () => {
    const out = join(dir, 'link');
    mkdirSync(out);
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'precious\n', { mode: 0o644 });
    symlinkSync(victim, join(out, 'tls.key'));
    const r = await issue(out);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: .*tls.key \(a symbolic link\) already exists: nothing written; pass --force/);
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
    assert.equal(existsSync(join(out, 'tls.crt')), false, 'no other file written');
    const forced = await issue(out, '--force');
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
    assert.equal(lstatSync(join(out, 'tls.key')).isSymbolicLink(), false);
    assert.match(readFileSync(join(out, 'tls.key'), 'utf8'), /BEGIN PRIVATE KEY/);
  });

  it('a dangling link is refused too (it would create its target)', async () => {
    const out = join(dir, 'dangling');
    mkdirSync(out);
    const target = join(dir, 'would-be-created.key');
    symlinkSync(target, join(out, 'tls.key'));
    assert.equal((await issue(out)).code, 1);
    assert.equal(existsSync(target), false);
  });

  it('a pre-created world-readable tls.key is refused; --force gives a new file of mode 0600, whatever the umask', async () => {
    const out = join(dir, 'readable');
    mkdirSync(out);
    writeFileSync(join(out, 'tls.key'), 'old\n');
    chmodSync(join(out, 'tls.key'), 0o666);
    const other = join(dir, 'hard-link-to-old');
    linkSync(join(out, 'tls.key'), other); // another name for the old file: it must not receive the key
    assert.equal((await issue(out)).code, 1);
    assert.equal(readFileSync(join(out, 'tls.key'), 'utf8'), 'old\n');
    const old = process.umask(0);
    try {
      const forced = await issue(out, '--force');
      assert.equal(forced.code, 0, forced.stderr);
    } finally {
      process.umask(old);
    }
    const st = statSync(join(out, 'tls.key'));
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(readFileSync(other, 'utf8'), 'old\n', 'a new file, not the old one rewritten');
    assert.equal(statSync(join(out, 'tls.crt')).mode & 0o777, 0o644);
  });

  it('a directory in the way is named; nothing is written', async () => {
    const out = join(dir, 'dir');
    mkdirSync(join(out, 'tls.crt'), { recursive: true });
    const r = await issue(out, '--force');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /tls.crt is a directory: choose another --out directory/);
    assert.equal(existsSync(join(out, 'tls.key')), false);
  });
});

void NOW;

describe('kubectl mtls status when Events cannot be listed', () => {
  it('shows the rest of the report and says why Events are missing and how to check', async () => {
    const { fixture } = await import('./fixtures.ts');
    const { ClusterError } = await import('../../src/cluster/port.ts');
    const f = await fixture(NOW);
    const client = new MemoryCliClient().addIdentity(f.identity).addSecret(f.secret);
    client.listEvents = async () => {
      throw new ClusterError(403, 'Forbidden', 'LIST events/team-a: 403 Forbidden: events is forbidden: User "dev" cannot list resource "events"');
    };
    const r = await harness(client).run('status', 'web');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^MutualTLSIdentity team-a\/web: Ready/);
    assert.match(r.stdout, /Chain verifies:\s+yes/);
    assert.match(r.stdout, /Events:\n {2}\(cannot list Events: LIST events\/team-a: 403 Forbidden: .*; check with: kubectl auth can-i list events -n team-a\)/);
    const json = JSON.parse((await harness(client).run('status', 'web', '-o', 'json')).stdout);
    assert.match(json.eventsError, /403 Forbidden/);
  });
});
