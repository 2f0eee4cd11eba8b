/**
 * The parts of certificates.k8s.io PodCertificateRequest and ClusterTrustBundle the signer reads
 * and writes (k8s.io/api certificates/v1 types.go, Kubernetes 1.37; v1beta1 of 1.34-1.36 has the
 * same shape plus the deprecated pkixPublicKey/proofOfPossession pair).
 */
import type { ObjectMeta } from './types.ts';

export const CERTIFICATES_GROUP = 'certificates.k8s.io';
export const PCR_PLURAL = 'podcertificaterequests';
export const CTB_PLURAL = 'clustertrustbundles';
export const PCR_KIND = 'PodCertificateRequest';
/** The signer's name (spec.signerName of the requests it answers and of the bundles it publishes). */
export const POD_SIGNER_NAME = 'mtls.dev/identity';
/** ClusterTrustBundle names must start with the signer name, '/' written ':'. */
export const CTB_NAME_PREFIX = `${POD_SIGNER_NAME.replace('/', ':')}:`;
/** Label on our ClusterTrustBundles (value: the trust domain), for a projection's labelSelector. */
export const LABEL_TRUST_DOMAIN = 'mtls.dev/trust-domain';

export interface PodCertificateRequestSpec {
  signerName: string;
  podName: string;
  podUID: string;
  serviceAccountName: string;
  serviceAccountUID: string;
  nodeName: string;
  nodeUID: string;
  maxExpirationSeconds?: number;
  /** base64 DER PKCS#10 (v1, and v1beta1 since 1.36). */
  stubPKCS10Request?: string;
  /** base64 DER SubjectPublicKeyInfo (v1beta1 before 1.36). */
  pkixPublicKey?: string;
  proofOfPossession?: string;
  unverifiedUserAnnotations?: Record<string, string>;
}

export interface MetaCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface PodCertificateRequestStatus {
  conditions?: MetaCondition[];
  certificateChain?: string;
  notBefore?: string;
  beginRefreshAt?: string;
  notAfter?: string;
}

export interface PodCertificateRequest {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: PodCertificateRequestSpec;
  status?: PodCertificateRequestStatus;
}

export interface ClusterTrustBundle {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: { signerName?: string; trustBundle: string };
}

/** The terminal conditions: at most one, and once set the status never changes again. */
export const TERMINAL_CONDITIONS = ['Issued', 'Denied', 'Failed'] as const;

export function terminalCondition(req: PodCertificateRequest): MetaCondition | undefined {
  return req.status?.conditions?.find((c) => (TERMINAL_CONDITIONS as readonly string[]).includes(c.type) && c.status === 'True');
}
