/** The entry point as a child process: flag errors, --help, and a whole start/SIGTERM cycle. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MAIN = 'src/main.ts';

function runMain(args: string[]) {
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, KUBECONFIG: '/nonexistent' } });
}

describe('main (child process)', () => {
  it('a bad flag exits 2 with one line naming it', () => {
    const r = runMain(['--workers=0']);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'mtls-operator: --workers (MTLS_WORKERS): "0" must be a whole number from 1 to 64\n');
  });

  it('leader-election timings are checked against each other; durations are Go-style', function () {
    this.timeout(120_000); // seven child processes, one after another: slow on a loaded machine
    for (const [args, line] of [
      [['--leader-election-renew-deadline=60s'], /^mtls-operator: --leader-election-renew-deadline \(MTLS_LEADER_ELECTION_RENEW_DEADLINE\): "60s" must be shorter than --leader-election-lease-duration \(60s\)\n$/],
      [['--leader-election-retry-period=45s'], /^mtls-operator: --leader-election-retry-period .*must be shorter than --leader-election-renew-deadline \(40s\)\n$/],
      [['--shutdown-grace=20'], /^mtls-operator: --shutdown-grace \(MTLS_SHUTDOWN_GRACE\): "20" is not a duration such as 15s, 1m or 500ms\n$/],
      [['--leader-elect=yes'], /^mtls-operator: --leader-elect .*must be true or false\n$/],
      [['--metrics-port=70000'], /^mtls-operator: --metrics-port .*from 0 to 65535\n$/],
      [['--metrics-address=localhost'], /^mtls-operator: --metrics-address .*not an IP address\n$/],
      [['--name-policy-file=/nonexistent/policy.yaml'], /^mtls-operator: --name-policy-file \(MTLS_NAME_POLICY_FILE\): \/nonexistent\/policy.yaml cannot be read: ENOENT\n$/],
    ] as const) {
      const r = runMain([...args]);
      assert.equal(r.status, 2, args.join(' '));
      assert.match(r.stderr, line);
    }
  });

  it('an unreadable kubeconfig exits 1 with one line naming it', () => {
    const r = runMain(['--metrics-port=0']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, "mtls-operator: cannot load the kubeconfig (KUBECONFIG=/nonexistent): ENOENT: no such file or directory, open '/nonexistent'\n");
  });

  it('--help lists the new flags and exits 0', () => {
    const r = runMain(['--help']);
    assert.equal(r.status, 0);
    for (const flag of ['--leader-elect', '--leader-election-lease-duration', '--metrics-port', '--shutdown-grace']) assert.ok(r.stdout.includes(flag), flag);
  });

  describe('a standby against an apiserver that refuses everything', () => {
    let api: Server;
    const seen: string[] = [];

    before(async () => {
      api = createServer((req, res) => {
        seen.push(`${req.method} ${req.url}`);
        res.writeHead(503, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 503, reason: 'ServiceUnavailable', message: 'not today' }));
      });
      await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    });
    after(() => new Promise<void>((r) => api.close(() => r())));

    it('serves /readyz (standby) and /healthz, then exits 0 on SIGTERM', async function () {
      this.timeout(90_000); // a process start took 12-16 s on the loaded machine
      const dir = mkdtempSync(join(tmpdir(), 'mtls-main-'));
      const kubeconfig = join(dir, 'config');
      const server = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
      writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: t, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]\nusers: [{name: t, user: {token: x}}]\ncontexts: [{name: t, context: {cluster: t, user: t}}]\ncurrent-context: t\n`);
      const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kubeconfig, POD_NAME: 'test-pod' };
      delete env.KUBERNETES_SERVICE_HOST;
      const child = spawn(process.execPath, [MAIN, '--leader-elect=true', '--metrics-address=127.0.0.1', '--metrics-port=0', '--metrics-auth=none', '--shutdown-grace=1s'], { env });
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      let out = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (c: string) => (out += c));
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no listening line:\n${out}`)), 60_000);
        child.stdout.on('data', () => {
          const m = /"port":(\d+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(Number(m[1]));
          }
        });
      });
      const deadline = Date.now() + 10_000;
      while (!seen.some((s) => s.includes('/leases/mtls-operator')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(seen.includes('GET /apis/coordination.k8s.io/v1/namespaces/mtls-system/leases/mtls-operator'), seen.join('\n'));
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      assert.equal(ready.status, 200);
      assert.match(await ready.text(), /standby/);
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
      assert.match(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), /^mtls_leader 0$/m);
      assert.ok(!seen.some((s) => s.includes('mutualtlsidentities')), seen.join('\n'));

      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.match(out, /"message":"stopped"/);
      assert.doesNotMatch(out, /PRIVATE KEY/);
    });
  });
});
