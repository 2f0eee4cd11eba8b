/**
 * Issue 19, point 2, played by a hostile tenant: a huge keystore password is refused before any
 * KDF runs, and the KDF of a legal one runs off the event loop.
 */
import assert from 'node:assert/strict';
import type { Secret } from '../../src/api/types.ts';
import {
  buildOutputData, buildOutputDataOffThread, KEYSTORE_P12, KEYSTORE_PASSWORD_MAX_LENGTH, REASON_KEYSTORE_PASSWORD_INVALID,
  resolveKeystoreSpec, usablePassword,
} from '../../src/outputs/index.ts';
import { buildKeystoresOffThread } from '../../src/outputs/off-thread.ts';
import { KeystoreError } from '../../src/outputs/pkcs12.ts';
import type { IssuedCertificate } from '../../src/pki/index.ts';
import { chain, leaf, P256 } from './helpers.ts';

const REF = { name: 'app-keystore', key: 'password' };
const spec = (profile: 'Modern' | 'Legacy') =>
  resolveKeystoreSpec({ keystores: { pkcs12: { enabled: true, passwordSecretRef: REF, profile } } });
const secretWith = (password: string): Secret => ({
  metadata: { name: REF.name, namespace: 'team-a' },
  data: { password: Buffer.from(password).toString('base64') },
});

/** The longest gap between 5 ms timer ticks while `work` runs: how long the event loop was blocked. */
async function longestStall(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 5);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return worst;
}

describe('hostile tenant: keystore passwords (issue 19, point 2)', () => {
  let pems: IssuedCertificate;
  before(async () => {
    pems = await leaf((await chain()).intermediate, P256);
  });

  it('a 1,000,000-character password is refused at once, before any key derivation', () => {
    const started = performance.now();
    const got = usablePassword(spec('Legacy'), secretWith('a'.repeat(1_000_000)), 'team-a');
    const ms = performance.now() - started;
    assert.ok('reason' in got);
    assert.equal(got.reason, REASON_KEYSTORE_PASSWORD_INVALID);
    assert.match(got.message, new RegExp(`longer than ${KEYSTORE_PASSWORD_MAX_LENGTH} characters`));
    // The KDF over such a password took 1-4.7 s; the refusal is a length check (the bound is loose for a loaded CI machine).
    assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
  });

  it('the bound is exact: 128 characters build, 129 are refused', () => {
    assert.ok(!('reason' in usablePassword(spec('Modern'), secretWith('p'.repeat(128)))));
    assert.ok('reason' in usablePassword(spec('Modern'), secretWith('p'.repeat(129))));
  });

  it('the Legacy KDF with the longest password runs in a worker: the event loop never stalls, the result equals the in-thread one in shape', async () => {
    const input = { outputs: spec('Legacy'), pems, passwordSecret: secretWith('p'.repeat(KEYSTORE_PASSWORD_MAX_LENGTH)) };
    let offThread: Awaited<ReturnType<typeof buildOutputDataOffThread>> | undefined;
    const stall = await longestStall(async () => {
      offThread = await buildOutputDataOffThread(input);
    });
    assert.ok(offThread?.ok, 'built');
    assert.ok(offThread.data[KEYSTORE_P12]!.length > 100);
    const inThread = buildOutputData(input);
    assert.ok(inThread.ok);
    assert.deepEqual(Object.keys(offThread.data).sort(), Object.keys(inThread.data).sort());
    assert.ok(stall < 250, `the event loop stalled ${stall.toFixed(0)} ms`);
  });

  it('point 5: mtls.dev/outputs-hash carries nothing derived from the password (no offline guessing)', () => {
    const existing = { metadata: { name: 'web-mtls', namespace: 'team-a' }, data: {} };
    const served = (password: string, rv: string): Secret => ({ ...secretWith(password), metadata: { name: REF.name, namespace: 'team-a', uid: 'u-1', resourceVersion: rv } });
    // Keystores carry random salts, so the hash differs per build: compare how it is computed instead,
    // by keeping the built keystores and asking whether another password would still match them.
    const first = buildOutputData({ outputs: spec('Modern'), pems, passwordSecret: served('guess-1', '7'), existing });
    assert.ok(first.ok);
    const built = { metadata: { name: 'web-mtls', namespace: 'team-a', annotations: first.annotations }, data: first.data };
    const sameVersionOtherPassword = buildOutputData({ outputs: spec('Modern'), pems, passwordSecret: served('guess-2', '7'), existing: built });
    assert.ok(sameVersionOtherPassword.ok);
    assert.equal(sameVersionOtherPassword.data[KEYSTORE_P12], first.data[KEYSTORE_P12], 'the hash matched without the password: it is not an oracle for it');
    const newVersion = buildOutputData({ outputs: spec('Modern'), pems, passwordSecret: served('guess-1', '8'), existing: built });
    assert.ok(newVersion.ok);
    assert.notEqual(newVersion.data[KEYSTORE_P12], first.data[KEYSTORE_P12], 'a new version of the password Secret rebuilds');
  });

  it('a keystore the worker cannot build is a KeystoreError with its message; a slow one is killed at the deadline', async () => {
    await assert.rejects(
      buildKeystoresOffThread({ keyPem: 'not a key', certChainPem: pems.certChainPem, caPem: pems.caPem, password: 'x', profile: 'modern' }),
      (err: unknown) => err instanceof KeystoreError && /key/i.test(err.message),
    );
    await assert.rejects(
      buildKeystoresOffThread({ keyPem: pems.keyPem, certChainPem: pems.certChainPem, caPem: pems.caPem, password: 'x', profile: 'legacy' }, 1),
      /took longer than 1 ms/,
    );
  });
});
