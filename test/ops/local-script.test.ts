/** npm run local (scripts/local.ts) where the control plane cannot be had: one line saying what to install. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

describe('npm run local without control plane binaries or Go', function () {
  this.timeout(60_000);
  it('exits 1 with one line naming Go and KUBEBUILDER_ASSETS, starting nothing', function () {
    const cache = mkdtempSync(join(tmpdir(), 'mtls-local-cache-'));
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, MTLS_CACHE: cache, PATH: [dirname(process.execPath), '/usr/bin', '/bin'].join(':') };
      delete env.KUBEBUILDER_ASSETS;
      const probe = spawnSync('go', ['version'], { env });
      if (!probe.error) this.skip(); // a go in /usr/bin: this case cannot be set up here
      const r = spawnSync(process.execPath, ['scripts/local.ts'], { encoding: 'utf8', env, timeout: 50_000 });
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.equal(r.stderr, 'npm run local: no control plane binaries and no Go to build them: install Go (https://go.dev/dl/), or set KUBEBUILDER_ASSETS to envtest binaries (setup-envtest use -p path)\n');
      assert.equal(r.stdout, '');
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
