/**
 * The trust bundle ConfigMap (`mtls-trust-bundle`, key ca.crt) in every namespace that holds
 * identities, for workloads that only verify peers: kept equal to the current bundle, removed
 * when the namespace has no identities left.
 */
import { CA_CRT, LABEL_MANAGED_BY, MANAGED_BY, TRUST_BUNDLE_CONFIGMAP } from '../api/types.ts';
import type { Cluster } from '../cluster/port.ts';
import type { Logger } from '../log.ts';
import type { CASource } from './ca-source.ts';

export const BUNDLE_KEY_PREFIX = '@bundle/';

export class BundleReconciler {
  private readonly cluster: Cluster;
  private readonly ca: CASource;
  private readonly logger: Logger;

  constructor(deps: { cluster: Cluster; ca: CASource; logger: Logger }) {
    this.cluster = deps.cluster;
    this.ca = deps.ca;
    this.logger = deps.logger;
  }

  async reconcile(namespace: string): Promise<void> {
    const used = this.cluster.listIdentities().some((id) => id.metadata.namespace === namespace && !id.metadata.deletionTimestamp);
    const existing = this.cluster.getConfigMap(namespace, TRUST_BUNDLE_CONFIGMAP);
    if (!used) {
      if (existing) {
        await this.cluster.deleteConfigMap(namespace, TRUST_BUNDLE_CONFIGMAP);
        this.logger.info('trust bundle removed: no identities left', { namespace, name: TRUST_BUNDLE_CONFIGMAP });
      }
      return;
    }
    const { ca } = this.ca.current();
    if (!ca) return; // a broken CA changes nothing that is already out there
    if (existing?.data?.[CA_CRT] === ca.bundlePem && existing.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY) return;
    await this.cluster.applyConfigMap({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: TRUST_BUNDLE_CONFIGMAP, namespace, labels: { [LABEL_MANAGED_BY]: MANAGED_BY } },
      data: { [CA_CRT]: ca.bundlePem },
    });
    this.logger.info('trust bundle written', { namespace, name: TRUST_BUNDLE_CONFIGMAP, reason: existing ? 'TrustBundleChanged' : 'TrustBundleMissing' });
  }

  /** Namespaces that need a look: those with identities and those with a bundle. */
  namespaces(): string[] {
    const out = new Set<string>();
    for (const id of this.cluster.listIdentities()) out.add(id.metadata.namespace!);
    for (const cm of this.cluster.listConfigMaps()) if (cm.metadata.name === TRUST_BUNDLE_CONFIGMAP) out.add(cm.metadata.namespace!);
    return [...out];
  }
}
