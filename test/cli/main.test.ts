import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { harness } from './helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/kubectl-mtls.js', import.meta.url));

describe('kubectl mtls: command line', () => {
  it('--help and no arguments', async () => {
    const h = harness();
    const help = await h.run('--help');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^kubectl mtls: manage mtls-operator identities/);
    for (const c of ['status', 'renew', 'inspect', 'init-root', 'issue', 'rotate-root']) assert.match(help.stdout, new RegExp(`\\n  ${c} `));
    const none = await h.run();
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^kubectl mtls: manage/);
  });

  it('each command has --help, and `help <command>` too', async () => {
    const h = harness();
    for (const c of ['status', 'renew', 'inspect', 'init-root', 'issue', 'rotate-root']) {
      const r = await h.run(c, '--help');
      assert.equal(r.code, 0, c);
      assert.match(r.stdout, new RegExp(`^Usage: kubectl mtls ${c}`), c);
    }
    assert.match((await h.run('help', 'renew')).stdout, /^Usage: kubectl mtls renew/);
  });

  it('an unknown command: exit 2, one line', async () => {
    const r = await harness().run('frobnicate', 'x');
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'error: unknown command "frobnicate" (commands: status, renew, inspect, init-root, issue, rotate-root)\n');
  });

  it('an unknown flag: exit 2, one line naming it', async () => {
    const r = await harness().run('renew', 'web', '--force');
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "error: Unknown option '--force' (see kubectl mtls --help)\n");
    const o = await harness().run('status', 'web', '-o', 'wide');
    assert.equal(o.code, 2);
    assert.equal(o.stderr, 'error: -o wide: use json or yaml (see kubectl mtls --help)\n');
  });

  it('global flags may come before the command', async () => {
    const h = harness();
    const r = await h.run('-n', 'team-b', 'status', 'web');
    assert.equal(r.stderr, 'error: MutualTLSIdentity team-b/web not found\n');
  });

  it('-o json output parses', async () => {
    const r = await harness().run('init-root', '--dry-run', '-o', 'json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).kind, 'Secret');
  });
});

describe('bin/kubectl-mtls.js', function () {
  this.timeout(60_000);
  it('runs --help under Node 24 (the running node)', () => {
    assert.ok(Number(process.versions.node.split('.')[0]) >= 24, 'tests run on Node 24');
    const r = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^kubectl mtls: manage mtls-operator identities/);
  });

  it('is executable with a node shebang', () => {
    const r = spawnSync('head', ['-1', BIN], { encoding: 'utf8' });
    assert.equal(r.stdout, '#!/usr/bin/env node\n');
    assert.ok(existsSync(BIN));
  });

  it('a cluster command without a usable kubeconfig fails with one line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtls-cli-bin-'));
    try {
      const kubeconfig = join(dir, 'config');
      writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
      const r = spawnSync(process.execPath, [BIN, 'status', 'web', '--kubeconfig', kubeconfig], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 1, r.stderr);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
      assert.match(r.stderr, /^error: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an old node with a clear message (when one is on this machine)', function () {
    const old = ['/usr/bin/node', '/usr/local/bin/node'].find((p) => {
      if (!existsSync(p)) return false;
      const v = spawnSync(p, ['--version'], { encoding: 'utf8' }).stdout.trim();
      return Number(v.slice(1).split('.')[0]) < 24;
    });
    if (!old) this.skip();
    const r = spawnSync(old!, [BIN, '--help'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^error: kubectl-mtls needs Node.js 24 or newer; .* is v\d+/);
  });
});
