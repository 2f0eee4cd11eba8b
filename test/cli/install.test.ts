/** Issue 21 point 3: one command puts kubectl-mtls on PATH (package `bin`), and kubectl finds it as `kubectl mtls`. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

const ROOT = process.cwd();

describe('installing the kubectl plugin', function () {
  this.timeout(120_000);
  let prefix: string;
  before(() => {
    prefix = mkdtempSync(join(tmpdir(), 'mtls-global-'));
  });
  after(() => rmSync(prefix, { recursive: true, force: true }));

  it('npm install -g <checkout> puts kubectl-mtls on PATH; it runs, and kubectl finds it as a plugin', function () {
    // --prefix: a global install into a temporary prefix, as `npm i -g .` or `npm link` does into the real one.
    const npm = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', '--ignore-scripts', ROOT], { encoding: 'utf8', timeout: 100_000 });
    assert.equal(npm.status, 0, npm.stderr);
    const bin = join(prefix, 'bin', 'kubectl-mtls');
    assert.ok(lstatSync(bin).isSymbolicLink(), `${bin} is a link to bin/kubectl-mtls.js`);
    const PATH = [join(prefix, 'bin'), dirname(process.execPath), process.env.PATH].join(delimiter);
    const help = spawnSync('kubectl-mtls', ['--help'], { encoding: 'utf8', env: { ...process.env, PATH }, timeout: 30_000 });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^kubectl mtls: manage mtls-operator identities/);
    const kubectl = spawnSync('kubectl', ['plugin', 'list'], { encoding: 'utf8', env: { ...process.env, PATH }, timeout: 30_000 });
    if (kubectl.error) this.skip(); // no kubectl on this machine
    assert.match(kubectl.stdout, /kubectl-mtls/);
    const viaKubectl = spawnSync('kubectl', ['mtls', '--help'], { encoding: 'utf8', env: { ...process.env, PATH }, timeout: 30_000 });
    assert.equal(viaKubectl.status, 0, viaKubectl.stderr);
    assert.match(viaKubectl.stdout, /^kubectl mtls: manage mtls-operator identities/);
  });

  it('the package: bin names kubectl-mtls, ships the build (prepack builds it) and not the tests', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    assert.deepEqual(pkg.bin, { 'kubectl-mtls': 'bin/kubectl-mtls.js' });
    assert.equal(pkg.scripts.prepack, 'npm run build');
    const pack = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(pack.status, 0, pack.stderr);
    const files: string[] = JSON.parse(pack.stdout)[0].files.map((f: { path: string }) => f.path);
    assert.ok(files.includes('bin/kubectl-mtls.js'), files.join(' '));
    assert.ok(files.includes('crds/mtls.dev_mutualtlsidentities.yaml'));
    assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('src/')), 'no tests, no sources (the build is shipped)');
  });
});
