/**
 * The trust bundle ConfigMap (`mtls-trust-bundle`, key ca.crt) in every namespace that holds
 * identities, for workloads that only verify peers: kept equal to the current bundle, removed
 * when the namespace has no identities left.
 *
 * Only the operator's own ConfigMap is ever written or deleted. Ours is one that carries the
 * label app.kubernetes.io/managed-by=mtls-operator, which the operator sets when it creates the
 * ConfigMap; the first write is a create (POST), so a ConfigMap of that name that someone else
 * made (without the label) answers 409 AlreadyExists and is never taken over. Such a ConfigMap
 * is a conflict: left alone, a Warning Event `TrustBundleConflict` on every identity of the
 * namespace (once per conflict), the metric mtls_trust_bundle_conflict{namespace} = 1, and a
 * look again every few minutes (it is not watched: our watch selects our label). Updates carry
 * the resourceVersion read, deletes a uid + resourceVersion precondition, so a ConfigMap
 * replaced by someone in between is not overwritten or deleted either.
 */
import { CA_CRT, LABEL_MANAGED_BY, MANAGED_BY, TRUST_BUNDLE_CONFIGMAP, type ConfigMap } from '../api/types.ts';
import { ClusterError, type Cluster } from '../cluster/port.ts';
import type { Logger } from '../log.ts';
import type { CASource } from './ca-source.ts';
import { noObserver, type ControllerObserver } from './observer.ts';

export const BUNDLE_KEY_PREFIX = '@bundle/';
/** How soon to look again at a namespace whose bundle ConfigMap is someone else's. */
export const BUNDLE_CONFLICT_RETRY_MS = 5 * 60_000;

/** Whether the operator created this ConfigMap (it carries our label). */
export function isOurConfigMap(cm: ConfigMap | undefined): boolean {
  return cm?.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY;
}

export class BundleReconciler {
  private readonly cluster: Cluster;
  private readonly ca: CASource;
  private readonly logger: Logger;
  private readonly observer: ControllerObserver;
  /** Namespaces whose mtls-trust-bundle is someone else's. */
  private readonly conflicts = new Set<string>();

  constructor(deps: { cluster: Cluster; ca: CASource; logger: Logger; observer?: ControllerObserver }) {
    this.cluster = deps.cluster;
    this.ca = deps.ca;
    this.logger = deps.logger;
    this.observer = deps.observer ?? noObserver;
  }

  /** Namespaces whose bundle ConfigMap is someone else's: no bundle copy of ours there. */
  conflicted(): ReadonlySet<string> {
    return this.conflicts;
  }

  async reconcile(namespace: string): Promise<{ requeueAfterMs?: number }> {
    const used = this.cluster.listIdentities().some((id) => id.metadata.namespace === namespace && !id.metadata.deletionTimestamp);
    const cached = this.cluster.getConfigMap(namespace, TRUST_BUNDLE_CONFIGMAP);
    const existing = isOurConfigMap(cached) ? cached : undefined;
    if (!used) {
      this.resolved(namespace);
      if (existing) {
        await this.cluster.deleteConfigMap(namespace, TRUST_BUNDLE_CONFIGMAP, precondition(existing));
        this.logger.info('trust bundle removed: no identities left', { namespace, name: TRUST_BUNDLE_CONFIGMAP });
      }
      return {};
    }
    if (cached && !existing) return this.conflict(namespace);
    const { ca } = this.ca.current();
    if (!ca) return {}; // a broken CA changes nothing that is already out there
    if (existing?.data?.[CA_CRT] === ca.bundlePem) return this.resolved(namespace);
    const body: ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: TRUST_BUNDLE_CONFIGMAP, namespace, labels: { [LABEL_MANAGED_BY]: MANAGED_BY } },
      data: { [CA_CRT]: ca.bundlePem },
    };
    if (existing) {
      await this.cluster.applyConfigMap({ ...body, metadata: { ...body.metadata, resourceVersion: existing.metadata.resourceVersion! } });
    } else {
      try {
        await this.cluster.createConfigMap(body);
      } catch (err) {
        if (ClusterError.isConflict(err) && (err as ClusterError).reason === 'AlreadyExists') return this.conflict(namespace);
        throw err;
      }
    }
    this.logger.info('trust bundle written', { namespace, name: TRUST_BUNDLE_CONFIGMAP, reason: existing ? 'TrustBundleChanged' : 'TrustBundleMissing' });
    return this.resolved(namespace);
  }

  /** Namespaces that need a look: those with identities, those with a bundle, those in conflict. */
  namespaces(): string[] {
    const out = new Set<string>(this.conflicts);
    for (const id of this.cluster.listIdentities()) out.add(id.metadata.namespace!);
    for (const cm of this.cluster.listConfigMaps()) if (cm.metadata.name === TRUST_BUNDLE_CONFIGMAP) out.add(cm.metadata.namespace!);
    return [...out];
  }

  private conflict(namespace: string): { requeueAfterMs: number } {
    if (!this.conflicts.has(namespace)) {
      this.conflicts.add(namespace);
      const message = `ConfigMap ${namespace}/${TRUST_BUNDLE_CONFIGMAP} exists and was not created by mtls-operator: it is left untouched and no trust bundle ConfigMap is kept in this namespace (ca.crt in each identity's Secret is still current); rename or delete that ConfigMap`;
      this.logger.warn('trust bundle ConfigMap is not ours', { namespace, name: TRUST_BUNDLE_CONFIGMAP, reason: 'TrustBundleConflict' });
      for (const id of this.cluster.listIdentities()) {
        if (id.metadata.namespace !== namespace || id.metadata.deletionTimestamp) continue;
        const about = { apiVersion: id.apiVersion, kind: id.kind, namespace, name: id.metadata.name, ...(id.metadata.uid ? { uid: id.metadata.uid } : {}) };
        this.cluster.recordEvent(about, 'Warning', 'TrustBundleConflict', message).catch((err: Error) =>
          this.logger.warn('event not recorded', { namespace, name: id.metadata.name, reason: 'TrustBundleConflict', detail: err.message }));
      }
      this.observer.trustBundleConflict?.(namespace, true);
    }
    return { requeueAfterMs: BUNDLE_CONFLICT_RETRY_MS };
  }

  private resolved(namespace: string): Record<string, never> {
    if (this.conflicts.delete(namespace)) {
      this.observer.trustBundleConflict?.(namespace, false);
      this.logger.info('trust bundle ConfigMap no longer in the way', { namespace, name: TRUST_BUNDLE_CONFIGMAP });
    }
    return {};
  }
}

function precondition(cm: ConfigMap): { uid: string; resourceVersion: string } | undefined {
  const { uid, resourceVersion } = cm.metadata;
  return uid && resourceVersion ? { uid, resourceVersion } : undefined;
}
