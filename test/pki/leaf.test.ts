import assert from 'node:assert/strict';
import { issueLeaf } from '../../src/pki/index.ts';
import { assertVerifies, checkLeaf, type Tmp } from './check.ts';
import { ED25519, intermediateCA, label, leafRequest, openssl, P256, P384, RSA2048, rootCA, splitPem, tempDir } from './helpers.ts';

describe('issueLeaf', function () {
  let tmp: Tmp;
  before(async () => {
    tmp = await tempDir();
  });
  after(() => tmp.cleanup());

  for (const signer of ['root', 'intermediate'] as const) {
    for (const key of [P256, P384, ED25519, RSA2048]) {
      it(`issues a ${label(key)} leaf signed by the ${signer} CA that openssl verifies for TLS server and client`, async () => {
        const f = signer === 'root' ? await rootCA() : await intermediateCA();
        const req = leafRequest({ key });
        const issued = await issueLeaf(f.ca, req);
        checkLeaf(f, req, issued);
        assert.equal(splitPem(issued.certChainPem).length, signer === 'root' ? 1 : 2);
        await assertVerifies(tmp, `${signer}-${label(key)}`, f, issued);
      });
    }
  }

  for (const size of [3072, 4096]) {
    it(`issues an RSA-${size} leaf`, async () => {
      const f = await rootCA();
      const req = leafRequest({ key: { algorithm: 'RSA', size } });
      const issued = await issueLeaf(f.ca, req);
      checkLeaf(f, req, issued);
      await assertVerifies(tmp, `rsa${size}`, f, issued);
    });
  }

  const signatureAlgorithms = [
    { key: P256, alg: 'ecdsa-with-SHA256' },
    { key: P384, alg: 'ecdsa-with-SHA384' },
    { key: RSA2048, alg: 'sha256WithRSAEncryption' },
    { key: ED25519, alg: 'ED25519' },
  ];
  for (const { key, alg } of signatureAlgorithms) {
    for (const signer of ['root', 'intermediate'] as const) {
      it(`signs with ${alg} when the ${signer} CA key is ${label(key)}`, async () => {
        const f = signer === 'root' ? await rootCA(key) : await intermediateCA(key, P256);
        const req = leafRequest({ commonName: 'web' });
        const issued = await issueLeaf(f.ca, req);
        checkLeaf(f, req, issued);
        await assertVerifies(tmp, `sig-${signer}-${label(key)}`, f, issued);
        const file = await tmp.file(`sig-${signer}-${label(key)}.pem`, issued.certChainPem);
        const text = (await openssl(['x509', '-in', file, '-noout', '-text'])).stdout;
        assert.match(text, new RegExp(`Signature Algorithm: ${alg}\\n`));
      });
    }
  }
});
