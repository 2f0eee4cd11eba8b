/**
 * The signer's roots as a ClusterTrustBundle (`mtls.dev:identity:roots`, spec.signerName
 * mtls.dev/identity, labels app.kubernetes.io/managed-by=mtls-operator and
 * mtls.dev/trust-domain=<trust domain>), beside the namespace ConfigMaps (bundles.ts). Its
 * trustBundle is exactly what the ConfigMaps hold (CASource's current bundle, so during a staged
 * rotation both roots, and the old one leaves only when the rotation retires it), written as bare
 * CERTIFICATE blocks without duplicates, as the API server requires.
 *
 * Only our own bundle is written: the first write is a create, so a bundle of that name made by
 * someone else (without our label) answers 409 and is left alone (a warning, looked at again
 * later); updates carry the resourceVersion read. Looked at again every few minutes and whenever
 * the CA or the rotation state changes.
 */
import { CTB_NAME_PREFIX, LABEL_TRUST_DOMAIN, POD_SIGNER_NAME, type ClusterTrustBundle } from '../api/podcert-types.ts';
import { LABEL_MANAGED_BY, MANAGED_BY } from '../api/types.ts';
import { ClusterError, type PodCertificateCluster } from '../cluster/port.ts';
import type { Logger } from '../log.ts';
import { mergeBundles } from '../pki/index.ts';
import type { CASource } from './ca-source.ts';

export const CTB_KEY = '@cluster-trust-bundle';
export const CTB_NAME = `${CTB_NAME_PREFIX}roots`;
/** How often the bundle is compared with the CA even when nothing was seen to change. */
export const CTB_RECHECK_MS = 5 * 60_000;

export class ClusterTrustBundleReconciler {
  private readonly pods: PodCertificateCluster;
  private readonly ca: CASource;
  private readonly logger: Logger;
  private readonly trustDomain: string;
  private conflictNoted = false;

  constructor(deps: { pods: PodCertificateCluster; ca: CASource; logger: Logger; trustDomain: string }) {
    this.pods = deps.pods;
    this.ca = deps.ca;
    this.logger = deps.logger;
    this.trustDomain = deps.trustDomain;
  }

  /** The bundle we want, or undefined while the CA is not loaded (what is out there stays). */
  desired(): ClusterTrustBundle | undefined {
    const { ca } = this.ca.current();
    if (!ca) return undefined;
    return {
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'ClusterTrustBundle',
      metadata: { name: CTB_NAME, labels: { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_TRUST_DOMAIN]: this.trustDomain } },
      spec: { signerName: POD_SIGNER_NAME, trustBundle: mergeBundles(ca.bundlePem) },
    };
  }

  async reconcile(): Promise<{ requeueAfterMs: number }> {
    const want = this.desired();
    if (!want) return { requeueAfterMs: CTB_RECHECK_MS };
    const existing = await this.pods.getBundle(CTB_NAME);
    if (existing && existing.metadata.labels?.[LABEL_MANAGED_BY] !== MANAGED_BY) return this.conflict();
    if (!existing) {
      try {
        await this.pods.createBundle(want);
      } catch (err) {
        if (ClusterError.isConflict(err) && (err as ClusterError).reason === 'AlreadyExists') return this.conflict();
        throw err;
      }
      this.logger.info('cluster trust bundle written', { name: CTB_NAME, reason: 'TrustBundleMissing' });
      return { requeueAfterMs: CTB_RECHECK_MS };
    }
    this.conflictNoted = false;
    const sameLabels = Object.entries(want.metadata.labels!).every(([k, v]) => existing.metadata.labels?.[k] === v);
    if (existing.spec.trustBundle === want.spec.trustBundle && sameLabels) return { requeueAfterMs: CTB_RECHECK_MS };
    await this.pods.updateBundle({
      ...existing,
      metadata: { ...existing.metadata, labels: { ...existing.metadata.labels, ...want.metadata.labels } },
      spec: { ...existing.spec, trustBundle: want.spec.trustBundle },
    });
    this.logger.info('cluster trust bundle written', { name: CTB_NAME, reason: 'TrustBundleChanged' });
    return { requeueAfterMs: CTB_RECHECK_MS };
  }

  private conflict(): { requeueAfterMs: number } {
    if (!this.conflictNoted) {
      this.conflictNoted = true;
      this.logger.warn('cluster trust bundle is not ours', {
        name: CTB_NAME, reason: 'TrustBundleConflict',
        message: `ClusterTrustBundle ${CTB_NAME} exists and was not created by mtls-operator: it is left untouched; delete it so the operator can publish its roots there`,
      });
    }
    return { requeueAfterMs: CTB_RECHECK_MS };
  }
}
