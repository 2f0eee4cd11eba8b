/**
 * The pod-certificate port (PodCertificateCluster) on client-node 2.x. client-node 2.0.1 has no
 * typed PodCertificateRequest API, so requests and ClusterTrustBundles go through the generic
 * CustomObjectsApi (its paths are /apis/<group>/<version>/..., which serve built-in groups too).
 *
 * Discovery picks the served version (v1 on 1.37, v1beta1 on 1.35-1.36); a SelfSubjectAccessReview
 * per verb the signer needs tells whether the optional RBAC (deploy/optional/pod-certificates) is
 * in place. Without either the signer stays off and says so once. With `namespaces` (the
 * operator's --watch-namespaces) requests are listed and watched in those namespaces only, one
 * watch each, as the identity watches: requests of other namespaces are never seen, so never answered.
 */
import {
  AuthorizationV1Api,
  CertificatesV1Api,
  CertificatesV1beta1Api,
  CustomObjectsApi,
  Watch,
  type KubeConfig,
  type V1ResourceAttributes,
} from '@kubernetes/client-node';
import {
  CERTIFICATES_GROUP,
  CTB_PLURAL,
  PCR_KIND,
  PCR_PLURAL,
  POD_SIGNER_NAME,
  type ClusterTrustBundle,
  type PodCertificateRequest,
} from '../api/podcert-types.ts';
import { ClusterError, type PodCertificateCluster } from '../cluster/port.ts';
import { DEFAULT_BACKOFF } from './backoff.ts';
import { describeError } from './errors.ts';
import { PAGE_SIZE, streamPages, type PageFn } from './paging.ts';
import { Reflector } from './reflector.ts';
import { callApi, type CallOptions, type WriteFence } from './timing.ts';
import type { AdapterLogger } from './types.ts';

export interface KubePodCertificatesOptions {
  kubeConfig: KubeConfig;
  logger: AdapterLogger;
  fence?: WriteFence;
  signal?: AbortSignal;
  requestTimeoutMs?: number;
  resyncIntervalMs?: number;
  watchdogMs?: number;
  /** Answer requests of these namespaces only (default: all). */
  namespaces?: string[];
}

/** The permissions the signer needs (deploy/optional/pod-certificates/rbac.yaml grants them). */
export const SIGNER_ACCESS: readonly V1ResourceAttributes[] = [
  { group: CERTIFICATES_GROUP, resource: PCR_PLURAL, verb: 'list' },
  { group: CERTIFICATES_GROUP, resource: PCR_PLURAL, verb: 'watch' },
  { group: CERTIFICATES_GROUP, resource: PCR_PLURAL, subresource: 'status', verb: 'update' },
  { group: CERTIFICATES_GROUP, resource: 'signers', name: POD_SIGNER_NAME, verb: 'sign' },
  { group: CERTIFICATES_GROUP, resource: CTB_PLURAL, verb: 'get' },
  { group: CERTIFICATES_GROUP, resource: CTB_PLURAL, verb: 'create' },
  { group: CERTIFICATES_GROUP, resource: CTB_PLURAL, verb: 'update' },
  { group: CERTIFICATES_GROUP, resource: 'signers', name: POD_SIGNER_NAME, verb: 'attest' },
];

type Versions = { pcr: string; ctb: string };

/** Cache key prefix of the one all-namespaces reflector. */
const ALL = '';

export class KubePodCertificates implements PodCertificateCluster {
  private readonly opts: KubePodCertificatesOptions;
  private readonly custom: CustomObjectsApi;
  private readonly timeoutMs: number;
  private readonly read: CallOptions;
  private readonly write: CallOptions;
  private readonly stopping = new AbortController();
  private versions?: Versions;
  private readonly namespaces: string[];
  /** namespace (or ALL) -> the reflector of its requests. */
  private readonly reflectors = new Map<string, Reflector<PodCertificateRequest>>();

  constructor(opts: KubePodCertificatesOptions) {
    this.opts = opts;
    this.custom = opts.kubeConfig.makeApiClient(CustomObjectsApi);
    this.timeoutMs = opts.requestTimeoutMs ?? 30_000;
    const signal = opts.signal ? AbortSignal.any([opts.signal, this.stopping.signal]) : this.stopping.signal;
    this.read = { signal };
    this.write = opts.fence ? { signal, fence: opts.fence } : { signal };
    this.namespaces = opts.namespaces?.length ? [...new Set(opts.namespaces)] : [ALL];
  }

