import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { CAMaterial, SigningCA } from '../../src/pki/index.ts';
import { CAError, generateIntermediateCA, generateRootCA, issueLeaf, loadSigningCA } from '../../src/pki/index.ts';
import { DAY, HOUR, leafRequest, NOW, openssl, splitPem, tempDir } from './helpers.ts';

type Tmp = Awaited<ReturnType<typeof tempDir>>;

/** Expects loadSigningCA to throw a CAError whose message matches, and holds no key material. */
async function rejectsWith(material: CAMaterial, now: Date, pattern: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await loadSigningCA(material, now);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof CAError, `expected a CAError, got ${String(caught)}`);
  assert.match(caught.message, pattern);
  assert.equal(caught.name, 'CAError');
  const keyLines = (material.keyPem ?? '').split('\n').filter((l) => l.length > 16 && !l.startsWith('-----'));
  for (const line of keyLines) assert.ok(!caught.message.includes(line.slice(0, 16)), 'no key material in the message');
  assert.ok(!/PRIVATE KEY-----/.test(caught.message));
}

describe('loadSigningCA refuses bad material with a CAError naming the problem', function () {
  let tmp: Tmp;
  let rootM: CAMaterial;
  let otherRootM: CAMaterial;
  let root: SigningCA;
  let imM: CAMaterial;
  before(async () => {
    tmp = await tempDir();
    rootM = await generateRootCA({ now: NOW, commonName: 'Root A' });
    otherRootM = await generateRootCA({ now: NOW, commonName: 'Root B' });
    root = await loadSigningCA(rootM, NOW);
    imM = await generateIntermediateCA(root, { commonName: 'Intermediate A', validityDays: 30, now: NOW });
  });
  after(() => tmp.cleanup());

  it('empty or garbage tls.crt', async () => {
    await rejectsWith({ certPem: '', keyPem: rootM.keyPem }, NOW, /tls\.crt is empty/);
    await rejectsWith({ certPem: 'hello', keyPem: rootM.keyPem }, NOW, /tls\.crt contains no PEM certificate/);
    const broken = '-----BEGIN CERTIFICATE-----\nAAAAAAAAAAAAAAAA\n-----END CERTIFICATE-----\n';
    await rejectsWith({ certPem: broken, keyPem: rootM.keyPem }, NOW, /tls\.crt: certificate is not a valid X\.509 certificate/);
    await rejectsWith({ certPem: rootM.certPem + broken, keyPem: rootM.keyPem }, NOW, /tls\.crt: certificate 2 is not a valid/);
  });

  it('empty, garbage or encrypted tls.key', async () => {
    await rejectsWith({ certPem: rootM.certPem, keyPem: '' }, NOW, /tls\.key is empty/);
    await rejectsWith({ certPem: rootM.certPem, keyPem: 'not a key' }, NOW, /tls\.key does not decode as a private key/);
    const garbled = rootM.keyPem.replace(/\n[A-Za-z0-9+/]{10}/, '\nAAAAAAAAAA');
    await rejectsWith({ certPem: rootM.certPem, keyPem: garbled }, NOW, /tls\.key does not decode as a private key/);
    const encrypted = createPrivateKey(rootM.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string;
    await rejectsWith({ certPem: rootM.certPem, keyPem: encrypted }, NOW, /tls\.key is encrypted/);
  });

  it('a signing certificate that is not a CA, or cannot sign certificates', async () => {
    const leaf = await issueLeaf(root, leafRequest({ commonName: 'leaf' }));
    const [leafPem = ''] = splitPem(leaf.certChainPem);
    await rejectsWith({ certPem: leafPem, keyPem: leaf.keyPem, bundlePem: rootM.certPem }, NOW, /signing certificate "CN=leaf" is not a CA: basicConstraints CA:true is missing/);
    for (const [name, ku, pattern] of [
      ['noKeyCertSign', ['-addext', 'keyUsage=critical,digitalSignature,cRLSign'], /keyUsage lacks keyCertSign/],
      ['noKeyUsage', [], /has no keyUsage extension; a CA needs keyUsage keyCertSign/],
    ] as const) {
      const keyFile = await tmp.file(`${name}.key`, rootM.keyPem);
      const out = await openssl(['req', '-x509', '-new', '-key', keyFile, '-subj', `/CN=${name}`, '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE', ...ku]);
      assert.equal(out.code, 0, out.stderr);
      await rejectsWith({ certPem: out.stdout, keyPem: rootM.keyPem }, new Date(), pattern);
    }
  });

  it('a key that does not match the signing certificate', async () => {
    await rejectsWith({ certPem: rootM.certPem, keyPem: otherRootM.keyPem }, NOW, /tls\.key does not match the signing certificate/);
  });

  it('a key type that cannot sign here', async () => {
    const keyPem = (await openssl(['genpkey', '-algorithm', 'ed448'])).stdout;
    const keyFile = await tmp.file('ed448.key', keyPem);
    const out = await openssl(['req', '-x509', '-new', '-key', keyFile, '-subj', '/CN=ed448', '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
    assert.equal(out.code, 0, out.stderr);
    await rejectsWith({ certPem: out.stdout, keyPem }, new Date(), /unsupported key type \(ed448\)/);
  });

  it('expired or not yet valid certificates, the signing one or above it', async () => {
    await rejectsWith(rootM, new Date(NOW.getTime() + 3651 * DAY), /signing certificate "CN=Root A" has expired \(notAfter /);
    await rejectsWith(rootM, new Date(NOW.getTime() - 2 * HOUR), /signing certificate "CN=Root A" is not valid yet \(notBefore /);
    await rejectsWith(imM, new Date(NOW.getTime() + 31 * DAY), /signing certificate "CN=Intermediate A" has expired/);
  });

  it('a certificate above the signing one that expires first: clamps notAfter, then refuses', async () => {
    // openssl signs an intermediate that outlives its root (generateIntermediateCA would clamp)
    const now = new Date();
    const shortRoot = await generateRootCA({ now, validityDays: 2, commonName: 'Short Root' });
    const rootFile = await tmp.file('short-root.pem', shortRoot.certPem);
    const rootKeyFile = await tmp.file('short-root.key', shortRoot.keyPem);
    const imKey = (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout;
    const imKeyFile = await tmp.file('long-im.key', imKey);
    const csr = await openssl(['req', '-new', '-key', imKeyFile, '-subj', '/CN=Long Im']);
    const csrFile = await tmp.file('long-im.csr', csr.stdout);
    const extFile = await tmp.file('ca.ext', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
    const signed = await openssl(['x509', '-req', '-in', csrFile, '-CA', rootFile, '-CAkey', rootKeyFile, '-CAcreateserial', '-days', '30', '-extfile', extFile]);
    assert.equal(signed.code, 0, signed.stderr);
    const material = { certPem: signed.stdout, keyPem: imKey, bundlePem: shortRoot.certPem };
    const ca = await loadSigningCA(material, new Date()); // openssl's notBefore is its own clock
    const rootNotAfter = new X509Certificate(shortRoot.certPem).validToDate;
    assert.ok(ca.certificate.validToDate > rootNotAfter);
    assert.equal(ca.notAfter.getTime(), rootNotAfter.getTime(), 'notAfter is the root\'s');
    const leaf = await issueLeaf(ca, leafRequest({ now: new Date(), durationMs: 10 * DAY }));
    assert.equal(leaf.clamped, true);
    assert.equal(leaf.notAfter.getTime(), rootNotAfter.getTime());
    const later = new Date(now.getTime() + 3 * DAY);
    await rejectsWith(material, later, /root "CN=Short Root" in ca\.crt has expired/);
    await rejectsWith({ certPem: signed.stdout + shortRoot.certPem, keyPem: imKey }, later, /certificate 2 in tls\.crt "CN=Short Root" has expired/);
  });

  it('a chain that does not link', async () => {
    const [im = ''] = splitPem(imM.certPem);
    await rejectsWith({ certPem: im + otherRootM.certPem, keyPem: imM.keyPem }, NOW, /the chain in tls\.crt does not link: signing certificate "CN=Intermediate A" was not issued by certificate 2 in tls\.crt "CN=Root B"/);
  });

  it('no ca.crt and no self-signed root at the end of tls.crt', async () => {
    await rejectsWith({ certPem: imM.certPem, keyPem: imM.keyPem }, NOW, /ca\.crt is absent and the last certificate of tls\.crt \(signing certificate "CN=Intermediate A"\) is not a self-signed root/);
  });

  it('a chain that does not lead to a root in ca.crt, or a garbage ca.crt', async () => {
    await rejectsWith({ ...imM, bundlePem: otherRootM.certPem }, NOW, /does not verify up to a root in ca\.crt: signing certificate "CN=Intermediate A" is neither in ca\.crt nor signed by a certificate there/);
    await rejectsWith({ ...rootM, bundlePem: otherRootM.certPem }, NOW, /does not verify up to a root in ca\.crt/);
    await rejectsWith({ ...imM, bundlePem: 'junk' }, NOW, /ca\.crt contains no PEM certificate/);
    const im1 = await loadSigningCA(imM, NOW);
    const m2 = await generateIntermediateCA(im1, { commonName: 'L2', validityDays: 10, now: NOW });
    const [l2 = ''] = splitPem(m2.certPem);
    const [l1 = ''] = splitPem(imM.certPem);
    await rejectsWith({ certPem: l2, keyPem: m2.keyPem, bundlePem: l1 }, NOW, /is not a self-signed root/);
  });
});
