import assert from 'node:assert/strict';
import { InvalidSpecError } from '../../src/api/spec.ts';
import { KEYSTORE_P12, resolveKeystoreSpec, TLS_COMBINED_PEM, TRUSTSTORE_P12 } from '../../src/outputs/index.ts';

const ref = { name: 'app-keystore', key: 'password' };

function refuses(spec: unknown, field: string, detail: RegExp): void {
  assert.throws(() => resolveKeystoreSpec(spec), (err: Error) => {
    assert.ok(err instanceof InvalidSpecError, String(err));
    assert.equal(err.field, field);
    assert.match(err.detail, detail);
    return true;
  });
}

describe('resolveKeystoreSpec', () => {
  it('Secret keys are cert-manager\'s', () => {
    assert.deepEqual([KEYSTORE_P12, TRUSTSTORE_P12, TLS_COMBINED_PEM], ['keystore.p12', 'truststore.p12', 'tls-combined.pem']);
  });

  it('nothing asked: no outputs', () => {
    assert.deepEqual(resolveKeystoreSpec(undefined), { combinedPem: false });
    assert.deepEqual(resolveKeystoreSpec({}), { combinedPem: false });
    assert.deepEqual(resolveKeystoreSpec({ keystores: {} }), { combinedPem: false });
    assert.deepEqual(resolveKeystoreSpec({ additionalOutputFormats: [] }), { combinedPem: false });
  });

  it('pkcs12 enabled: the password reference, profile Modern by default', () => {
    assert.deepEqual(resolveKeystoreSpec({ keystores: { pkcs12: { enabled: true, passwordSecretRef: ref } } }), {
      pkcs12: { passwordSecretRef: ref, profile: 'modern' },
      combinedPem: false,
    });
    assert.deepEqual(resolveKeystoreSpec({ keystores: { pkcs12: { enabled: true, passwordSecretRef: ref, profile: 'Legacy' } } }).pkcs12?.profile, 'legacy');
  });

  it('pkcs12 disabled or without enabled: nothing built, the block still checked', () => {
    assert.deepEqual(resolveKeystoreSpec({ keystores: { pkcs12: { enabled: false, passwordSecretRef: ref } } }), { combinedPem: false });
    assert.deepEqual(resolveKeystoreSpec({ keystores: { pkcs12: { passwordSecretRef: ref } } }), { combinedPem: false });
    refuses({ keystores: { pkcs12: { enabled: false, profile: 'Strong' } } }, 'spec.keystores.pkcs12.profile', /Unsupported value: "Strong": supported values: "Modern", "Legacy"/);
  });

  it('CombinedPEM', () => {
    assert.deepEqual(resolveKeystoreSpec({ additionalOutputFormats: [{ type: 'CombinedPEM' }] }), { combinedPem: true });
  });

  it('clear errors, with the field', () => {
    refuses('x', 'spec', /must be of type object/);
    refuses({ keystores: [] }, 'spec.keystores', /must be of type object/);
    refuses({ keystores: { pkcs12: { enabled: 'yes' } } }, 'spec.keystores.pkcs12.enabled', /boolean/);
    refuses({ keystores: { pkcs12: { enabled: true } } }, 'spec.keystores.pkcs12.passwordSecretRef', /Required value: a PKCS#12 keystore needs a password/);
    refuses({ keystores: { pkcs12: { enabled: true, passwordSecretRef: { key: 'password' } } } }, 'spec.keystores.pkcs12.passwordSecretRef.name', /Required value/);
    refuses({ keystores: { pkcs12: { enabled: true, passwordSecretRef: { name: 'Bad_Name', key: 'password' } } } }, 'spec.keystores.pkcs12.passwordSecretRef.name', /DNS-1123/);
    refuses({ keystores: { pkcs12: { enabled: true, passwordSecretRef: { name: 'pw' } } } }, 'spec.keystores.pkcs12.passwordSecretRef.key', /Required value/);
    refuses({ keystores: { pkcs12: { enabled: true, passwordSecretRef: { name: 'pw', key: 'a/b' } } } }, 'spec.keystores.pkcs12.passwordSecretRef.key', /Secret data key/);
    refuses({ additionalOutputFormats: { type: 'CombinedPEM' } }, 'spec.additionalOutputFormats', /array/);
    refuses({ additionalOutputFormats: [{ type: 'DER' }] }, 'spec.additionalOutputFormats[0].type', /Unsupported value: "DER": supported values: "CombinedPEM"/);
    refuses({ additionalOutputFormats: ['CombinedPEM'] }, 'spec.additionalOutputFormats[0]', /object/);
  });
});
