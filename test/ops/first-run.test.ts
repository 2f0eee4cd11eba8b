/**
 * Issue 21 points 5-7, the operator's side: messages that say what to do (a kubeconfig without a
 * cluster, a taken metrics port), stopping before the first sync at once, and an old Node.js
 * refused with one line by the built entry point (node dist/main.js, as the image runs it).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MAIN = 'src/main.ts';

function kubeconfigFor(dir: string, server: string): string {
  const file = join(dir, 'config');
  writeFileSync(file, `apiVersion: v1\nkind: Config\nclusters: [{name: t, cluster: {server: "${server}"}}]\nusers: [{name: t, user: {token: x}}]\ncontexts: [{name: t, context: {cluster: t, user: t}}]\ncurrent-context: t\n`);
  return file;
}

function envWith(kubeconfig: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kubeconfig };
  delete env.KUBERNETES_SERVICE_HOST;
  return env;
}

describe('operator first run: messages and stopping', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mtls-first-run-op-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a kubeconfig with no clusters: one line saying what to do (not "No active cluster!"), exit 1', () => {
    const kubeconfig = join(dir, 'empty');
    writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
    const r = spawnSync(process.execPath, [MAIN, '--metrics-port=0', '--metrics-auth=none'], { encoding: 'utf8', timeout: 20_000, env: envWith(kubeconfig) });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^mtls-operator: the kubeconfig \\(KUBECONFIG=${kubeconfig.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\) has no cluster for its current context "\\(none\\)": point KUBECONFIG at a kubeconfig with a cluster .*npm run local\\n$`));
    assert.doesNotMatch(r.stderr, /No active cluster/);
  });

  it('a taken metrics port: one line naming --metrics-port, exit 1', async () => {
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as AddressInfo).port;
    try {
      const kubeconfig = kubeconfigFor(dir, 'http://127.0.0.1:9');
      const r = spawnSync(process.execPath, [MAIN, '--metrics-address=127.0.0.1', `--metrics-port=${port}`, '--metrics-auth=none'], { encoding: 'utf8', timeout: 20_000, env: envWith(kubeconfig) });
      assert.equal(r.status, 1, r.stderr);
      assert.equal(r.stderr, `mtls-operator: --metrics-port (MTLS_METRICS_PORT): 127.0.0.1:${port} is already in use (another operator running?): choose another with --metrics-port=PORT (0: any free port)\n`);
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
  });

  it('Ctrl-C before the first sync (API server unreachable): exits 0 at once, no "list failed" after it', async () => {
    // A port nothing listens on: every list fails with ECONNREFUSED.
    const closed: Server = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const kubeconfig = kubeconfigFor(dir, `http://127.0.0.1:${deadPort}`);
    const child = spawn(process.execPath, [MAIN, '--metrics-address=127.0.0.1', '--metrics-port=0', '--metrics-auth=none', '--shutdown-grace=20s'], { env: envWith(kubeconfig) });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (c: string) => (out += c));
    const deadline = Date.now() + 20_000;
    while (!/list failed/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(out, /list failed/, out);
    const t0 = performance.now();
    child.kill('SIGINT');
    assert.equal(await exited, 0, out);
    const ms = performance.now() - t0;
    assert.ok(ms < 3_000, `took ${Math.round(ms)} ms (the grace is 20 s)`);
    const after = out.slice(out.indexOf('"shutting down"'));
    assert.doesNotMatch(after, /list failed/);
    assert.doesNotMatch(out, /controller failed to start/);
    assert.match(after, /"message":"stopped"/);
  });

  it('node dist/main.js --help on a Node.js older than 24: one line, exit 1 (when one is on this machine)', function () {
    const old = ['/usr/bin/node', '/usr/local/bin/node'].find((p) => existsSync(p) && Number(spawnSync(p, ['--version'], { encoding: 'utf8' }).stdout.trim().slice(1).split('.')[0]) < 24);
    if (!old) this.skip();
    this.timeout(180_000);
    // The build as the image has it, into a directory inside the checkout (node_modules resolves).
    const out = '.test-dist/first-run';
    const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json', '--outDir', out], { encoding: 'utf8', timeout: 170_000 });
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
    try {
      const r = spawnSync(old!, [join(out, 'main.js'), '--help'], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 1, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^mtls-operator: needs Node.js 24 or newer; \S+ is v\d+\.\d+\.\d+\n$/);
      const ok = spawnSync(process.execPath, [join(out, 'main.js'), '--help'], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(ok.status, 0, ok.stderr);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
