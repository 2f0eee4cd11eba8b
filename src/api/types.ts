/**
 * The MutualTLSIdentity API (mtls.dev/v1alpha1) and the few Kubernetes object shapes the
 * operator reads and writes. Plain data types: nothing here imports a Kubernetes client.
 */

export const GROUP = 'mtls.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'MutualTLSIdentity';
export const PLURAL = 'mutualtlsidentities';

/** Server-side-apply field manager for every object this operator writes. */
export const FIELD_MANAGER = 'mtls-operator';

export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'mtls-operator';
export const LABEL_IDENTITY = 'mtls.dev/identity';

export const ANNOTATION_SERIAL = 'mtls.dev/serial';
export const ANNOTATION_NOT_AFTER = 'mtls.dev/not-after';
export const ANNOTATION_SPIFFE_ID = 'mtls.dev/spiffe-id';
export const ANNOTATION_CA_FINGERPRINT = 'mtls.dev/ca-fingerprint';
export const ANNOTATION_SPEC_HASH = 'mtls.dev/spec-hash';
export const ANNOTATION_REVISION = 'mtls.dev/revision';
/** Hash of the secretTemplate the Secret was last written with: a change (a removed label too) rewrites it. */
export const ANNOTATION_TEMPLATE_HASH = 'mtls.dev/template-hash';

/** Keys of the issued Secret. */
export const TLS_CRT = 'tls.crt';
export const TLS_KEY = 'tls.key';
export const CA_CRT = 'ca.crt';

export type KeyAlgorithm = 'ECDSA' | 'Ed25519' | 'RSA';
export type KeyEncoding = 'PKCS8' | 'PKCS1';
export type RotationPolicy = 'Always' | 'Never';
export type KeyUsage =
  | 'digital signature'
  | 'key encipherment'
  | 'server auth'
  | 'client auth';

export interface PrivateKeySpec {
  algorithm?: KeyAlgorithm;
  /** ECDSA: 256 (default) or 384. RSA: 2048 (default), 3072 or 4096. Ignored for Ed25519. */
  size?: number;
  encoding?: KeyEncoding;
  rotationPolicy?: RotationPolicy;
}

export interface SecretTemplate {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface MutualTLSIdentitySpec {
  secretName?: string;
  serviceAccountName?: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  commonName?: string;
  /** Go-style duration ("24h", "90m", "2160h"). */
  duration?: string;
  renewBefore?: string;
  privateKey?: PrivateKeySpec;
  usages?: KeyUsage[];
  secretTemplate?: SecretTemplate;
  restartWorkloads?: WorkloadRef[];
  /** PKCS#12 keystores in the same Secret (src/outputs reads them). */
  keystores?: { pkcs12?: { enabled?: boolean; passwordSecretRef?: { name: string; key: string }; profile?: 'Modern' | 'Legacy' } };
  additionalOutputFormats?: Array<{ type: 'CombinedPEM' }>;
  /** Pods running as serviceAccountName get these names through podCertificate volumes (signer mtls.dev/identity). */
  podCertificates?: boolean;
}

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

/** A workload in the identity's namespace to restart when its certificate changes. */
export interface WorkloadRef {
  kind: WorkloadKind;
  name: string;
}

/** Pod-template annotation the operator sets to restart a workload that opted in: the leaf's serial. */
export const ANNOTATION_CERTIFICATE_HASH = 'mtls.dev/certificate-hash';
/**
 * Pod-template annotation set beside it: a hash of the trust bundle (ca.crt) the workload was
 * restarted for. A new bundle (a rotation's Prepared, Retired) restarts the workload once, so a
 * program that reads ca.crt only at start trusts the new root before any peer presents it.
 */
export const ANNOTATION_TRUST_BUNDLE_HASH = 'mtls.dev/trust-bundle-hash';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** metav1.Condition */
export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export interface MutualTLSIdentityStatus {
  conditions?: Condition[];
  observedGeneration?: number;
  notBefore?: string;
  notAfter?: string;
  renewalTime?: string;
  serialNumber?: string;
  spiffeID?: string;
  secretName?: string;
  revision?: number;
  failedIssuanceAttempts?: number;
  lastFailureTime?: string;
  /** The serial the opted-in workloads were last restarted for. */
  workloadsRestartedFor?: string;
  /** The trust bundle (hash of ca.crt) the opted-in workloads were last restarted for. */
  workloadsTrustBundle?: string;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
}

export interface MutualTLSIdentity {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: MutualTLSIdentitySpec;
  status?: MutualTLSIdentityStatus;
}

/** core/v1 Secret, with data values base64-encoded exactly as the API serves them. */
export interface Secret {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  type?: string;
  data?: Record<string, string>;
}

/** core/v1 ConfigMap (the trust bundle in each namespace; the rotation state). */
export interface ConfigMap {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  data?: Record<string, string>;
}

/** The trust bundle ConfigMap the operator keeps in every namespace that holds identities. */
export const TRUST_BUNDLE_CONFIGMAP = 'mtls-trust-bundle';
/** The trust-rotation state ConfigMap in the operator namespace. */
export const TRUST_ROTATION_CONFIGMAP = 'mtls-trust-rotation';

export type EventType = 'Normal' | 'Warning';

/** A reference to the object an Event is about. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}
