/**
 * The cluster port: everything the controller needs from Kubernetes, and nothing more.
 * Implemented by the client-node adapter (src/adapter) and by the in-memory cluster
 * (src/cluster/memory.ts) that tests and the benchmark drive.
 *
 * Reads of identities and of our own Secrets come from watch-fed caches and are shared with
 * them: callers never mutate what they get. Writes go to the API.
 */
import type {
  ConfigMap,
  EventType,
  MutualTLSIdentity,
  MutualTLSIdentityStatus,
  ObjectRef,
  Secret,
  WorkloadRef,
} from '../api/types.ts';
import type { ClusterTrustBundle, PodCertificateRequest } from '../api/podcert-types.ts';

/** Called by watches. Handlers must be cheap: they only enqueue keys. */
export interface ClusterHandlers {
  /** An identity was added, changed or deleted. */
  identityChanged(namespace: string, name: string): void;
  /**
   * A Secret carrying our labels was added, changed or deleted (labels, and the name of its controller owner if it
   * is a MutualTLSIdentity, as last seen).
   */
  secretChanged(namespace: string, name: string, labels: Record<string, string>, controllerOwner?: string): void;
  /** The CA Secret (operator namespace) was added, changed or deleted. */
  caSecretChanged(): void;
  /** A ConfigMap carrying our labels was added, changed or deleted. */
  configMapChanged?(namespace: string, name: string): void;
  /** A watch relisted: everything may have changed (handlers re-enqueue all keys). */
  resynced?(): void;
  /**
   * A transform, as client-go's informers have (SetTransform), not an event: called with each version of a Secret
   * the cache is about to keep with its data (one a live identity owns, from a list page or a watch event; never
   * the echo of the operator's own write, nor a version the cache drops: older than its copy, or deleted), before
   * any reconcile can see it. true: the caller has what it needs of
   * tls.crt and tls.key (leaf-facts.ts), and the cache keeps this version without them, as after releaseKeyPair.
   * Synchronous and cheap (one inspection); a throw counts as false.
   */
  issuedSecretArrived?(secret: Secret): boolean;
  /**
   * Called once per start, awaited: the caches of identities, of the CA Secret and of the rotation state have synced,
   * and the issued Secrets are not listed yet (what issuedSecretArrived checks leaves against can be read now). A
   * rejection is the handler's to log; the start goes on.
   */
  trustSynced?(): Promise<void>;
}

/** ClusterError.reason of a write refused because its namespace is being deleted. */
export const NAMESPACE_TERMINATING = 'NamespaceTerminating';

/** Errors the port throws, with the Kubernetes HTTP status code. */
export class ClusterError extends Error {
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string, message: string) {
    super(message);
    this.name = 'ClusterError';
    this.code = code;
    this.reason = reason;
  }
  static isNotFound(err: unknown): boolean {
    return err instanceof ClusterError && err.code === 404;
  }
  static isConflict(err: unknown): boolean {
    return err instanceof ClusterError && err.code === 409;
  }
  /** Refused because the namespace is being deleted: nothing new can be written there, ever again. */
  static isNamespaceTerminating(err: unknown): boolean {
    return err instanceof ClusterError && err.code === 403 && err.reason === NAMESPACE_TERMINATING;
  }
}

export interface Cluster {
  /** Start watches; resolves once every cache has synced once. */
  start(handlers: ClusterHandlers): Promise<void>;
  stop(): Promise<void>;

  /** From the cache. */
  getIdentity(namespace: string, name: string): MutualTLSIdentity | undefined;
  /** From the cache. */
  listIdentities(): MutualTLSIdentity[];

  /**
   * A Secret by name. Our labeled Secrets and the CA Secret come from caches; any other
   * name is read from the API (so a foreign Secret in the way is seen). undefined: absent.
   */
  getSecret(namespace: string, name: string): Promise<Secret | undefined>;

  /**
   * The caller has what it needs of tls.crt and tls.key of this version of an issued Secret (its
   * inspection, src/controller/leaf-facts.ts): the cache may drop them (issue 11: ~1.3 KB per
   * identity). getSecret and listSecrets then answer with that version without them, and
   * wholeSecret reads it whole. A newer version arrives whole. Optional: a cluster without a cache
   * keeps everything.
   */
  releaseKeyPair?(namespace: string, name: string, resourceVersion: string): void;

  /**
   * `secret` (an answer of getSecret or listSecrets) with everything it holds: itself, unless the
   * cache dropped its key pair, and then read from the API (undefined: it is gone).
   */
  wholeSecret?(secret: Secret): Promise<Secret | undefined>;

  /**
   * Server-side apply with our field manager (`fieldManager`, default the operator's; an
   * identity's Secret is applied with that identity's own manager). When
   * metadata.resourceVersion is set, a Secret changed since is not written: 409. `force: false`
   * (the first write of a Secret) refuses with 409 to take over fields another manager set to
   * other values, so a Secret that appeared between our read and our write, another identity's
   * included, is not overwritten; the default forces (we own the Secret).
   */
  applySecret(secret: Secret, options?: { force?: boolean; fieldManager?: string }): Promise<Secret>;

