/**
 * Issue 11 (memory): the image runs the esbuild bundle (scripts/bundle.mjs), not dist/ with node_modules. Built here
 * as the Dockerfile builds it, the bundle starts (--help), its keystore worker builds a PKCS#12 in a worker thread
 * as the operator starts it (new URL('./keystore-worker.js', import.meta.url) beside main.js), and the Dockerfile
 * runs what this builds.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { generateRootCA } from '../../src/pki/index.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OUT = '.test-dist/bundle';

describe('the esbuild bundle the image runs (issue 11)', function () {
  this.timeout(120_000);
  before(() => {
    const r = spawnSync(process.execPath, ['scripts/bundle.mjs', `--outdir=${OUT}`], { cwd: ROOT, encoding: 'utf8', timeout: 110_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
  after(() => rmSync(join(ROOT, OUT), { recursive: true, force: true }));

  it('has main.js and keystore-worker.js side by side, one file each, without source maps', () => {
    for (const f of ['main.js', 'keystore-worker.js']) assert.ok(existsSync(join(ROOT, OUT, f)), f);
    assert.ok(!existsSync(join(ROOT, OUT, 'main.js.map')));
    const main = readFileSync(join(ROOT, OUT, 'main.js'), 'utf8');
    assert.doesNotMatch(main, /from ["']@kubernetes\/client-node["']|from ["']undici["']/, 'client-node and undici are inside the bundle');
  });

  it('starts: --help prints the flags and exits 0', () => {
    const r = spawnSync(process.execPath, [join(OUT, 'main.js'), '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /--event-burst/);
  });

  it('its keystore worker builds a PKCS#12 in a worker thread', async () => {
    const root = await generateRootCA({ now: new Date(), commonName: 'bundle test' });
    const reply = await new Promise<{ ok: boolean; keystore?: Uint8Array; message?: string }>((resolve, reject) => {
      const w = new Worker(join(ROOT, OUT, 'keystore-worker.js'), {
        workerData: { keyPem: root.keyPem, certChainPem: root.certPem, caPem: root.certPem, password: 'changeit-123', profile: 'modern' },
      });
      w.once('message', (m) => { void w.terminate(); resolve(m); });
      w.once('error', reject);
    });
    assert.equal(reply.ok, true, reply.message);
    assert.equal(reply.keystore![0], 0x30, 'a DER PFX');
  });

  it('the Dockerfile builds it with this script and runs dist/bundle/main.js', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /node scripts\/bundle\.mjs/);
    assert.match(dockerfile, /ENTRYPOINT \["\/usr\/local\/bin\/node", "dist\/bundle\/main\.js"\]/);
  });
});
