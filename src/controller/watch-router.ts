/**
 * The watch handlers: each turns a watch event into the keys to look at, only enqueues them, and
 * never throws into a watch. The workers that take those keys: controller.ts.
 */
import { labelIsName } from '../api/labels.ts';
import { KIND, LABEL_IDENTITY, TRUST_BUNDLE_CONFIGMAP, type Secret } from '../api/types.ts';
import type { Cluster, ClusterHandlers } from '../cluster/port.ts';
import type { Logger } from '../log.ts';
import { BUNDLE_KEY_PREFIX } from './bundles.ts';
import { ROTATION_CONFIGMAP, type CASource } from './ca-source.ts';
import { ROTATION_KEY } from './rotation.ts';
import type { WorkQueue } from './queue.ts';

export interface WatchRouterDeps {
  queue: WorkQueue;
  cluster: Cluster;
  ca: CASource;
  config: { operatorNamespace: string };
  logger: Logger;
  /** Every identity, every namespace's trust bundle, and the rotation (Controller.enqueueAll). */
  enqueueAll: () => void;
  /** ClusterHandlers.issuedSecretArrived (Arrivals.inspect): a transform, not an event. */
  factsOnArrival?: (secret: Secret) => boolean;
  /** ClusterHandlers.trustSynced (Arrivals.prepare). */
  prepareArrivals?: () => Promise<void>;
  /**
   * Whether every cache has synced once (default: yes). Before that the CA is not re-read on a watch event: the start
   * reads it once the caches are whole, and a CA Secret found missing while the issued Secrets are half listed could
   * look like a first install (CASource bootstraps only when no CA was ever in use).
   */
  synced?: () => boolean;
}

export class WatchRouter {
  private readonly deps: WatchRouterDeps;
  /** What each identity looked like when last enqueued: uid, generation, labels, annotations. */
  private readonly seen = new Map<string, string>();

  constructor(deps: WatchRouterDeps) {
    this.deps = deps;
  }

  /** Watch handlers: each only enqueues keys, and never throws into a watch. */
  readonly handlers: ClusterHandlers = {
    identityChanged: (namespace, name) => this.guard(() => this.onIdentity(namespace, name)),
    secretChanged: (namespace, name, labels, controllerOwner) =>
      this.guard(() => {
        // The controller ownerReference names the identity; the label does too, unless it was removed by hand or
        // holds a long name's prefix and hash.
        const label = labels[LABEL_IDENTITY];
        const owner = controllerOwner ?? (label && labelIsName(label) ? label : undefined);
        if (owner) this.deps.queue.add(`${namespace}/${owner}`);
        else void this.ownerOf(namespace, name).then((id) => id && this.deps.queue.add(`${namespace}/${id}`));
      }),
    caSecretChanged: () => this.guard(() => this.trustChanged()),
    configMapChanged: (namespace, name) =>
      this.guard(() => {
        if (name === TRUST_BUNDLE_CONFIGMAP) this.deps.queue.add(BUNDLE_KEY_PREFIX + namespace);
        if (namespace === this.deps.config.operatorNamespace && name === ROTATION_CONFIGMAP) this.trustChanged(this.ownStateEcho());
      }),
    resynced: () => this.guard(() => this.deps.enqueueAll()),
    trustSynced: async () => {
      try {
        await this.deps.prepareArrivals?.();
      } catch (err) {
        this.deps.logger.warn('the CA certificates could not be read before the issued Secrets were listed', { reason: 'InspectionDeferred', error: (err as Error).message });
      }
    },
    issuedSecretArrived: (secret) => {
      try {
        return this.deps.factsOnArrival?.(secret) === true;
      } catch (err) {
        this.deps.logger.warn('a Secret could not be inspected as it arrived', { namespace: secret.metadata.namespace, name: secret.metadata.name, reason: 'InspectionFailed', error: (err as Error).message });
        return false;
      }
    },
  };

  /**
   * The rotation state in the cache is the version the rotation itself last wrote (its own write coming back through
   * the watch). Queueing the rotation again for it made a loop during a mass re-issue: write progress, see the echo,
   * count again, write again, ~4 writes a second at 10,000 identities (issue 11). The rotation looks again on its own
   * timer; what its write changed in what is trusted still reaches everything through the refresh.
   */
  private ownStateEcho(): boolean {
    const cached = this.deps.cluster.getConfigMap(this.deps.config.operatorNamespace, ROTATION_CONFIGMAP)?.metadata.resourceVersion;
    return cached !== undefined && cached === this.deps.ca.trust.resourceVersion;
  }

  /** The CA Secret or the rotation state changed: re-read; if what signs or is trusted moved, look at everything. */
  private trustChanged(echo = false): void {
    if (!echo) this.deps.queue.add(ROTATION_KEY);
    if (this.deps.synced?.() === false) return;
    void this.deps.ca.refresh().then((changed) => {
      if (changed) this.deps.enqueueAll();
    });
  }

  /**
   * An identity changed. Only a change of spec (generation), labels or annotations is work:
   * status updates, our own above all, are not, or every status write would re-run its
   * reconcile and a failing one would skip its backoff.
   */
  private onIdentity(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const id = this.deps.cluster.getIdentity(namespace, name);
    if (!id) {
      this.seen.delete(key);
      this.deps.queue.add(key, false, true);
      this.deps.queue.add(BUNDLE_KEY_PREFIX + namespace);
      return;
    }
    const m = id.metadata;
    const version = JSON.stringify([m.uid, m.generation, m.labels ?? {}, m.annotations ?? {}, m.deletionTimestamp ?? '']);
    if (this.seen.get(key) === version) return;
    if (!this.seen.has(key)) this.deps.queue.add(BUNDLE_KEY_PREFIX + namespace);
    this.seen.set(key, version);
    // The identity itself changed: it runs now even if it holds a re-issue reservation (it keeps the reservation).
    this.deps.queue.add(key, false, true);
  }

  /** The identity that controls a Secret, by its ownerReference (when its label is gone). */
  private async ownerOf(namespace: string, name: string): Promise<string | undefined> {
    const secret = await this.deps.cluster.getSecret(namespace, name).catch(() => undefined);
    return secret?.metadata.ownerReferences?.find((r) => r.controller && r.kind === KIND)?.name;
  }

  /** Runs a watch handler (the pod-certificate watch's too): what it throws is logged, never thrown into the watch. */
  guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.deps.logger.error('watch handler failed', { detail: (err as Error).message });
    }
  }
}
