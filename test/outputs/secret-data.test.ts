import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import type { Secret } from '../../src/api/types.ts';
import {
  ANNOTATION_OUTPUTS_HASH, buildOutputData, KEYSTORE_P12, REASON_KEYSTORE_PASSWORD_INVALID, REASON_KEYSTORE_PASSWORD_MISSING,
  resolveKeystoreSpec, TLS_COMBINED_PEM, TRUSTSTORE_P12, type OutputResult,
} from '../../src/outputs/index.ts';
import type { IssuedCertificate } from '../../src/pki/index.ts';
import { chain, leaf, openssl, P256, RSA2048, tempDir, type Chain } from './helpers.ts';

const REF = { name: 'app-keystore', key: 'password' };
const ON = resolveKeystoreSpec({ keystores: { pkcs12: { enabled: true, passwordSecretRef: REF } }, additionalOutputFormats: [{ type: 'CombinedPEM' }] });

function passwordSecret(password: string | undefined, key = 'password'): Secret {
  return {
    metadata: { name: REF.name, namespace: 'team-a' },
    data: password === undefined ? {} : { [key]: Buffer.from(password).toString('base64') },
  };
}

/** The issued Secret as the reconciler would write it with these outputs. */
function issuedSecret(pems: IssuedCertificate, out: OutputResult): Secret {
  assert.ok(out.ok);
  return { metadata: { name: 'app-mtls', namespace: 'team-a', annotations: { ...out.annotations } }, data: { ...out.data } };
}

function ok(out: OutputResult): Extract<OutputResult, { ok: true }> {
  assert.ok(out.ok, out.ok ? '' : out.message);
  return out;
}

describe('buildOutputData (the reconciler\'s one call)', () => {
  let ca: Chain;
  let pems: IssuedCertificate;
  const tmp = tempDir();
  before(async () => {
    ca = await chain();
    pems = await leaf(ca.intermediate, P256);
  });
  after(() => tmp.cleanup());

  it('nothing asked: no data, no annotation, no password read', () => {
    assert.deepEqual(buildOutputData({ outputs: { combinedPem: false }, pems }), { ok: true, data: {}, annotations: {} });
  });

  it('CombinedPEM only', () => {
    const out = ok(buildOutputData({ outputs: resolveKeystoreSpec({ additionalOutputFormats: [{ type: 'CombinedPEM' }] }), pems }));
    assert.deepEqual(Object.keys(out.data), [TLS_COMBINED_PEM]);
    assert.ok(Buffer.from(out.data[TLS_COMBINED_PEM]!, 'base64').toString().startsWith('-----BEGIN PRIVATE KEY-----'));
  });

  it('keystores: base64 data the Secret takes as is, opened with the Secret\'s password', () => {
    const out = ok(buildOutputData({ outputs: ON, pems, passwordSecret: passwordSecret('s3cret-pass') }));
    assert.deepEqual(Object.keys(out.data).sort(), [KEYSTORE_P12, TLS_COMBINED_PEM, TRUSTSTORE_P12]);
    assert.match(out.annotations[ANNOTATION_OUTPUTS_HASH]!, /^[0-9a-f]{32}$/);
    const file = tmp.file('ks.p12', Buffer.from(out.data[KEYSTORE_P12]!, 'base64'));
    const r = openssl('pkcs12', '-in', file, '-nodes', '-passin', 'pass:s3cret-pass');
    assert.equal(r.code, 0, r.stderr);
  });

  it('password Secret absent, key absent, value empty: KeystorePasswordMissing with a message naming it', () => {
    const cases: [Secret | undefined, RegExp][] = [
      [undefined, /Secret team-a\/app-keystore \(spec.keystores.pkcs12.passwordSecretRef\) does not exist/],
      [passwordSecret('x', 'other'), /has no key "password"/],
      [passwordSecret(''), /is empty/],
    ];
    for (const [secret, message] of cases) {
      const out = buildOutputData({ outputs: ON, pems, passwordSecret: secret, namespace: 'team-a' });
      assert.equal(out.ok, false);
      assert.ok(!out.ok);
      assert.equal(out.reason, REASON_KEYSTORE_PASSWORD_MISSING);
      assert.match(out.message, message);
    }
  });

  it('a password Java cannot use: KeystorePasswordInvalid', () => {
    const out = buildOutputData({ outputs: ON, pems, passwordSecret: passwordSecret('changeit\n'), namespace: 'team-a' });
    assert.ok(!out.ok);
    assert.equal(out.reason, REASON_KEYSTORE_PASSWORD_INVALID);
    assert.match(out.message, /Secret team-a\/app-keystore, key "password": .*newline/);
  });

  it('unchanged inputs keep the existing keystores byte for byte (a stable Secret)', () => {
    const first = ok(buildOutputData({ outputs: ON, pems, passwordSecret: passwordSecret('s3cret-pass') }));
    const again = ok(buildOutputData({ outputs: ON, pems, passwordSecret: passwordSecret('s3cret-pass'), existing: issuedSecret(pems, first) }));
    assert.deepEqual(again, first);
  });

  it('a new certificate, bundle, password or profile rebuilds; so do keystores changed by hand', async () => {
    const first = ok(buildOutputData({ outputs: ON, pems, passwordSecret: passwordSecret('s3cret-pass') }));
    const existing = issuedSecret(pems, first);
    const renewed = await leaf(ca.intermediate, P256);
    const rotatedBundle = { ...pems, caPem: pems.caPem + ca.otherRootPem };
    const legacy = resolveKeystoreSpec({ keystores: { pkcs12: { enabled: true, passwordSecretRef: REF, profile: 'Legacy' } } });
    const tampered: Secret = { ...existing, data: { ...existing.data, [TRUSTSTORE_P12]: Buffer.from('x').toString('base64') } };
    const variants = [
      buildOutputData({ outputs: ON, pems: renewed, passwordSecret: passwordSecret('s3cret-pass'), existing }),
      buildOutputData({ outputs: ON, pems: rotatedBundle, passwordSecret: passwordSecret('s3cret-pass'), existing }),
      buildOutputData({ outputs: ON, pems, passwordSecret: passwordSecret('new-pass'), existing }),
      buildOutputData({ outputs: legacy, pems, passwordSecret: passwordSecret('s3cret-pass'), existing }),
      buildOutputData({ outputs: ON, pems, passwordSecret: passwordSecret('s3cret-pass'), existing: tampered }),
    ];
    for (const v of variants) {
      const out = ok(v);
      assert.notEqual(out.data[KEYSTORE_P12], first.data[KEYSTORE_P12]);
      assert.notEqual(out.annotations[ANNOTATION_OUTPUTS_HASH], first.annotations[ANNOTATION_OUTPUTS_HASH]);
    }
  });

  it('an RSA key in PKCS#1 encoding goes into the keystore too', async () => {
    const rsa = await leaf(ca.intermediate, RSA2048);
    const pkcs1 = createPrivateKey(rsa.keyPem).export({ type: 'pkcs1', format: 'pem' }) as string;
    const out = ok(buildOutputData({ outputs: ON, pems: { ...rsa, keyPem: pkcs1 }, passwordSecret: passwordSecret('s3cret-pass') }));
    const file = tmp.file('rsa.p12', Buffer.from(out.data[KEYSTORE_P12]!, 'base64'));
    const r = openssl('pkcs12', '-in', file, '-nodes', '-passin', 'pass:s3cret-pass');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /BEGIN PRIVATE KEY/);
  });
});
