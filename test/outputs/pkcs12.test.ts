import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { buildKeystores, combinedPem, KeystoreError, type Pkcs12Profile } from '../../src/outputs/index.ts';
import type { IssuedCertificate, KeyParams } from '../../src/pki/index.ts';
import { chain, ED25519, hasTool, keytool, leaf, openssl, P256, RSA2048, run, tempDir, type Chain } from './helpers.ts';

const PASSWORD = 'changeit-123';
const HAS_KEYTOOL = hasTool('keytool', ['-help']);
const HAS_JAVA = hasTool('java', ['-version']);

const pkcs8 = (pem: string): Buffer => createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });

/** Loads keystore and truststore in Java, takes the key, validates the chain (PKIX) against the truststore. */
const JAVA_CHECK = `
import java.io.FileInputStream;
import java.security.*;
import java.security.cert.*;
import java.util.*;
public class Check {
  public static void main(String[] a) throws Exception {
    char[] pw = a[0].toCharArray();
    for (int i = 1; i + 1 < a.length; i += 2) {
      KeyStore ks = KeyStore.getInstance("PKCS12");
      try (FileInputStream in = new FileInputStream(a[i])) { ks.load(in, pw); }
      KeyStore ts = KeyStore.getInstance("PKCS12");
      try (FileInputStream in = new FileInputStream(a[i + 1])) { ts.load(in, pw); }
      Key key = ks.getKey("mtls", pw);
      java.security.cert.Certificate[] chain = ks.getCertificateChain("mtls");
      CertPath path = CertificateFactory.getInstance("X.509").generateCertPath(Arrays.asList(chain));
      PKIXParameters params = new PKIXParameters(ts);
      params.setRevocationEnabled(false);
      CertPathValidator.getInstance("PKIX").validate(path, params);
      System.out.println("OK " + key.getAlgorithm() + " chain=" + chain.length + " trusted=" + ts.size());
    }
  }
}
`;

