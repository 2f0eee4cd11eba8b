/**
 * Issue 21 point 1: the release assets as release/assets.sh builds them (the release workflow
 * runs it on a tag): the one-file install manifest (CRD + deploy/, image by digest), and the
 * plugin archive with its krew manifest. The chart part is covered by test/chart/.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { helmPath } from '../chart/helm.ts';

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
type Obj = { kind: string; metadata: { name: string; namespace?: string }; spec?: { template?: { spec: { containers: { image: string }[] } } } };
const docs = (text: string): Obj[] => parseAllDocuments(text).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null);

describe('release/assets.sh', function () {
  this.timeout(300_000);
  let out: string;
  beforeEach(() => {
    out = mkdtempSync(join(tmpdir(), 'mtls-release-'));
  });
  afterEach(() => rmSync(out, { recursive: true, force: true }));

  it('mtls-operator.yaml: every object of kubectl kustomize deploy/ (CRD included), the image pinned by digest', () => {
    const r = spawnSync('bash', ['release/assets.sh', out, '1.2.3', DIGEST], { encoding: 'utf8', env: { ...process.env, PARTS: 'manifest' } });
    assert.equal(r.status, 0, r.stderr);
    const manifest = docs(readFileSync(join(out, 'mtls-operator.yaml'), 'utf8'));
    const kust = docs(execFileSync('kubectl', ['kustomize', 'deploy'], { encoding: 'utf8' }));
    const key = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    assert.deepEqual(manifest.map(key).sort(), kust.map(key).sort());
    assert.ok(manifest.some((o) => o.kind === 'CustomResourceDefinition'));
    const image = manifest.find((o) => o.kind === 'Deployment')!.spec!.template!.spec.containers[0]!.image;
    assert.equal(image, `ghcr.io/mtls-dev/mtls-operator@${DIGEST}`);
    const sums = readFileSync(join(out, 'SHA256SUMS'), 'utf8');
    assert.equal(sums, `${createHash('sha256').update(readFileSync(join(out, 'mtls-operator.yaml'))).digest('hex')}  mtls-operator.yaml\n`);
  });

  it('refuses a version with a v or a malformed digest (exit 2, one line)', () => {
    const v = spawnSync('bash', ['release/assets.sh', out, 'v1.2.3'], { encoding: 'utf8', env: { ...process.env, PARTS: 'manifest' } });
    assert.equal(v.status, 2);
    assert.match(v.stderr, /^error: VERSION must be semver without v/);
    const d = spawnSync('bash', ['release/assets.sh', out, '1.2.3', 'latest'], { encoding: 'utf8', env: { ...process.env, PARTS: 'manifest' } });
    assert.equal(d.status, 2);
    assert.match(d.stderr, /^error: IMAGE_DIGEST must be sha256:<64 hex>/);
  });

  it('the chart package: version and appVersion from the release, the CRD inside', function () {
    this.timeout(1_800_000);
    if (!helmPath()) this.skip();
    const r = spawnSync('bash', ['release/assets.sh', out, '1.2.3'], { encoding: 'utf8', env: { ...process.env, PARTS: 'chart' } });
    assert.equal(r.status, 0, r.stderr);
    const tgz = join(out, 'mtls-operator-1.2.3.tgz');
    const chart = parse(execFileSync('tar', ['-xzOf', tgz, 'mtls-operator/Chart.yaml'], { encoding: 'utf8' }));
    assert.equal(chart.version, '1.2.3');
    assert.equal(chart.appVersion, '1.2.3');
    assert.match(execFileSync('tar', ['-tzf', tgz], { encoding: 'utf8' }), /^mtls-operator\/files\/crds\/mtls.dev_mutualtlsidentities.yaml$/m);
  });

  it('the plugin archive runs from where krew unpacks it, and mtls.yaml names its sha256', function () {
    // npm ci --omit=dev from npm's cache (offline): the archive carries production dependencies only.
    const r = spawnSync('bash', ['release/assets.sh', out, '1.2.3'], { encoding: 'utf8', env: { ...process.env, PARTS: 'plugin', npm_config_offline: 'true' }, timeout: 280_000 });
    assert.equal(r.status, 0, r.stderr);
    const tgz = join(out, 'kubectl-mtls-1.2.3.tar.gz');
    const krew = parse(readFileSync(join(out, 'mtls.yaml'), 'utf8'));
    assert.equal(krew.kind, 'Plugin');
    assert.equal(krew.metadata.name, 'mtls');
    assert.equal(krew.spec.version, 'v1.2.3');
    const platform = krew.spec.platforms[0];
    assert.equal(platform.sha256, createHash('sha256').update(readFileSync(tgz)).digest('hex'));
    assert.match(platform.uri, /\/releases\/download\/v1\.2\.3\/kubectl-mtls-1\.2\.3\.tar\.gz$/);
    const unpacked = join(out, 'unpacked');
    execFileSync('mkdir', ['-p', unpacked]);
    execFileSync('tar', ['-xzf', tgz, '-C', unpacked]);
    const list = execFileSync('tar', ['-tzf', tgz], { encoding: 'utf8' });
    assert.match(list, /^kubectl-mtls\/node_modules\/@kubernetes\/client-node\/package.json$/m);
    assert.doesNotMatch(list, /node_modules\/(typescript|mocha)\//, 'no dev dependencies');
    // krew copies kubectl-mtls/* and links spec.bin; run that file as the link would.
    const help = spawnSync(process.execPath, [join(unpacked, 'kubectl-mtls', platform.bin), '--help'], { encoding: 'utf8', cwd: tmpdir() });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^kubectl mtls: manage mtls-operator identities/);
  });
});
