/**
 * test/e2e/kind.sh cannot run here (no Docker engine, no kind): what can be checked is that it
 * parses (bash -n), that shellcheck finds nothing (when installed), and that without its tools
 * it skips with one line and exit 0 (or fails with E2E_REQUIRED=1, as CI sets).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const SCRIPT = fileURLToPath(new URL('../../test/e2e/kind.sh', import.meta.url));
const LOCAL = fileURLToPath(new URL('../../test/e2e/local-node.sh', import.meta.url));
const SHARED = ['scenario.sh', 'scenario-rotation.sh', 'scenario-restart.sh', 'scenario-podcert.sh', 'local-node/cluster.sh', 'local-node/images.sh']
  .map((f) => fileURLToPath(new URL(`../../test/e2e/${f}`, import.meta.url)));

function which(tool: string): string | undefined {
  const r = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

describe('test/e2e/kind.sh (without a cluster)', function () {
  this.timeout(60_000);
  const bash = which('bash')!;
  let bin: string;

  /** Runs the script with PATH = `bin` only (plus `env`). */
  const runWith = (env: NodeJS.ProcessEnv = {}) =>
    spawnSync(bash, [SCRIPT], { env: { HOME: process.env.HOME, PATH: bin, ...env }, encoding: 'utf8', timeout: 30_000 });
  const stub = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };

  beforeEach(() => {
    bin = mkdtempSync(join(tmpdir(), 'mtls-e2e-path-'));
  });
  afterEach(() => rmSync(bin, { recursive: true, force: true }));

  it('parses: bash -n', () => {
    execFileSync(bash, ['-n', SCRIPT]);
  });

  it('shellcheck finds nothing', function () {
    if (!which('shellcheck')) this.skip();
    execFileSync('shellcheck', ['-x', SCRIPT], { encoding: 'utf8' });
  });

  it('with none of its tools on PATH: one line saying what is missing, exit 0 (skipped)', () => {
    const r = runWith();
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'e2e: SKIPPED: kind tests need docker, kind, kubectl and openssl; not found on PATH: docker kind kubectl openssl\n');
    assert.equal(r.stderr, '');
  });

  it('names only the tools that are missing (kubectl and openssl present)', () => {
    stub('kubectl', 'exit 0');
    stub('openssl', 'exit 0');
    const r = runWith();
    assert.equal(r.status, 0);
    assert.equal(r.stdout.trim().split('\n').length, 1);
    assert.match(r.stdout, /^e2e: SKIPPED: .*not found on PATH: docker kind\n$/);
  });

  it('with the tools but no Docker engine (docker info fails): skipped, one line', () => {
    for (const t of ['kind', 'kubectl', 'openssl']) stub(t, 'echo "must not run: $0 $*" >&2; exit 3');
    stub('docker', '[ "$1" = info ] && { echo "Cannot connect to the Docker daemon" >&2; exit 1; }; echo "must not run: docker $*" >&2; exit 3');
    const r = runWith();
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "e2e: SKIPPED: kind tests need a running Docker engine: 'docker info' failed\n");
    assert.equal(r.stderr, '', 'nothing else ran');
  });

  it('E2E_REQUIRED=1 (CI): a missing tool is a failure, exit 1', () => {
    const r = runWith({ E2E_REQUIRED: '1' });
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^e2e: FAILED: kind tests need .*not found on PATH: docker kind kubectl openssl \(E2E_REQUIRED=1\)\n$/);
  });

  it('npm run test:e2e runs it', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts['test:e2e'], 'bash test/e2e/kind.sh');
    assert.equal(pkg.scripts['demo'], 'node src/demo/main.ts');
  });
});

describe('.github/workflows/ci.yaml', () => {
  it('unit (node 24, npm ci && npm test) on push and pull_request; e2e after it runs npm run test:e2e with kind, E2E_REQUIRED=1', () => {
    const wf = parse(readFileSync(new URL('../../.github/workflows/ci.yaml', import.meta.url), 'utf8')) as Record<string, any>;
    assert.deepEqual(Object.keys(wf.on).sort(), ['pull_request', 'push']);
    const step = (job: string, pred: (s: Record<string, any>) => boolean) => wf.jobs[job].steps.find(pred);
    assert.equal(wf.jobs.unit['runs-on'], 'ubuntu-latest');
    assert.equal(step('unit', (s) => String(s.uses).startsWith('actions/setup-node@')).with['node-version'], 24);
    assert.ok(step('unit', (s) => s.run === 'npm ci && npm test'));
    assert.equal(wf.jobs.e2e.needs, 'unit');
    assert.equal(wf.jobs.e2e.env.E2E_REQUIRED, '1');
    assert.ok(step('e2e', (s) => /kind version/.test(String(s.run))), 'installs kind');
    assert.ok(step('e2e', (s) => s.run === 'npm run test:e2e'));
  });
});

describe('test/e2e/local-node.sh and the shared scenario (without a node)', function () {
  this.timeout(60_000);
  const bash = which('bash')!;

  it('parses: bash -n, each file', () => {
    for (const f of [LOCAL, ...SHARED]) execFileSync(bash, ['-n', f]);
  });

  it('kind.sh and local-node.sh run the same scenario file', () => {
    for (const driver of [SCRIPT, LOCAL]) {
      assert.match(readFileSync(driver, 'utf8'), /source "\$ROOT\/test\/e2e\/scenario\.sh"/, driver);
      assert.match(readFileSync(driver, 'utf8'), /^run_scenario$/m, driver);
    }
  });

  it('with nothing on PATH: one line, exit 0 (skipped); with CI=true: a failure, exit 1', function () {
    if (process.getuid?.() !== 0) this.skip(); // not root: it stops earlier, at the root check (same shape)
    const empty = mkdtempSync(join(tmpdir(), 'mtls-e2e-path-'));
    try {
      const r = spawnSync(bash, [LOCAL], { env: { HOME: process.env.HOME, PATH: empty }, encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim().split('\n').length, 1);
      assert.match(r.stdout, /^local-node e2e: SKIPPED: needs on PATH: kubectl openssl node npm go ip unshare mount realpath$/m);
      const ci = spawnSync(bash, [LOCAL], { env: { HOME: process.env.HOME, PATH: empty, CI: 'true' }, encoding: 'utf8', timeout: 30_000 });
      assert.equal(ci.status, 1);
      assert.match(ci.stderr, /FAILED: needs on PATH: .*\(CI=true or E2E_REQUIRED=1: no skipping\)/);
      assert.equal(ci.stdout, '');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
