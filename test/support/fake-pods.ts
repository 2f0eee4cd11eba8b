/**
 * A fake pod-certificate port (src/cluster/port.ts PodCertificateCluster) that keeps resourceVersions like the API
 * server: a status write with a stale resourceVersion is a 409. For the controller tests of the signer.
 */
import { webcrypto } from 'node:crypto';
import { POD_SIGNER_NAME, type ClusterTrustBundle, type PodCertificateRequest } from '../../src/api/podcert-types.ts';
import { ClusterError, type PodCertificateCluster } from '../../src/cluster/port.ts';
import { x509 } from '../../src/pki/x509.ts';

export class FakePods implements PodCertificateCluster {
  readonly requests = new Map<string, PodCertificateRequest>();
  readonly bundles = new Map<string, ClusterTrustBundle>();
  /** Our successful status writes, by key. */
  readonly writes: string[] = [];
  /** The next status write finds the request answered by someone else (409). */
  answeredElsewhere = false;
  /** The next status write fails as an overloaded API server would (500). */
  failNext = false;
  why: string | undefined;
  private rv = 100;
  private handlers?: { requestChanged(namespace: string, name: string): void };

  async unavailable() {
    return this.why;
  }
  async start(handlers: { requestChanged(namespace: string, name: string): void }) {
    this.handlers = handlers;
  }
  async stop() {}
  getRequest(namespace: string, name: string) {
    return this.requests.get(`${namespace}/${name}`);
  }
  listRequests() {
    return [...this.requests.values()];
  }
  async updateRequestStatus(r: PodCertificateRequest) {
    const key = `${r.metadata.namespace}/${r.metadata.name}`;
    const cur = this.requests.get(key);
    if (!cur) throw new ClusterError(404, 'NotFound', 'gone');
    if (this.failNext) {
      this.failNext = false;
      throw new ClusterError(500, 'InternalError', 'PUT podcertificaterequests/dev/x/status: etcdserver: request timed out');
    }
    if (this.answeredElsewhere) {
      this.answeredElsewhere = false;
      this.requests.set(key, { ...cur, metadata: { ...cur.metadata, resourceVersion: String(++this.rv) }, status: { conditions: [{ type: 'Denied', status: 'True', reason: 'Other', message: 'another signer', lastTransitionTime: new Date().toISOString() }] } });
      throw new ClusterError(409, 'Conflict', 'the object has been modified');
    }
    if (cur.metadata.resourceVersion !== r.metadata.resourceVersion) throw new ClusterError(409, 'Conflict', 'the object has been modified');
    this.writes.push(key);
    this.requests.set(key, { ...r, metadata: { ...r.metadata, resourceVersion: String(++this.rv) } });
  }
  async getBundle(name: string) {
    return this.bundles.get(name);
  }
  async createBundle(b: ClusterTrustBundle) {
    if (this.bundles.has(b.metadata.name)) throw new ClusterError(409, 'AlreadyExists', 'exists');
    this.bundles.set(b.metadata.name, { ...b, metadata: { ...b.metadata, resourceVersion: String(++this.rv) } });
  }
  async updateBundle(b: ClusterTrustBundle) {
    if (this.bundles.get(b.metadata.name)?.metadata.resourceVersion !== b.metadata.resourceVersion) throw new ClusterError(409, 'Conflict', 'changed');
    this.bundles.set(b.metadata.name, { ...b, metadata: { ...b.metadata, resourceVersion: String(++this.rv) } });
  }
  /** A request arrives (as a watch event would bring it). */
  async add(name: string, sa = 'web'): Promise<string> {
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
    this.requests.set(`dev/${name}`, {
      metadata: { name, namespace: 'dev', uid: `uid-${name}`, resourceVersion: String(++this.rv) },
      spec: { signerName: POD_SIGNER_NAME, podName: 'p', podUID: 'u', serviceAccountName: sa, serviceAccountUID: 's', nodeName: 'n', nodeUID: 'nu', maxExpirationSeconds: 86_400, stubPKCS10Request: Buffer.from(csr.rawData).toString('base64') },
    });
    this.handlers?.requestChanged('dev', name);
    return Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey)).toString('base64');
  }
}
