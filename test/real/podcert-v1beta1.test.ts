/**
 * Issue 18, the certificates.k8s.io/v1beta1 path on a real kube-apiserver: a control plane of this file's own
 * (kube-apiserver 1.37.2 with --runtime-config serving PodCertificateRequests and ClusterTrustBundles as v1beta1 only
 * and v1 off, the feature gates the README names, NodeRestriction), so the server looks like 1.35/1.36 to a client.
 * The operator (as its ServiceAccount, deploy/ + deploy/optional/pod-certificates RBAC) must find v1beta1 by discovery
 * and answer both request forms the v1beta1 API accepts:
 *   - the 1.35 form: spec.pkixPublicKey + spec.proofOfPossession (a signature over the pod UID: Ed25519 over the bytes,
 *     ECDSA ASN.1 over SHA-256, RSA-PSS SHA-256), checked by the API server at admission;
 *   - the 1.36 form: spec.stubPKCS10Request.
 * Requests are created with the node's own credentials (Node authorizer, NodeRestriction).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants, generateKeyPairSync, randomBytes, sign, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { CTB_NAME } from '../../src/controller/cluster-trust-bundle.ts';
import { x509 } from '../../src/pki/x509.ts';
import { ownControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { installOperatorRbac } from '../support/podcert-cluster.ts';
import { eventually } from '../support/wait.ts';

const OPERATOR_NS = 'mtls-system';
const SIGNER = 'mtls.dev/identity';
const BETA = { group: 'certificates.k8s.io', version: 'v1beta1' };

/**
 * What a 1.35/1.36 apiserver serves: pod certificates only as v1beta1 (1.37.2 still has that storage). One thing
 * 1.37.2 cannot do: run the Node authorizer with v1 PodCertificateRequests off. Its graph watches them through a
 * certificates.k8s.io/v1 informer (pkg/kubeapiserver/authorizer/config.go) that never syncs, so /readyz stays
 * "informer-sync failed". Here authorization is RBAC only, with a ClusterRole letting nodes create requests
 * (NODE_RBAC); NodeRestriction admission still ties every request to a pod bound to the requesting node.
 */
export const V1BETA1_ONLY_APISERVER_ARGS = [
  '--runtime-config=certificates.k8s.io/v1beta1/podcertificaterequests=true,certificates.k8s.io/v1beta1/clustertrustbundles=true,' +
    'certificates.k8s.io/v1/podcertificaterequests=false,certificates.k8s.io/v1/clustertrustbundles=false',
  '--feature-gates=PodCertificateRequest=true,ClusterTrustBundle=true,ClusterTrustBundleProjection=true',
];

