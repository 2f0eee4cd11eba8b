/** The writes of one reconcile: the Secret, the status, Events, and opted-in workload restarts. */
import { createHash } from 'node:crypto';
import { ANNOTATION_CERTIFICATE_HASH, ANNOTATION_TRUST_BUNDLE_HASH, FIELD_MANAGER, LABEL_IDENTITY, type MutualTLSIdentity, type MutualTLSIdentityStatus, type ObjectRef, type Secret } from '../api/types.ts';
import type { ResolvedSpec } from '../api/spec.ts';
import { ClusterError, type Cluster } from '../cluster/port.ts';
import type { Logger } from '../log.ts';
import { identityLabelValue } from '../api/labels.ts';
import { isOwnedBy, writtenByEarlierRelease } from './secret.ts';
import { statusPatch } from './status.ts';

export class IdentityWriter {
  private readonly cluster: Cluster;
  private readonly logger: Logger;
  private readonly allowWorkloadRestart: boolean;

  constructor(cluster: Cluster, logger: Logger, allowWorkloadRestart: boolean) {
    this.cluster = cluster;
    this.logger = logger;
    this.allowWorkloadRestart = allowWorkloadRestart;
  }

  /**
   * One server-side apply carries key, chain and bundle, with the identity's own field manager,
   * so every field stays this identity's to change or remove later. A new Secret is applied
   * without force: one that appeared between our read and this write, another identity's
   * included, is not taken over (409, and the next reconcile sees whose it is). An existing one
   * is applied with the resourceVersion we read, so a change since then refuses the write.
   *
   * A Secret last written by an earlier release (one shared manager, `mtls-operator`): once the
   * identity's manager has applied every field it wants, an empty apply as the shared manager
   * releases what that manager alone still held (a label since removed from secretTemplate).
   */
  /** Returns the Secret as the last write left it. */
  async secret(secret: Secret, existing: Secret | undefined, fieldManager: string): Promise<Secret> {
    if (!existing) return this.cluster.applySecret(secret, { force: false, fieldManager });
    const rv = existing.metadata.resourceVersion;
    const written = await this.cluster.applySecret({ ...secret, metadata: { ...secret.metadata, ...(rv ? { resourceVersion: rv } : {}) } }, { fieldManager });
    if (!writtenByEarlierRelease(existing)) return written;
    const { name, namespace } = secret.metadata;
    return this.cluster.applySecret({ apiVersion: 'v1', kind: 'Secret', metadata: { name, ...(namespace ? { namespace } : {}) } }, { force: false, fieldManager: FIELD_MANAGER });
  }

  /**
   * Delete Secrets this identity wrote under an earlier spec.secretName, once the current one is
   * written (looked for while status.secretName still names another Secret): only Secrets carrying our labels whose controller ownerReference is this identity,
   * and only if unchanged since they were read. Returns the names deleted.
   */
  async staleSecrets(identity: MutualTLSIdentity, current: string): Promise<string[]> {
    const { namespace, name, uid } = identity.metadata as { namespace: string; name: string; uid?: string };
    // Only after a change: status.secretName names the Secret last written (set after the write).
    const last = identity.status?.secretName;
    if (!uid || last === undefined || last === current) return [];
    const stale = this.cluster.listSecrets().filter((s) =>
      s.metadata.namespace === namespace && s.metadata.name !== current &&
      s.metadata.labels?.[LABEL_IDENTITY] === identityLabelValue(name) && isOwnedBy(s, identity) &&
      s.metadata.uid !== undefined && s.metadata.resourceVersion !== undefined);
    const deleted: string[] = [];
    for (const s of stale) {
      try {
        await this.cluster.deleteOwnedSecret(namespace, s.metadata.name, { uid: s.metadata.uid!, resourceVersion: s.metadata.resourceVersion! });
        deleted.push(s.metadata.name);
        this.logger.info('old Secret deleted: secretName changed', { namespace, name, secret: s.metadata.name, reason: 'SecretNameChanged' });
      } catch (err) {
        this.logger.warn('old Secret not deleted', { namespace, name, secret: s.metadata.name, detail: (err as Error).message });
      }
    }
    return deleted;
  }