  /** The certificates.k8s.io version of PodCertificateRequests the cluster serves (after unavailable()). */
  requestVersion(): string {
    return this.need().pcr;
  }

  async unavailable(): Promise<string | undefined> {
    const served = async (api: CertificatesV1Api | CertificatesV1beta1Api): Promise<Set<string>> => {
      try {
        const list = await callApi('GET certificates.k8s.io discovery', this.timeoutMs, (o) => api.getAPIResources(o), this.read);
        return new Set(list.resources.map((r) => r.name));
      } catch (err) {
        if (ClusterError.isNotFound(err)) return new Set();
        throw err;
      }
    };
    const v1 = await served(this.opts.kubeConfig.makeApiClient(CertificatesV1Api));
    const beta = v1.has(PCR_PLURAL) && v1.has(CTB_PLURAL) ? new Set<string>() : await served(this.opts.kubeConfig.makeApiClient(CertificatesV1beta1Api));
    const pick = (r: string): string | undefined => (v1.has(r) ? 'v1' : beta.has(r) ? 'v1beta1' : undefined);
    const pcr = pick(PCR_PLURAL);
    const ctb = pick(CTB_PLURAL);
    if (!pcr || !ctb) {
      return `the cluster does not serve ${!pcr ? 'podcertificaterequests' : 'clustertrustbundles'} (certificates.k8s.io v1 or v1beta1): Kubernetes 1.37, or 1.35+ with the PodCertificateRequest and ClusterTrustBundle feature gates and --runtime-config=certificates.k8s.io/v1beta1/podcertificaterequests=true,certificates.k8s.io/v1beta1/clustertrustbundles=true`;
    }
    const authz = this.opts.kubeConfig.makeApiClient(AuthorizationV1Api);
    const missing: string[] = [];
    for (const attrs of SIGNER_ACCESS) {
      // Requests are asked about where they are watched: each listed namespace, or all of them.
      for (const namespace of attrs.resource === PCR_PLURAL ? this.namespaces : [ALL]) {
        const resourceAttributes = { ...attrs, version: attrs.resource === 'signers' ? '*' : pcr, ...(namespace ? { namespace } : {}) };
        const review = await callApi('POST selfsubjectaccessreviews', this.timeoutMs, (o) =>
          authz.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes } } }, o), this.read);
        if (!review.status?.allowed) missing.push(`${attrs.verb} ${attrs.resource}${attrs.subresource ? `/${attrs.subresource}` : ''}${attrs.name ? ` ${attrs.name}` : ''}${namespace ? ` in ${namespace}` : ''}`);
      }
    }
    if (missing.length > 0) {
      return `the operator may not ${missing.join(', ')}: apply deploy/optional/pod-certificates (Helm: podCertificates.enabled=true)`;
    }
    this.versions = { pcr, ctb };
    return undefined;
  }

  async start(handlers: { requestChanged(namespace: string, name: string): void; resynced?(): void }): Promise<void> {
    const version = this.need().pcr;
    const query = { fieldSelector: `spec.signerName=${POD_SIGNER_NAME}` };
    const watchdogMs = this.opts.watchdogMs ?? 5 * 60_000;
    const apiVersion = `${CERTIFICATES_GROUP}/${version}`;
    for (const ns of this.namespaces) {
      const watch = new Watch(this.opts.kubeConfig);
      (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = watchdogMs * 2;
      const list: PageFn = ns === ALL
        ? (limit, cont) => this.custom.listClusterCustomObject({ group: CERTIFICATES_GROUP, version, plural: PCR_PLURAL, ...query, limit, _continue: cont })
        : (limit, cont) => this.custom.listNamespacedCustomObject({ group: CERTIFICATES_GROUP, version, namespace: ns, plural: PCR_PLURAL, ...query, limit, _continue: cont });
      this.reflectors.set(ns, new Reflector<PodCertificateRequest>({
        name: ns === ALL ? 'podcertificaterequests' : `podcertificaterequests in ${ns}`,
        path: ns === ALL ? `/apis/${CERTIFICATES_GROUP}/${version}/${PCR_PLURAL}` : `/apis/${CERTIFICATES_GROUP}/${version}/namespaces/${encodeURIComponent(ns)}/${PCR_PLURAL}`,
        query,
        list: (onItems) => streamPages(list, PAGE_SIZE, onItems),
        // List items carry no apiVersion: every cached request says which version it was read in (Events name it).
        normalize: (raw) => ({ ...(raw as PodCertificateRequest), apiVersion, kind: PCR_KIND }),
        watch,
        onChange: (_kind, obj) => {
          try {
            handlers.requestChanged(obj.metadata.namespace ?? '', obj.metadata.name);
          } catch (err) {
            this.opts.logger.error('watch handler failed', { detail: describeError(err) });
          }
        },
        onResync: () => handlers.resynced?.(),
        logger: this.opts.logger,
        resyncIntervalMs: this.opts.resyncIntervalMs ?? 10 * 60_000,
        watchdogMs,
        listTimeoutMs: Math.max(watchdogMs, 60_000),
        backoff: DEFAULT_BACKOFF,
        healthyMs: DEFAULT_BACKOFF.maxMs,
      }));
    }
    await Promise.all([...this.reflectors.values()].map((r) => r.start()));
  }

  async stop(): Promise<void> {
    this.stopping.abort(new Error('the operator is stopping'));
    await Promise.all([...this.reflectors.values()].map((r) => r.stop()));
  }

  private reflectorFor(namespace: string): Reflector<PodCertificateRequest> | undefined {
    return this.reflectors.get(ALL) ?? this.reflectors.get(namespace);
  }

  getRequest(namespace: string, name: string): PodCertificateRequest | undefined {
    return this.reflectorFor(namespace)?.get(`${namespace}/${name}`);
  }

  listRequests(): PodCertificateRequest[] {
    return [...this.reflectors.values()].flatMap((r) => r.values());
  }

  async updateRequestStatus(request: PodCertificateRequest): Promise<void> {
    const { namespace = '', name } = request.metadata;
    const version = this.need().pcr;
    const body = { ...request, apiVersion: `${CERTIFICATES_GROUP}/${version}`, kind: 'PodCertificateRequest' };
    const updated = await callApi(`PUT ${PCR_PLURAL}/${namespace}/${name}/status`, this.timeoutMs, (o) =>
      this.custom.replaceNamespacedCustomObjectStatus({ group: CERTIFICATES_GROUP, version, plural: PCR_PLURAL, namespace, name, body }, o), this.write);
    if (updated !== null && typeof updated === 'object' && 'metadata' in updated) this.reflectorFor(namespace)?.put(updated as PodCertificateRequest);
  }

  async getBundle(name: string): Promise<ClusterTrustBundle | undefined> {
    const version = this.need().ctb;
    try {
      return (await callApi(`GET ${CTB_PLURAL}/${name}`, this.timeoutMs, (o) =>
        this.custom.getClusterCustomObject({ group: CERTIFICATES_GROUP, version, plural: CTB_PLURAL, name }, o), this.read)) as ClusterTrustBundle;
    } catch (err) {
      if (ClusterError.isNotFound(err)) return undefined;
      throw err;
    }
  }

  async createBundle(bundle: ClusterTrustBundle): Promise<void> {
    const version = this.need().ctb;
    const body = { ...bundle, apiVersion: `${CERTIFICATES_GROUP}/${version}`, kind: 'ClusterTrustBundle' };
    await callApi(`POST ${CTB_PLURAL}/${bundle.metadata.name}`, this.timeoutMs, (o) =>
      this.custom.createClusterCustomObject({ group: CERTIFICATES_GROUP, version, plural: CTB_PLURAL, body }, o), this.write);
  }

  async updateBundle(bundle: ClusterTrustBundle): Promise<void> {
    const version = this.need().ctb;
    const body = { ...bundle, apiVersion: `${CERTIFICATES_GROUP}/${version}`, kind: 'ClusterTrustBundle' };
    await callApi(`PUT ${CTB_PLURAL}/${bundle.metadata.name}`, this.timeoutMs, (o) =>
      this.custom.replaceClusterCustomObject({ group: CERTIFICATES_GROUP, version, plural: CTB_PLURAL, name: bundle.metadata.name, body }, o), this.write);
  }

  private need(): Versions {
    if (!this.versions) throw new Error('pod certificates: unavailable() must find the API first');
    return this.versions;
  }
}
