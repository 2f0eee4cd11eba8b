/**
 * The README's Ed25519 interop note, checked: an Ed25519 root and an Ed25519 leaf (issued by
 * kubectl mtls issue --local, the operator's engine) verify with OpenSSL 3 and with Java's PKIX
 * CertPathValidator (skipped where java or openssl is absent).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateRootCA } from '../../src/pki/index.ts';
import { harness } from '../cli/helpers.ts';
import { MemoryCliClient } from '../cli/memory-client.ts';

const JAVA_VERIFY = `
import java.io.FileInputStream;
import java.security.cert.*;
import java.util.*;
public class Verify {
  public static void main(String[] a) throws Exception {
    CertificateFactory cf = CertificateFactory.getInstance("X.509");
    X509Certificate ca = (X509Certificate) cf.generateCertificate(new FileInputStream(a[0]));
    X509Certificate leaf = (X509Certificate) cf.generateCertificate(new FileInputStream(a[1]));
    PKIXParameters p = new PKIXParameters(Set.of(new TrustAnchor(ca, null)));
    p.setRevocationEnabled(false);
    CertPathValidator.getInstance("PKIX").validate(cf.generateCertPath(List.of(leaf)), p);
    System.out.println("OK " + ca.getSigAlgName() + " " + leaf.getPublicKey().getAlgorithm());
  }
}
`;

describe('Ed25519 interop (README note)', function () {
  this.timeout(120_000);
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mtls-ed25519-'));
    const root = await generateRootCA({ now: new Date(), commonName: 'Ed25519 Root', key: { algorithm: 'Ed25519', size: 0 } });
    writeFileSync(join(dir, 'ca.pem'), root.certPem);
    writeFileSync(join(dir, 'ca-key.pem'), root.keyPem);
    const r = await harness(new MemoryCliClient(), 'x', () => new Date()).run('issue', '--local', '--ca-cert', join(dir, 'ca.pem'), '--ca-key', join(dir, 'ca-key.pem'),
      '--name', 'web', '-n', 'dev', '--dns', 'web.dev.svc', '--key-algorithm', 'Ed25519', '--out', join(dir, 'leaf'));
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('OpenSSL 3 verifies an Ed25519 leaf under an Ed25519 root', function () {
    const v = spawnSync('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf', 'tls.crt')], { encoding: 'utf8' });
    if (v.error) this.skip();
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /tls.crt: OK/);
  });

  it('Java (PKIX CertPathValidator) verifies it too', function () {
    const version = spawnSync('java', ['-version'], { encoding: 'utf8' });
    if (version.error) this.skip();
    writeFileSync(join(dir, 'Verify.java'), JAVA_VERIFY);
    const v = spawnSync('java', [join(dir, 'Verify.java'), join(dir, 'ca.pem'), join(dir, 'leaf', 'tls.crt')], { encoding: 'utf8', timeout: 100_000 });
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /^OK Ed25519 (Ed25519|EdDSA)/);
  });
});