  /**
   * Delete a Secret the operator owns, only if it is still the object that was read (uid and
   * resourceVersion preconditions: 409 otherwise). An absent one is not an error.
   */
  deleteOwnedSecret(namespace: string, name: string, precondition: { uid: string; resourceVersion: string }): Promise<void>;

  /** Create a Secret; throws ClusterError 409 if it already exists (CA bootstrap, a generated root). */
  createSecret(secret: Secret): Promise<Secret>;

  /** Merge-patch the status subresource. */
  patchIdentityStatus(
    namespace: string,
    name: string,
    status: MutualTLSIdentityStatus,
  ): Promise<void>;

  /** Our labeled Secrets (app.kubernetes.io/managed-by=mtls-operator), from the cache. */
  listSecrets(): Secret[];

  /**
   * Merge-patch a Secret's annotations (a null value removes one). The operator uses it only on
   * its CA Secret, to clear a rotation request it has carried out.
   */
  patchSecretAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<void>;

  /** A ConfigMap carrying our labels, from the cache (the operator namespace is always watched). */
  getConfigMap(namespace: string, name: string): ConfigMap | undefined;
  /** Every ConfigMap carrying our labels, from the cache. */
  listConfigMaps(): ConfigMap[];
  /**
   * Server-side apply of a ConfigMap with our field manager (it carries our labels). When
   * metadata.resourceVersion is set, a ConfigMap changed since is not written: 409.
   */
  applyConfigMap(configMap: ConfigMap): Promise<ConfigMap>;
  /**
   * A guarded write of a ConfigMap the operator keeps state in (the rotation state): with
   * metadata.resourceVersion, a replace (PUT) that the server refuses with 409 when the ConfigMap
   * changed since it was read (404 when it is gone); without, a create that fails with 409 when
   * it exists. Never forced: a stale writer cannot move the state backwards.
   */
  writeConfigMap(configMap: ConfigMap): Promise<ConfigMap>;
  /**
   * Create a ConfigMap (POST); throws ClusterError 409 AlreadyExists when one of that name exists,
   * whoever made it. The first write of a trust bundle: nobody's ConfigMap is ever taken over.
   */
  createConfigMap(configMap: ConfigMap): Promise<ConfigMap>;
  /**
   * Delete a ConfigMap; an absent one is not an error. With a precondition, only if it is still
   * the object that was read (uid and resourceVersion): 409 otherwise.
   */
  deleteConfigMap(namespace: string, name: string, precondition?: { uid: string; resourceVersion: string }): Promise<void>;

  /**
   * Merge-patch annotations onto a workload's pod template (apps/v1), which rolls it out.
   * Only for workloads an identity opted in to restart.
   */
  patchWorkloadTemplate(namespace: string, workload: WorkloadRef, annotations: Record<string, string>): Promise<void>;

  /**
   * Whether a ServiceAccount of that name exists in the namespace (issue 19, point 6). A GET, not a watch: the
   * adapter caches the answer for a few seconds, so a reconcile loop does not ask the API each time.
   */
  serviceAccountExists(namespace: string, name: string): Promise<boolean>;

  /** Record a core/v1 Event about an object. Failures are swallowed by the caller. */
  recordEvent(
    about: ObjectRef,
    type: EventType,
    reason: string,
    message: string,
  ): Promise<void>;
}

/**
 * The pod-certificate part of the cluster (certificates.k8s.io): PodCertificateRequests naming our
 * signer (watched, cached) and our ClusterTrustBundles (read and written on demand). Separate from
 * Cluster because clusters before Kubernetes 1.34 (or with the API off) have none of it.
 */
export interface PodCertificateCluster {
  /**
   * Whether the API is served and the operator may use it: undefined when it can, otherwise one
   * sentence saying why not (the signer stays off).
   */
  unavailable(): Promise<string | undefined>;
  /** The certificates.k8s.io version of PodCertificateRequests in use (v1, v1beta1), once unavailable() found it. */
  requestVersion?(): string;
  /** Start the watch of requests naming `signerName`; resolves once the cache has synced. */
  start(handlers: { requestChanged(namespace: string, name: string): void; resynced?(): void }): Promise<void>;
  stop(): Promise<void>;
  /** From the cache. */
  getRequest(namespace: string, name: string): PodCertificateRequest | undefined;
  listRequests(): PodCertificateRequest[];
  /**
   * Replace the status subresource, guarded by the request's metadata.resourceVersion: 409 when
   * it changed since it was read (someone else answered), 404 when it is gone.
   */
  updateRequestStatus(request: PodCertificateRequest): Promise<void>;
  /** A ClusterTrustBundle by name (read from the API); undefined: absent. */
  getBundle(name: string): Promise<ClusterTrustBundle | undefined>;
  /** Create (409 AlreadyExists when a bundle of that name exists, whoever made it). */
  createBundle(bundle: ClusterTrustBundle): Promise<void>;
  /** Replace, guarded by metadata.resourceVersion (409 when it changed since it was read). */
  updateBundle(bundle: ClusterTrustBundle): Promise<void>;
}
