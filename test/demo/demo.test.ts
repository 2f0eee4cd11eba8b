/**
 * The demo server and client (src/demo/) as the examples run them, but as local child processes
 * with identities issued here by src/pki: mutual TLS with SPIFFE IDs, the refusals, the loop, and
 * the reload of a renewed certificate without a restart (files rewritten in place, and the
 * kubelet's `..data` symlink swap).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IssuedCertificate, SigningCA } from '../../src/pki/index.ts';
import { generateRootCA, loadSigningCA } from '../../src/pki/index.ts';
import { allOutput, CLIENT_ID, DemoServer, issue, run, runClient, SERVER_ID, writeIdentity, type Line } from './helpers.ts';

const SERVER_NAMES = { dnsNames: ['server.demo.svc', 'localhost'], ipAddresses: ['127.0.0.1'] };

describe('demo server and client (child processes)', function () {
  this.timeout(60_000);
  let tmp: string;
  let ca: SigningCA;
  let otherCA: SigningCA;
  let serverId: IssuedCertificate;
  let clientId: IssuedCertificate;
  const dirs = { server: '', client: '', noCert: '', otherRoot: '', trustsOtherRoot: '' };
  let server: DemoServer;

  const failure = (lines: Line[]) => {
    const last = lines.at(-1);
    assert.ok(last, 'the client printed a line');
    assert.equal(last.level, 'error');
    assert.match(last.msg, /^demo client failed: call 1 to https:\/\/127\.0\.0\.1:\d+\/: /);
    assert.equal(lines.filter((l) => l.level === 'error').length, 1, 'one error line');
    assert.ok(!lines.some((l) => l.msg === 'response'), 'no answer');
    return last;
  };

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'mtls-demo-test-'));
    const now = new Date();
    ca = await loadSigningCA(await generateRootCA({ now, commonName: 'Demo Root' }), now);
    otherCA = await loadSigningCA(await generateRootCA({ now, commonName: 'Other Root' }), now);
    serverId = await issue(ca, SERVER_ID, SERVER_NAMES);
    clientId = await issue(ca, CLIENT_ID);
    const stranger = await issue(otherCA, CLIENT_ID); // the right name, from the wrong root
    dirs.server = await writeIdentity(join(tmp, 'server'), serverId, ca.bundlePem);
    dirs.client = await writeIdentity(join(tmp, 'client'), clientId, ca.bundlePem);
    dirs.noCert = await writeIdentity(join(tmp, 'no-cert'), undefined, ca.bundlePem);
    dirs.otherRoot = await writeIdentity(join(tmp, 'other-root'), stranger, ca.bundlePem);
    dirs.trustsOtherRoot = await writeIdentity(join(tmp, 'trusts-other-root'), clientId, otherCA.bundlePem);
    server = await DemoServer.start(dirs.server, 300);
  });

  after(async () => {
    await server?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('client -> server over mutual TLS: each names the other by SPIFFE ID', async () => {
    const r = await runClient(dirs.client, server.port, [], { MTLS_EXPECT_SERVER_ID: SERVER_ID });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const [answer, done] = r.lines;
    assert.equal(answer?.msg, 'response');
    assert.deepEqual(answer.response, { peer: CLIENT_ID, server: SERVER_ID });
    assert.equal(answer.serverId, SERVER_ID);
    assert.equal(answer.serverSerial, serverId.serialNumber);
    assert.equal(answer.clientId, CLIENT_ID);
    assert.equal(done?.msg, 'done');
    assert.equal(done.calls, 1);
    const logged = await server.waitFor((l) => l.msg === 'request' && l.peerSerial === clientId.serialNumber);
    assert.equal(logged.peer, CLIENT_ID);
    assert.equal(logged.status, 200);
    assert.equal(logged.level, 'info');
    assert.equal(logged.component, 'demo-server');
  });

  it('the server listens with its own SPIFFE ID and serial', async () => {
    const l = await server.waitFor((x) => x.msg === 'listening');
    assert.equal(l.spiffeId, SERVER_ID);
    assert.equal(l.serial, serverId.serialNumber);
    assert.equal(l.dir, dirs.server);
  });

  it('--loop N --interval: N calls, one line each, then done and exit 0', async () => {
    const r = await runClient(dirs.client, server.port, ['--loop', '3', '--interval', '50']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(r.lines.map((l) => l.msg), ['response', 'response', 'response', 'done']);
    assert.deepEqual(r.lines.slice(0, 3).map((l) => l.call), [1, 2, 3]);
    assert.equal(r.lines[3]?.calls, 3);
  });

  it('--keep-going: every failed call is logged and counted, the loop goes on, exit 1', async () => {
    const r = await runClient(dirs.noCert, server.port, ['--loop', '2', '--interval', '50', '--keep-going']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const failures = r.lines.filter((l) => /^demo client failed: call \d/.test(String(l.msg)));
    assert.deepEqual(failures.map((l) => l.call), [1, 2], 'both calls tried and both logged');
    const done = r.lines.at(-1);
    assert.equal(done?.msg, 'done');
    assert.deepEqual([done?.calls, done?.ok, done?.failed], [2, 0, 2]);
  });

  it('--keep-going with every call answered: failed 0, exit 0', async () => {
    const r = await runClient(dirs.client, server.port, ['--loop', '2', '--interval', '50', '--keep-going']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(r.lines.map((l) => l.msg), ['response', 'response', 'done']);
    assert.equal(r.lines[2]?.failed, 0);
  });

  it('a client without a certificate (trust bundle only) is refused: exit 1, one clear line', async () => {
    const r = await runClient(dirs.noCert, server.port);
    assert.equal(r.code, 1);
    assert.equal(r.lines[0]?.msg, 'no client certificate (no tls.crt/tls.key): connecting without one');
    const last = failure(r.lines);
    assert.match(last.msg, /alert certificate required.*; the server requires a client certificate and we have none/);
    assert.equal(last.code, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
    await server.waitFor((l) => l.msg === 'client refused' && l.code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE');
  });

  it('a client whose certificate comes from another root is refused, though it claims the right SPIFFE ID', async () => {
    const before = server.lines.filter((l) => l.msg === 'request').length;
    const r = await runClient(dirs.otherRoot, server.port);
    assert.equal(r.code, 1);
    const last = failure(r.lines);
    assert.match(last.msg, /did not accept our client certificate/);
    await server.waitFor((l) => l.msg === 'client refused' && /not trusted/.test(String(l.error)));
    assert.equal(server.lines.filter((l) => l.msg === 'request').length, before, 'no request got through');
  });

  it('the client refuses a server that is not from its trust bundle', async () => {
    const r = await runClient(dirs.trustsOtherRoot, server.port);
    assert.equal(r.code, 1);
    const last = failure(r.lines);
    assert.match(last.msg, /not issued by a CA in our trust bundle/);
  });

  it('the client refuses a server whose SPIFFE ID is not MTLS_EXPECT_SERVER_ID', async () => {
    const other = 'spiffe://cluster.local/ns/demo/sa/someone-else';
    const r = await runClient(dirs.client, server.port, [], { MTLS_EXPECT_SERVER_ID: other });
    assert.equal(r.code, 1);
    const last = failure(r.lines);
    assert.equal(last.code, 'ERR_SPIFFE_ID_MISMATCH');
    assert.match(last.msg, new RegExp(`server SPIFFE ID is ${SERVER_ID}, expected ${other}`));
  });

  it('the server reloads a renewed certificate rewritten in place, without restarting', async () => {
    const pid = server.pid;
    const renewed = await issue(ca, SERVER_ID, SERVER_NAMES);
    // written one file after the other, as a careless writer would: the half-written state
    // (new certificate, old key) is skipped, the complete one loaded
    await writeFile(join(dirs.server, 'tls.crt'), renewed.certChainPem);
    await new Promise((r) => setTimeout(r, 150));
    await writeFile(join(dirs.server, 'tls.key'), renewed.keyPem);
    const reloaded = await server.waitFor((l) => l.msg === 'certificate reloaded' && l.serial === renewed.serialNumber);
    assert.equal(reloaded.previousSerial, serverId.serialNumber);
    const r = await runClient(dirs.client, server.port, [], { MTLS_EXPECT_SERVER_ID: SERVER_ID });
    assert.equal(r.code, 0, r.stdout);
    assert.equal(r.lines[0]?.serverSerial, renewed.serialNumber, 'the next connection presents the new certificate');
    assert.ok(server.running);
    assert.equal(server.pid, pid);
    assert.equal(server.lines.filter((l) => l.msg === 'listening').length, 1, 'started once');
    serverId = renewed;
  });

  it('the server reloads after a kubelet-style atomic update (..data symlink swap), by watching', async () => {
    // /var/run/mtls/tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>/ : the kubelet writes a
    // new timestamped directory and renames a new ..data link over the old one
    const dir = join(tmp, 'kubelet');
    await writeIdentity(join(dir, '..2026_01_01_00_00_00.1'), serverId, ca.bundlePem);
    await symlink('..2026_01_01_00_00_00.1', join(dir, '..data'));
    for (const f of ['tls.crt', 'tls.key', 'ca.crt']) await symlink(join('..data', f), join(dir, f));
    const kubeletServer = await DemoServer.start(dir, 600_000); // the interval never fires here
    try {
      const first = await runClient(dirs.client, kubeletServer.port);
      assert.equal(first.lines[0]?.serverSerial, serverId.serialNumber);
      const renewed = await issue(ca, SERVER_ID, SERVER_NAMES);
      await writeIdentity(join(dir, '..2026_01_01_01_00_00.2'), renewed, ca.bundlePem);
      await symlink('..2026_01_01_01_00_00.2', join(dir, '..data_tmp'));
      await rename(join(dir, '..data_tmp'), join(dir, '..data'));
      await rm(join(dir, '..2026_01_01_00_00_00.1'), { recursive: true });
      const reloaded = await kubeletServer.waitFor((l) => l.msg === 'certificate reloaded');
      assert.equal(reloaded.serial, renewed.serialNumber);
      assert.equal(reloaded.trigger, 'watch');
      const next = await runClient(dirs.client, kubeletServer.port);
      assert.equal(next.code, 0, next.stdout);
      assert.equal(next.lines[0]?.serverSerial, renewed.serialNumber);
    } finally {
      assert.equal(await kubeletServer.stop(), 0, 'SIGTERM: exit 0');
    }
  });

  it('the client reads its files afresh for every call of a loop (a renewed client certificate is used at once)', async () => {
    const dir = await writeIdentity(join(tmp, 'client-renewing'), clientId, ca.bundlePem);
    const renewed = await issue(ca, CLIENT_ID);
    const seen = server.lines.length;
    const running = runClient(dir, server.port, ['--loop', '2', '--interval', '1500']);
    await server.waitFor((l) => l.msg === 'request' && server.lines.indexOf(l) >= seen); // the first call
    await writeIdentity(dir, renewed, ca.bundlePem);
    const r = await running;
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(r.lines.filter((l) => l.msg === 'response').map((l) => l.clientSerial), [clientId.serialNumber, renewed.serialNumber]);
  });

  it('without its files the server stops with one line naming the missing file (exit 1)', async () => {
    const r = await run(['server', '--port', '0', '--listen', '127.0.0.1'], join(tmp, 'nothing-here'));
    assert.equal(r.code, 1);
    assert.equal(r.lines.length, 1);
    assert.equal(r.lines[0]?.level, 'error');
    assert.match(r.lines[0]!.msg, /^demo server failed: .*nothing-here\/ca\.crt not found: mount the identity's Secret/);
  });

  it('bad command lines exit 2 with the usage on stderr', async () => {
    for (const args of [[], ['serve'], ['client', '--bogus'], ['client', '--loop', 'many']]) {
      const r = await run(args, dirs.client);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /^demo: .*\nusage: main\.js server/);
    }
  });

  it('no output of either program carries key material', () => {
    const text = allOutput.join('\n');
    assert.ok(text.length > 0);
    assert.doesNotMatch(text, /PRIVATE KEY/);
    const keyBody = (pem: string) => pem.split('\n').filter((l) => l && !l.startsWith('-----'))[0]!;
    assert.ok(!text.includes(keyBody(clientId.keyPem)));
    assert.ok(!text.includes(keyBody(serverId.keyPem)));
  });
});
