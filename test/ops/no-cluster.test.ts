/** `npm start` with no cluster configured: one line saying so and how to point at one, exit 1 (not a retry loop). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadKubeConfig, NoClusterError } from '../../src/adapter/kubeconfig.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('no cluster configured', () => {
  it('loadKubeConfig refuses when there is no KUBECONFIG, no ~/.kube/config and no service account', () => {
    assert.throws(() => loadKubeConfig({ env: {}, home: '/nonexistent', exists: () => false }), NoClusterError);
    // A pod (service host + token) is a cluster.
    assert.throws(
      () => loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, home: '/nonexistent', exists: () => false }),
      NoClusterError,
    );
  });

  it('the operator process prints one line naming KUBECONFIG, kind and npm run local, and exits 1', function () {
    this.timeout(60_000);
    const home = mkdtempSync(join(tmpdir(), 'mtls-nohome-'));
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
      delete env.KUBECONFIG;
      delete env.KUBERNETES_SERVICE_HOST;
      const res = spawnSync(process.execPath, ['src/main.ts', '--metrics-port=0', '--metrics-address=127.0.0.1', '--metrics-auth=none'], { cwd: ROOT, env, encoding: 'utf8', timeout: 50_000 });
      assert.equal(res.status, 1, res.stderr);
      const lines = res.stderr.trim().split('\n');
      assert.equal(lines.length, 1, res.stderr);
      assert.match(lines[0]!, /^mtls-operator: no Kubernetes cluster found: .*KUBECONFIG=<file>.*kind.*npm run local/);
      assert.doesNotMatch(res.stdout, /HTTP protocol is not allowed/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
