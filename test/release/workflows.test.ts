/** The GitHub workflows pass actionlint (built from the Go module proxy by test/tools/actionlint.sh). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const lint = (args: string[], input?: string) =>
  spawnSync('bash', ['test/tools/actionlint.sh', ...args], { encoding: 'utf8', timeout: 1_500_000, ...(input !== undefined ? { input } : {}) });

describe('GitHub workflows (actionlint)', function () {
  this.timeout(1_800_000); // the first run builds actionlint
  before(function () {
    const v = lint(['-version']);
    if (v.status !== 0) {
      const why = `actionlint cannot be built here: ${v.stderr.trim().split('\n').pop()}`;
      if (process.env.CI === 'true' || process.env.MTLS_REQUIRE_CONTROLPLANE === '1') throw new Error(why);
      process.stdout.write(`workflow lint skipped: ${why}\n`);
      this.skip();
    }
  });

  it('ci.yaml and release.yaml have no findings', () => {
    const r = lint([]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
  });

  it('a broken workflow is reported (the lint can fail)', () => {
    const r = lint(['-stdin-filename', 'broken.yaml', '-'], 'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n');
    assert.notEqual(r.status, 0);
    assert.match(r.stdout, /broken.yaml:6:.*nope/);
  });
});