  /** Patch status only when it differs; returns whether it wrote. */
  async status(identity: MutualTLSIdentity, status: MutualTLSIdentityStatus): Promise<boolean> {
    const patch = statusPatch(identity, status);
    if (!patch) return false;
    await this.cluster.patchIdentityStatus(identity.metadata.namespace!, identity.metadata.name, patch as MutualTLSIdentityStatus);
    return true;
  }

  event(identity: MutualTLSIdentity, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const about: ObjectRef = {
      apiVersion: identity.apiVersion, kind: identity.kind,
      namespace: identity.metadata.namespace!, name: identity.metadata.name,
      ...(identity.metadata.uid ? { uid: identity.metadata.uid } : {}),
    };
    this.cluster.recordEvent(about, type, reason, message).catch((err: Error) =>
      ClusterError.isNamespaceTerminating(err)
        ? this.logger.debug('event not recorded: the namespace is being deleted', { namespace: about.namespace, name: about.name, reason })
        : this.logger.warn('event not recorded', { namespace: about.namespace, name: about.name, reason, detail: err.message }));
  }

  /**
   * Restart the workloads an identity opted in to, once per certificate and once per trust bundle:
   * a program that reads its files only at start needs a new leaf, and as much a new ca.crt (a
   * rotation's Prepared adds the new root before any peer presents a leaf from it). Returns what
   * they were restarted for (recorded in status), or the last one when there is nothing to do.
   * It is called after the Secret holds that serial and bundle, so it acts at the pace of those
   * writes (the re-issue and bundle-update rate limits), never more than once for either.
   */
  async restartWorkloads(identity: MutualTLSIdentity, spec: ResolvedSpec, serial: string, bundlePem: string, renewed: boolean): Promise<Partial<RestartedFor>> {
    const done = { serial: identity.status?.workloadsRestartedFor, bundle: identity.status?.workloadsTrustBundle };
    if (spec.restartWorkloads.length === 0) return done;
    // Hashed only here: most identities restart nothing, and this runs on every reconcile.
    const now: RestartedFor = { serial, bundle: trustBundleHash(bundlePem) };
    // Before this field existed, the bundle they run with is unknown: take today's, restart nothing.
    const newBundle = done.bundle !== undefined && done.bundle !== now.bundle;
    if (done.serial === now.serial && !newBundle) return { serial: now.serial, bundle: now.bundle };
    const { namespace, name } = identity.metadata as { namespace: string; name: string };
    if (!renewed) return now; // the first certificate: the pods start with it
    if (!this.allowWorkloadRestart) {
      this.event(identity, 'Warning', 'WorkloadRestartDisabled', 'spec.restartWorkloads is set, but the operator runs without --allow-workload-restart: nothing was restarted');
      return now;
    }
    const why = done.serial !== now.serial ? `certificate serial ${now.serial}` : `a new trust bundle (ca.crt ${now.bundle})`;
    for (const w of spec.restartWorkloads) {
      try {
        await this.cluster.patchWorkloadTemplate(namespace, w, { [ANNOTATION_CERTIFICATE_HASH]: now.serial, [ANNOTATION_TRUST_BUNDLE_HASH]: now.bundle });
        this.logger.info('workload restarted', { namespace, name, reason: done.serial !== now.serial ? 'NewCertificate' : 'NewTrustBundle', workload: `${w.kind}/${w.name}`, serial: now.serial });
      } catch (err) {
        this.event(identity, 'Warning', 'WorkloadRestartFailed', `${w.kind} ${w.name} could not be restarted: ${(err as Error).message}`);
      }
    }
    this.event(identity, 'Normal', 'WorkloadsRestarted', `restarted ${spec.restartWorkloads.map((w) => `${w.kind}/${w.name}`).join(', ')} for ${why}`);
    return now;
  }
}

/** What opted-in workloads run with: the leaf's serial and a hash of the trust bundle. */
export interface RestartedFor {
  serial: string;
  bundle: string;
}

/** The trust bundle's short hash, as the pod-template annotation and status carry it. */
export function trustBundleHash(bundlePem: string): string {
  return createHash('sha256').update(bundlePem).digest('hex').slice(0, 16);
}
