import assert from 'node:assert/strict';
import { KeyObject } from 'node:crypto';
import type { KeyParams } from '../../src/pki/index.ts';
import { generateKey, keyParamsOf } from '../../src/pki/index.ts';
import { ED25519, label, P256, P384, RSA2048 } from './helpers.ts';

/** Runs `work` while a 10 ms interval ticks; returns the largest gap between ticks and the duration. */
async function tickGaps(work: () => Promise<unknown>): Promise<{ maxGap: number; elapsed: number; ticks: number }> {
  let last = performance.now();
  let maxGap = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const t = performance.now();
    maxGap = Math.max(maxGap, t - last);
    last = t;
    ticks++;
  }, 10);
  const start = performance.now();
  try {
    await new Promise((r) => setTimeout(r, 30)); // let the interval settle
    await work();
    await new Promise((r) => setTimeout(r, 30)); // a tick after the work
  } finally {
    clearInterval(timer);
  }
  return { maxGap, elapsed: performance.now() - start - 60, ticks };
}

describe('generateKey', () => {
  const cases: Array<[KeyParams, string, Record<string, unknown>]> = [
    [P256, 'ec', { namedCurve: 'prime256v1' }],
    [P384, 'ec', { namedCurve: 'secp384r1' }],
    [ED25519, 'ed25519', {}],
    [RSA2048, 'rsa', { modulusLength: 2048, publicExponent: 65537n }],
  ];
  for (const [params, type, details] of cases) {
    it(`generates an extractable ${label(params)} key pair`, async () => {
      const pair = await generateKey(params);
      assert.equal(pair.privateKey.extractable, true);
      assert.equal(pair.privateKey.type, 'private');
      assert.equal(pair.publicKey.type, 'public');
      assert.deepEqual(pair.privateKey.usages, ['sign']);
      const ko = KeyObject.from(pair.privateKey);
      assert.equal(ko.asymmetricKeyType, type);
      assert.deepEqual(ko.asymmetricKeyDetails, details);
      assert.deepEqual(keyParamsOf(ko), params);
      assert.deepEqual(keyParamsOf(KeyObject.from(pair.publicKey)), params);
    });
  }

  it('refuses sizes and algorithms it does not issue', async () => {
    await assert.rejects(generateKey({ algorithm: 'ECDSA', size: 521 }), /unsupported ECDSA key size 521/);
    await assert.rejects(generateKey({ algorithm: 'RSA', size: 1024 }), /unsupported RSA key size 1024/);
    await assert.rejects(generateKey({ algorithm: 'DSA' as 'RSA', size: 2048 }), /unsupported key algorithm DSA/);
  });

  it('does not block the event loop, even for RSA-4096', async function () {
    this.timeout(60_000);
    // control: the probe does see a blocked loop
    const blocked = await tickGaps(async () => {
      const end = performance.now() + 150;
      while (performance.now() < end);
    });
    assert.ok(blocked.maxGap >= 140, `probe detects a 150 ms block (max gap ${blocked.maxGap.toFixed(1)} ms)`);

    let keys = 0;
    const probe = await tickGaps(async () => {
      const start = performance.now();
      do {
        const pair = await generateKey({ algorithm: 'RSA', size: 4096 });
        assert.equal(KeyObject.from(pair.publicKey).asymmetricKeyDetails?.modulusLength, 4096);
        keys++;
      } while (performance.now() - start < 300);
    });
    assert.ok(probe.elapsed >= 300);
    assert.ok(probe.maxGap < 100, `max gap ${probe.maxGap.toFixed(1)} ms over ${probe.elapsed.toFixed(0)} ms (${keys} keys)`);
    assert.ok(probe.maxGap < probe.elapsed / 3, 'gaps are far below the generation time');
    assert.ok(probe.ticks >= probe.elapsed / 10 / 2, `${probe.ticks} ticks in ${probe.elapsed.toFixed(0)} ms`);
  });
});