const NODE_RBAC = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: test-nodes-podcertificaterequests}
rules: [{apiGroups: [certificates.k8s.io], resources: [podcertificaterequests], verbs: [create, get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: test-nodes-podcertificaterequests}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: test-nodes-podcertificaterequests}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: 'system:nodes'}]
`;

type Any = any;
const pemCerts = (text: string) => (text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? []);

/** The 1.35 form: the SPKI and a proof of possession over the pod UID, as kube-apiserver's validation checks it. */
function pkixForm(type: 'ed25519' | 'p256' | 'rsa3072' | 'p521', podUid: string): { spec: Record<string, string>; spki: Buffer } {
  const pair = type === 'ed25519' ? generateKeyPairSync('ed25519')
    : type === 'rsa3072' ? generateKeyPairSync('rsa', { modulusLength: 3072 })
      : generateKeyPairSync('ec', { namedCurve: type === 'p256' ? 'prime256v1' : 'secp521r1' });
  const data = Buffer.from(podUid);
  const key: KeyObject = pair.privateKey;
  const pop = type === 'ed25519' ? sign(null, data, key)
    : type === 'rsa3072' ? sign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
      : sign('sha256', data, key); // ECDSA: DER (ASN.1) signature over SHA-256 (P-521 too: the API server hashes with SHA-256)
  const spki = pair.publicKey.export({ type: 'spki', format: 'der' });
  return { spec: { pkixPublicKey: spki.toString('base64'), proofOfPossession: pop.toString('base64') }, spki };
}

/** The 1.36 form: an empty stub PKCS#10 request signed by a new P-256 key. */
async function stubForm(): Promise<{ spec: Record<string, string>; spki: Buffer }> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
  return { spec: { stubPKCS10Request: Buffer.from(csr.rawData).toString('base64') }, spki: Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey)) };
}

describe('pod certificates on a kube-apiserver serving only certificates.k8s.io/v1beta1 (as 1.35/1.36): both request forms (issue 18)', function () {
  this.timeout(600_000);
  let cp: ControlPlane;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let nodeCustom: CustomObjectsApi;
  let op: OperatorProcess | undefined;
  let tmp: string;
  const ns = 'beta';
  const node = 'beta-node';
  let nodeUid = '';
  let pod = { uid: '', sa: 'app', saUid: '' };

  const terminal = (p: Any) => p.status?.conditions?.find((c: Any) => ['Issued', 'Denied', 'Failed'].includes(c.type));
  const answered = (name: string) => eventually(`${name} answered`, async () => {
    const p = (await custom.getNamespacedCustomObject({ ...BETA, namespace: ns, plural: 'podcertificaterequests', name })) as Any;
    return terminal(p) ? p : undefined;
  }, 60_000, 200);

  async function request(form: Record<string, string>): Promise<string> {
    const name = `app-${randomBytes(4).toString('hex')}`;
    await nodeCustom.createNamespacedCustomObject({
      ...BETA, namespace: ns, plural: 'podcertificaterequests',
      body: {
        apiVersion: 'certificates.k8s.io/v1beta1', kind: 'PodCertificateRequest', metadata: { name, namespace: ns },
        spec: {
          signerName: SIGNER, podName: 'app-0', podUID: pod.uid, serviceAccountName: pod.sa, serviceAccountUID: pod.saUid,
          nodeName: node, nodeUID: nodeUid, maxExpirationSeconds: 3600, ...form,
        },
      },
    });
    return name;
  }

  function verify(chainPem: string, bundlePem: string): { code: number; out: string } {
    const [leaf, ...rest] = pemCerts(chainPem);
    writeFileSync(join(tmp, 'leaf.pem'), leaf!);
    writeFileSync(join(tmp, 'roots.pem'), bundlePem);
    const args = ['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', join(tmp, 'roots.pem')];
    if (rest.length) (writeFileSync(join(tmp, 'chain.pem'), rest.join('')), args.push('-untrusted', join(tmp, 'chain.pem')));
    try {
      return { code: 0, out: execFileSync('openssl', [...args, join(tmp, 'leaf.pem')], { encoding: 'utf8', stdio: 'pipe' }) };
    } catch (err) {
      const e = err as { status: number; stdout: string; stderr: string };
      return { code: e.status, out: `${e.stdout}${e.stderr}` };
    }
  }

  before(async function () {
    // Its own control plane (no controller-manager: nothing here needs one); the shared one keeps serving v1.
    cp = await ownControlPlane(this, { controllerManager: false, authorizationMode: 'RBAC', apiserverArgs: V1BETA1_ONLY_APISERVER_ARGS });
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    custom = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    tmp = mkdtempSync(join(tmpdir(), 'pcert-beta-'));
    await installOperatorRbac(cp);
    await cp.apply(NODE_RBAC);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    nodeUid = (await core.createNode({ body: { metadata: { name: node } } })).metadata!.uid!;
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: pod.sa } } });
    pod.saUid = (await core.readNamespacedServiceAccount({ namespace: ns, name: pod.sa })).metadata!.uid!;
    const created = await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'app-0' },
        spec: {
          nodeName: node, serviceAccountName: pod.sa, automountServiceAccountToken: false,
          containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }],
          volumes: [{ name: 'identity', projected: { sources: [{ podCertificate: { signerName: SIGNER, keyType: 'ECDSAP256', credentialBundlePath: 'credentialbundle.pem' } }] } }],
        },
      },
    });
    pod = { ...pod, uid: created.metadata!.uid! };
    const nodeKc = new KubeConfig();
    nodeKc.loadFromFile(await cp.nodeKubeconfig(node));
    nodeCustom = nodeKc.makeApiClient(CustomObjectsApi);
    op = new OperatorProcess(await cp.serviceAccountKubeconfig(OPERATOR_NS, 'mtls-operator'), ['--pod-certificates=true', '--workers=2', '--shutdown-grace=2s']);
    await eventually('the signer is on', async () => op!.logged('pod certificate signer on'), 90_000, 200);
  });

  after(async function () {
    if (this.currentTest?.state === 'failed' && op) process.stderr.write(`--- operator log ---\n${op.tail()}\n`);
    op?.child.kill('SIGTERM');
    await op?.exited;
    await cp?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('the server serves pod certificates as v1beta1 only, and the operator\'s discovery picks v1beta1', async () => {
    const v1 = JSON.parse((await cp.kubectl(['get', '--raw', '/apis/certificates.k8s.io/v1'])).stdout) as { resources: { name: string }[] };
    const beta = JSON.parse((await cp.kubectl(['get', '--raw', '/apis/certificates.k8s.io/v1beta1'])).stdout) as { resources: { name: string }[] };
    const names = (l: { resources: { name: string }[] }) => l.resources.map((r) => r.name);
    assert.ok(!names(v1).includes('podcertificaterequests') && !names(v1).includes('clustertrustbundles'), `v1 serves ${names(v1).join(', ')}`);
    assert.ok(names(v1).includes('certificatesigningrequests'), 'the rest of certificates.k8s.io/v1 is served');
    assert.ok(names(beta).includes('podcertificaterequests') && names(beta).includes('podcertificaterequests/status') && names(beta).includes('clustertrustbundles'));
    assert.equal(op!.logged('pod certificate signer on')!.apiVersion, 'certificates.k8s.io/v1beta1');
    const ctb = await eventually('the v1beta1 ClusterTrustBundle', async () =>
      custom.getClusterCustomObject({ ...BETA, plural: 'clustertrustbundles', name: CTB_NAME }).catch(() => undefined), 30_000, 200) as Any;
    assert.equal(ctb.apiVersion, 'certificates.k8s.io/v1beta1');
    assert.equal(ctb.spec.signerName, SIGNER);
  });

  for (const type of ['ed25519', 'p256', 'rsa3072'] as const) {
    it(`the 1.35 form (pkixPublicKey + proofOfPossession, ${type}): Issued to that key, the chain verifies -x509_strict against the v1beta1 ClusterTrustBundle`, async () => {
      const form = pkixForm(type, pod.uid);
      const pcr = await answered(await request(form.spec));
      assert.equal(terminal(pcr).type, 'Issued', JSON.stringify(terminal(pcr)));
      const leaf = new X509Certificate(pemCerts(pcr.status.certificateChain)[0]!);
      assert.deepEqual(leaf.publicKey.export({ type: 'spki', format: 'der' }), form.spki);
      assert.equal(leaf.subjectAltName, `URI:spiffe://cluster.local/ns/${ns}/sa/${pod.sa}`);
      const ctb = (await custom.getClusterCustomObject({ ...BETA, plural: 'clustertrustbundles', name: CTB_NAME })) as Any;
      const v = verify(pcr.status.certificateChain, ctb.spec.trustBundle);
      assert.equal(v.code, 0, v.out);
    });
  }

  it('the 1.36 form (stubPKCS10Request) on v1beta1: Issued, the chain verifies -x509_strict against the v1beta1 ClusterTrustBundle', async () => {
    const form = await stubForm();
    const pcr = await answered(await request(form.spec));
    assert.equal(terminal(pcr).type, 'Issued', JSON.stringify(terminal(pcr)));
    assert.deepEqual(new X509Certificate(pemCerts(pcr.status.certificateChain)[0]!).publicKey.export({ type: 'spki', format: 'der' }), form.spki);
    const ctb = (await custom.getClusterCustomObject({ ...BETA, plural: 'clustertrustbundles', name: CTB_NAME })) as Any;
    const v = verify(pcr.status.certificateChain, ctb.spec.trustBundle);
    assert.equal(v.code, 0, v.out);
  });

  it('the API server checks the proof of possession (a signature over another UID is refused at create)', async () => {
    const form = pkixForm('p256', 'not-the-pod-uid');
    await assert.rejects(request(form.spec), (err: Any) => err.code === 422 && /proof-of-possession/.test(String(err.body)));
  });

  it('NodeRestriction ties requests to the node: another node\'s credentials are refused for this pod', async () => {
    const other = new KubeConfig();
    other.loadFromFile(await cp.nodeKubeconfig('beta-other'));
    const saved = nodeCustom;
    nodeCustom = other.makeApiClient(CustomObjectsApi);
    try {
      await assert.rejects(request((await stubForm()).spec), (err: Any) => err.code === 403 && /not the requesting node/.test(String(err.body)));
    } finally {
      nodeCustom = saved;
    }
  });

  it('an unsupported key type (P-521, which the API server admits) is Denied UnsupportedKeyType, in the 1.35 form too', async () => {
    const pcr = await answered(await request(pkixForm('p521', pod.uid).spec));
    assert.deepEqual([terminal(pcr).type, terminal(pcr).reason], ['Denied', 'UnsupportedKeyType'], JSON.stringify(terminal(pcr)));
    assert.match(terminal(pcr).message, /ECDSA P-256/);
    assert.equal(pcr.status.certificateChain, undefined);
    const ev = await eventually('a Warning Event naming the v1beta1 request', async () =>
      (await core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${pcr.metadata.name}` })).items.find((e) => e.reason === 'UnsupportedKeyType'), 30_000, 200);
    assert.equal(ev.involvedObject.apiVersion, 'certificates.k8s.io/v1beta1');
  });
});