describe('PKCS#12 keystores', function () {
  this.timeout(120_000);
  let ca: Chain;
  const leaves = new Map<string, IssuedCertificate>();
  const tmp = tempDir();

  before(async () => {
    ca = await chain();
    for (const [name, key] of [['RSA-2048', RSA2048], ['ECDSA-P256', P256], ['Ed25519', ED25519]] as [string, KeyParams][]) {
      leaves.set(name, await leaf(ca.intermediate, key));
    }
  });
  after(() => tmp.cleanup());

  function stores(name: string, profile: Pkcs12Profile, extra: { caPem?: string; password?: string } = {}) {
    const l = leaves.get(name)!;
    const built = buildKeystores({
      keyPem: l.keyPem, certChainPem: l.certChainPem, caPem: extra.caPem ?? l.caPem, password: extra.password ?? PASSWORD, profile,
    });
    return {
      keystore: tmp.file(`${name}-${profile}-keystore.p12`, built.keystore),
      truststore: tmp.file(`${name}-${profile}-truststore.p12`, built.truststore),
    };
  }

  for (const name of ['RSA-2048', 'ECDSA-P256', 'Ed25519']) {
    for (const profile of ['modern', 'legacy'] as const) {
      describe(`${name}, ${profile}`, () => {
        let files: { keystore: string; truststore: string };
        before(() => {
          files = stores(name, profile);
        });

        it('keytool lists one PrivateKeyEntry "mtls" with the chain (leaf + intermediate)', function () {
          if (!HAS_KEYTOOL) this.skip();
          const r = keytool('-list', '-v', '-storetype', 'PKCS12', '-keystore', files.keystore, '-storepass', PASSWORD);
          assert.equal(r.code, 0, r.stdout + r.stderr);
          assert.match(r.stdout, /Your keystore contains 1 entry/);
          assert.match(r.stdout, /Alias name: mtls\n/);
          assert.match(r.stdout, /Entry type: PrivateKeyEntry/);
          assert.match(r.stdout, /Certificate chain length: 2/);
          assert.match(r.stdout, /Owner: CN=outputs test intermediate/);
        });

        it('keytool lists the bundle as trustedCertEntry "ca"', function () {
          if (!HAS_KEYTOOL) this.skip();
          const r = keytool('-list', '-storetype', 'PKCS12', '-keystore', files.truststore, '-storepass', PASSWORD);
          assert.equal(r.code, 0, r.stdout + r.stderr);
          assert.match(r.stdout, /Your keystore contains 1 entry/);
          assert.match(r.stdout, /^ca, .*trustedCertEntry/m);
          const fp = new X509Certificate(ca.root.bundlePem).fingerprint256;
          assert.ok(r.stdout.includes(fp), 'the root fingerprint is listed');
        });

        it('keytool -importkeystore decrypts the key (JKS copy)', function () {
          if (!HAS_KEYTOOL) this.skip();
          const dest = join(tmp.dir, `${name}-${profile}.jks`);
          const r = keytool('-importkeystore', '-noprompt', '-srckeystore', files.keystore, '-srcstoretype', 'PKCS12', '-srcstorepass', PASSWORD,
            '-destkeystore', dest, '-deststoretype', 'JKS', '-deststorepass', PASSWORD);
          assert.equal(r.code, 0, r.stdout + r.stderr);
          assert.match(r.stdout + r.stderr, /1 entries successfully imported, 0 entries failed/);
        });

        it('openssl extracts the key of the leaf and the chain', () => {
          const r = openssl('pkcs12', '-in', files.keystore, '-nodes', '-passin', `pass:${PASSWORD}`);
          assert.equal(r.code, 0, r.stderr);
          const l = leaves.get(name)!;
          const keyPem = r.stdout.slice(r.stdout.indexOf('-----BEGIN PRIVATE KEY-----'));
          assert.deepEqual(pkcs8(keyPem), pkcs8(l.keyPem), 'the same private key');
          const leafCert = new X509Certificate(l.certChainPem);
          assert.ok(leafCert.checkPrivateKey(createPrivateKey(keyPem)));
          assert.equal(r.stdout.match(/-----BEGIN CERTIFICATE-----/g)?.length, 2);
          assert.match(r.stdout, /friendlyName: mtls/);
        });

        it(`openssl reports the ${profile} algorithms`, () => {
          const r = openssl('pkcs12', '-info', '-in', files.keystore, '-nodes', '-passin', `pass:${PASSWORD}`);
          assert.equal(r.code, 0, r.stderr);
          const info = r.stderr + r.stdout;
          if (profile === 'modern') {
            assert.match(info, /MAC: sha256, Iteration 2048/);
            assert.match(info, /PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/);
            assert.match(info, /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/);
          } else {
            assert.match(info, /MAC: sha1, Iteration 2048/);
            assert.match(info, /PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048/);
            assert.match(info, /Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048/);
          }
        });

        it('a wrong password fails in keytool and openssl', function () {
          const o = openssl('pkcs12', '-in', files.keystore, '-nodes', '-passin', 'pass:wrong-password');
          assert.notEqual(o.code, 0);
          assert.match(o.stderr, /mac verify failure|Mac verify error|invalid password/i);
          if (!HAS_KEYTOOL) return;
          const k = keytool('-list', '-storetype', 'PKCS12', '-keystore', files.keystore, '-storepass', 'wrong-password');
          assert.notEqual(k.code, 0);
          assert.match(k.stdout + k.stderr, /password was incorrect/);
        });
      });
    }
  }

  it('legacy (3DES, SHA-1 MAC) needs no -legacy in OpenSSL 3, and reads with it too', () => {
    const files = stores('ECDSA-P256', 'legacy');
    for (const extra of [[], ['-legacy']]) {
      const r = openssl('pkcs12', '-in', files.keystore, '-nodes', '-passin', `pass:${PASSWORD}`, ...extra);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /BEGIN PRIVATE KEY/);
    }
  });

  it('a bundle of two roots gives trustedCertEntry "ca" and "ca-1"', function () {
    if (!HAS_KEYTOOL) this.skip();
    const files = stores('ECDSA-P256', 'modern', { caPem: ca.root.bundlePem + ca.otherRootPem });
    const r = keytool('-list', '-storetype', 'PKCS12', '-keystore', files.truststore, '-storepass', PASSWORD);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Your keystore contains 2 entries/);
    assert.match(r.stdout, /^ca, .*trustedCertEntry/m);
    assert.match(r.stdout, /^ca-1, .*trustedCertEntry/m);
  });

  it('Java loads both stores, takes the key and validates the chain against the truststore (PKIX)', function () {
    if (!HAS_JAVA) this.skip();
    const source = tmp.file('Check.java', JAVA_CHECK);
    const args = [source, PASSWORD];
    const cases = ['RSA-2048', 'ECDSA-P256', 'Ed25519'].flatMap((n) => (['modern', 'legacy'] as const).map((p) => [n, p] as const));
    for (const [n, p] of cases) {
      const f = stores(n, p);
      args.push(f.keystore, f.truststore);
    }
    const r = run('java', args);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'OK RSA chain=2 trusted=1', 'OK RSA chain=2 trusted=1',
      'OK EC chain=2 trusted=1', 'OK EC chain=2 trusted=1',
      'OK EdDSA chain=2 trusted=1', 'OK EdDSA chain=2 trusted=1',
    ]);
  });

  it('a custom alias names the key entry', function () {
    if (!HAS_KEYTOOL) this.skip();
    const l = leaves.get('ECDSA-P256')!;
    const built = buildKeystores({ keyPem: l.keyPem, certChainPem: l.certChainPem, caPem: l.caPem, password: PASSWORD, profile: 'modern', alias: 'server' });
    const r = keytool('-list', '-storetype', 'PKCS12', '-keystore', tmp.file('alias.p12', built.keystore), '-storepass', PASSWORD);
    assert.match(r.stdout, /^server, .*PrivateKeyEntry/m);
  });

  it('each build has fresh salts (different bytes, same content)', () => {
    const l = leaves.get('ECDSA-P256')!;
    const input = { keyPem: l.keyPem, certChainPem: l.certChainPem, caPem: l.caPem, password: PASSWORD, profile: 'modern' as const };
    assert.notDeepEqual(buildKeystores(input).keystore, buildKeystores(input).keystore);
  });

  describe('refusals', () => {
    const input = () => {
      const l = leaves.get('ECDSA-P256')!;
      return { keyPem: l.keyPem, certChainPem: l.certChainPem, caPem: l.caPem, password: PASSWORD, profile: 'modern' as Pkcs12Profile };
    };
    const refuses = (change: object, message: RegExp) =>
      assert.throws(() => buildKeystores({ ...input(), ...change }), (err: Error) => err instanceof KeystoreError && message.test(err.message));

    it('a key that does not match the leaf', () => refuses({ keyPem: leaves.get('RSA-2048')!.keyPem }, /does not match the leaf/));
    it('an empty password', () => refuses({ password: '' }, /password is empty/));
    it('a password Java cannot use (non-ASCII, trailing newline)', () => {
      refuses({ password: 'pässwörd' }, /printable ASCII.*character 2 is not/);
      refuses({ password: 'changeit\n' }, /printable ASCII.*contains a newline/);
    });
    it('an unsupported key type (Ed448)', () => {
      const keyPem = generateKeyPairSync('ed448').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      refuses({ keyPem }, /ed448 key cannot go into a keystore/);
    });
    it('no key, no chain, no bundle', () => {
      refuses({ keyPem: 'garbage' }, /not PEM/);
      refuses({ certChainPem: '' }, /chain is empty/);
      refuses({ caPem: 'nothing' }, /CA bundle contains no PEM certificate/);
    });
    it('an unknown profile, an empty alias', () => {
      refuses({ profile: 'strong' }, /unknown PKCS#12 profile "strong"/);
      refuses({ alias: '' }, /alias "" must be/);
    });
  });

  it('combinedPem: the key, then the chain, one PEM', () => {
    const l = leaves.get('ECDSA-P256')!;
    const text = combinedPem(l.keyPem, l.certChainPem);
    assert.ok(text.startsWith('-----BEGIN PRIVATE KEY-----'));
    assert.equal(text.match(/-----BEGIN CERTIFICATE-----/g)?.length, 2);
    assert.ok(text.endsWith('-----END CERTIFICATE-----\n'));
    assert.equal(combinedPem(`${l.keyPem}\n\n`, l.certChainPem), text, 'blank lines between blocks are normalised');
    const file = tmp.file('combined.pem', text);
    const r = openssl('x509', '-in', file, '-noout', '-subject');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(new X509Certificate(text).checkPrivateKey(createPrivateKey(text)));
  });
});
