// mocha's spec reporter, plus one closing line any CI can read: "N passed, N failed, N skipped", and before it how
// many tests ran against the real kube-apiserver (the files under test/real/).
'use strict';
const Mocha = require('mocha');
const path = require('node:path');

const { EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING } = Mocha.Runner.constants;
const REAL = `${path.sep}test${path.sep}real${path.sep}`;

class SpecWithSummary extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const real = { passed: 0, failed: 0, skipped: 0 };
    const isReal = (test) => typeof test.file === 'string' && test.file.includes(REAL);
    runner.on(EVENT_TEST_PASS, (t) => isReal(t) && real.passed++);
    runner.on(EVENT_TEST_FAIL, (t) => isReal(t) && real.failed++);
    runner.on(EVENT_TEST_PENDING, (t) => isReal(t) && real.skipped++);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats;
      process.stdout.write(`\nagainst the real kube-apiserver (test/real): ${real.passed} passed, ${real.failed} failed, ${real.skipped} skipped\n`);
      process.stdout.write(`tests: ${s.passes} passed, ${s.failures} failed, ${s.pending} skipped\n`);
    });
  }
}
module.exports = SpecWithSummary;
