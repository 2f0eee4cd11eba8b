import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { b64, unb64 } from '../../src/controller/secret.ts';
import { KEYSTORE_P12, TLS_COMBINED_PEM, TRUSTSTORE_P12 } from '../../src/outputs/index.ts';
import { startHarness, type Harness } from '../support/harness.ts';

const PASSWORD = 'correct horse battery staple';
const keystores = { pkcs12: { enabled: true, passwordSecretRef: { name: 'web-keystore', key: 'password' } } };

/** The password Secret, opted in for identity web (mtls.dev/keystore-for) unless `optIn` says otherwise. */
function putPassword(h: Harness, value = PASSWORD, optIn: string | null = 'web'): void {
  const annotations = optIn === null ? undefined : { 'mtls.dev/keystore-for': optIn };
  h.cluster.putSecret({ metadata: { name: 'web-keystore', namespace: 'dev', ...(annotations ? { annotations } : {}) }, type: 'Opaque', data: { password: b64(value) } });
}

function ready(h: Harness) {
  return h.cluster.identities.get('dev/web')!.status!.conditions!.find((c) => c.type === 'Ready')!;
}

describe('controller: keystores and extra outputs in the same Secret', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.stop();
  });

  it('writes keystore.p12 and truststore.p12 with the PEM files in one write, and openssl reads them', async () => {
    h = await startHarness();
    putPassword(h);
    h.identity('web', { keystores, additionalOutputFormats: [{ type: 'CombinedPEM' }] });
    await h.settle();
    const s = h.secret('web-mtls')!;
    assert.equal(h.cluster.writesOf('applySecret'), 1, 'one Secret write');
    assert.ok(s.data![KEYSTORE_P12] && s.data![TRUSTSTORE_P12] && s.data![TLS_COMBINED_PEM]);
    assert.match(unb64(s.data![TLS_COMBINED_PEM])!, /^-----BEGIN PRIVATE KEY-----[\s\S]*-----BEGIN CERTIFICATE-----/);
    const dir = mkdtempSync(join(tmpdir(), 'mtls-p12-'));
    try {
      writeFileSync(join(dir, 'k.p12'), Buffer.from(s.data![KEYSTORE_P12]!, 'base64'));
      const out = execFileSync('openssl', ['pkcs12', '-in', join(dir, 'k.p12'), '-nokeys', '-passin', `pass:${PASSWORD}`], { encoding: 'utf8' });
      assert.ok(out.includes(h.leaf('web-mtls')!.toString().trim().split('\n')[1]!), 'the keystore holds the leaf');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const writes = h.cluster.writesOf();
    await h.stop();
    h = await startHarness({ time: h.time, cluster: h.cluster, root: h.root });
    assert.equal(h.cluster.writesOf(), writes, 'keystores are stable across restarts: no rewrite');
  });

  it('a missing password Secret: Ready=False KeystorePasswordMissing, nothing written; it recovers once the Secret exists', async () => {
    h = await startHarness();
    h.identity('web', { keystores });
    await h.settle();
    assert.equal(ready(h).reason, 'KeystorePasswordMissing');
    assert.match(ready(h).message, /dev\/web-keystore/);
    assert.equal(h.secret('web-mtls'), undefined, 'no half-written Secret');
    putPassword(h); // not watched: picked up on the retry timer
    await h.advance(60_000);
    assert.equal(ready(h).status, 'True');
    assert.ok(h.secret('web-mtls')!.data![KEYSTORE_P12]);
  });

  it('hostile tenant (issue 19, point 5): a Secret that has not opted in reads exactly like an absent one, whatever it holds', async () => {
    const messages: string[] = [];
    for (const [what, put] of [
      ['absent', () => undefined],
      ['not opted in, good password', (h: Harness) => putPassword(h, PASSWORD, null)],
      ['not opted in, unprintable password', (h: Harness) => putPassword(h, 'pässword\n', null)],
      ['opted in for another identity', (h: Harness) => putPassword(h, PASSWORD, 'api,worker')],
    ] as const) {
      h = await startHarness();
      put(h);
      h.identity('web', { keystores });
      await h.settle();
      assert.equal(ready(h).reason, 'KeystorePasswordMissing', what);
      assert.equal(h.secret('web-mtls'), undefined, `${what}: nothing written`);
      messages.push(ready(h).message);
      await h.stop();
    }
    assert.equal(new Set(messages).size, 1, `one message for all: ${messages.join(' | ')}`);
    assert.match(messages[0]!, /does not exist or does not name identity web in its annotation mtls\.dev\/keystore-for/);
    h = await startHarness();
    putPassword(h, PASSWORD, 'api, web');
    h.identity('web', { keystores });
    await h.settle();
    assert.equal(ready(h).status, 'True', 'a list naming the identity opts in');
  });

  it('a password Java cannot use is refused with KeystorePasswordInvalid', async () => {
    h = await startHarness();
    putPassword(h, 'pässword\n');
    h.identity('web', { keystores });
    await h.settle();
    assert.equal(ready(h).reason, 'KeystorePasswordInvalid');
  });

  it('turning the outputs off removes them from the Secret, without re-issuing', async () => {
    h = await startHarness();
    putPassword(h);
    h.identity('web', { keystores, additionalOutputFormats: [{ type: 'CombinedPEM' }] });
    await h.settle();
    const serial = h.leaf('web-mtls')!.serialNumber;
    h.identity('web', {});
    await h.settle();
    const s = h.secret('web-mtls')!;
    assert.deepEqual(Object.keys(s.data!).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
    assert.equal(h.leaf('web-mtls')!.serialNumber, serial);
  });
});
