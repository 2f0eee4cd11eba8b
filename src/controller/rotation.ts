/**
 * Drives the staged root rotation (decide/rotation.ts) with side effects: it prepares the new
 * CA, persists each phase in the ConfigMap `mtls-trust-rotation`, promotes the new CA into the
 * CA Secret when the old root retires, and clears the request annotations it carried out.
 * It observes progress from the caches: bundle copies in Secrets and ConfigMaps, and which CA
 * signed every issued leaf.
 */
import { X509Certificate } from 'node:crypto';
import { CA_CRT, LABEL_MANAGED_BY, MANAGED_BY, TLS_CRT, TLS_KEY, TRUST_BUNDLE_CONFIGMAP, type ObjectRef } from '../api/types.ts';
import type { Clock } from '../clock.ts';
import type { Cluster } from '../cluster/port.ts';
import { isRunning, nextRotationStep, rotationToData, type RotationState } from '../decide/rotation.ts';
import type { Logger } from '../log.ts';
import { fingerprintOf, generateRootCA, isIssuedBy, loadSigningCA } from '../pki/index.ts';
import { ANNOTATION_ROTATE_TO, ANNOTATION_ROTATION_ABORT, caSecretFor, ROTATION_CONFIGMAP, type CASource } from './ca-source.ts';
import type { ControllerObserver } from './observer.ts';
import { unb64 } from './secret.ts';

export const ROTATION_KEY = '@rotation';

export interface RotationConfig {
  /** Prepared: wait this long after every bundle copy is updated (kubelet refresh). */
  propagationDelayMs: number;
  /** Added to the last old leaf's expiry before the old root retires. */
  skewMs: number;
  /** How often a running rotation looks at its progress. */
  checkIntervalMs: number;
}

export class RotationReconciler {
  private readonly cluster: Cluster;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly ca: CASource;
  private readonly config: RotationConfig;
  private readonly observer: ControllerObserver;

  /** Namespaces whose mtls-trust-bundle ConfigMap is someone else's: no copy of ours to wait for. */
  private readonly bundleConflicts: () => ReadonlySet<string>;

  constructor(deps: { cluster: Cluster; clock: Clock; logger: Logger; ca: CASource; config: RotationConfig; observer: ControllerObserver; bundleConflicts?: () => ReadonlySet<string> }) {
    this.bundleConflicts = deps.bundleConflicts ?? (() => new Set());
    this.cluster = deps.cluster;
    this.clock = deps.clock;
    this.logger = deps.logger;
    this.ca = deps.ca;
    this.config = deps.config;
    this.observer = deps.observer;
  }

  /** One step of the rotation; returns when to look again. */
  async reconcile(): Promise<{ requeueAfterMs?: number }> {
    const { main, rotation, next, annotations } = this.ca.trust;
    const now = new Date(this.clock.now());
    const signing = this.ca.current().ca;
    const step = nextRotationStep({
      now,
      state: rotation,
      requested: annotations[ANNOTATION_ROTATE_TO],
      abortRequested: annotations[ANNOTATION_ROTATION_ABORT] !== undefined,
      bundles: this.bundleCopies(signing?.bundlePem),
      leaves: this.leaves(next?.ca?.certificate ?? signing?.certificate),
      propagationDelayMs: this.config.propagationDelayMs,
      skewMs: this.config.skewMs,
    });
    this.observer.rotationPhase?.(rotation?.phase);
    switch (step.kind) {
      case 'none':
        break;
      case 'clearRequest':
        // Clear first, then record it: a crash in between leaves no request to be mistaken for a new one.
        await this.cluster.patchSecretAnnotations(this.ca.namespace, this.ca.name, { [ANNOTATION_ROTATE_TO]: null, [ANNOTATION_ROTATION_ABORT]: null });
        if (rotation) await this.save({ ...rotation, requestCleared: true });
        break;
      case 'start':
        if (main.ca) await this.start(step.request, main.ca.fingerprint, now);
        break;
      case 'write':
        await this.save(step.state);
        if (step.transition) this.announce(step.state);
        break;
      case 'retire':
        await this.retire(step.state);
        break;
    }
    return isRunning(rotation) || step.kind === 'start' ? { requeueAfterMs: this.config.checkIntervalMs } : {};
  }

  private async start(request: string, oldFingerprint: string, now: Date): Promise<void> {
    let secretName = request;
    if (request === 'generate') {
      const root = await generateRootCA({ commonName: `mtls-operator root CA ${now.toISOString().slice(0, 10)}`, now });
      const fp = fingerprintOf(new X509Certificate(root.certPem));
      secretName = `${this.ca.name}-${fp.slice(0, 10)}`;
      await this.cluster.createSecret(caSecretFor(this.ca.namespace, secretName, root.certPem, root.keyPem, root.certPem));
    }
    const secret = await this.cluster.getSecret(this.ca.namespace, secretName);
    const certPem = unb64(secret?.data?.[TLS_CRT]);
    const keyPem = unb64(secret?.data?.[TLS_KEY]);
    const bundlePem = unb64(secret?.data?.[CA_CRT]);
    let fingerprint: string;
    try {
      if (!certPem || !keyPem) throw new Error(`Secret ${this.ca.namespace}/${secretName} must exist and hold tls.crt and tls.key`);
      fingerprint = (await loadSigningCA({ certPem, keyPem, ...(bundlePem ? { bundlePem } : {}) }, now)).fingerprint;
    } catch (err) {
      const message = `root rotation to ${secretName} refused: ${(err as Error).message}`;
      this.logger.error('root rotation refused', { reason: 'RotationRefused', message });
      this.event('Warning', 'RotationRefused', message);
      return;
    }
    const state: RotationState = {
      phase: 'Prepared', request, since: now.toISOString(), newRootSecret: secretName,
      newRootFingerprint: fingerprint, oldRootFingerprint: oldFingerprint, done: 0, total: 0,
      message: 'the new root is being added to every trust bundle; the old CA still signs',
    };
    await this.save(state);
    this.announce(state);
  }

  /** The new CA becomes the CA Secret (which drops the old root), then the state says Retired. */
  private async retire(state: RotationState): Promise<void> {
    const next = await this.cluster.getSecret(this.ca.namespace, state.newRootSecret);
    const certPem = unb64(next?.data?.[TLS_CRT]);
    const keyPem = unb64(next?.data?.[TLS_KEY]);
    if (!certPem || !keyPem) throw new Error(`Secret ${this.ca.namespace}/${state.newRootSecret} lost its CA material before the old root retired`);
    const promoted = caSecretFor(this.ca.namespace, this.ca.name, certPem, keyPem, unb64(next!.data![CA_CRT]) ?? certPem);
    if (this.ca.trust.main.ca?.fingerprint !== state.newRootFingerprint) await this.cluster.applySecret(promoted);
    await this.save(state);
    this.announce(state);
  }

  private async save(state: RotationState): Promise<void> {
    await this.cluster.applyConfigMap({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: ROTATION_CONFIGMAP, namespace: this.ca.namespace, labels: { [LABEL_MANAGED_BY]: MANAGED_BY } },
      data: rotationToData(state),
    });
  }

  private announce(state: RotationState): void {
    this.logger.info('root rotation', { reason: `Rotation${state.phase}`, phase: state.phase, newRoot: state.newRootFingerprint, detail: state.message });
    this.event('Normal', `Rotation${state.phase}`, `${state.phase}: ${state.message}`);
  }

  private event(type: 'Normal' | 'Warning', reason: string, message: string): void {
    const about: ObjectRef = { apiVersion: 'v1', kind: 'ConfigMap', namespace: this.ca.namespace, name: ROTATION_CONFIGMAP };
    this.cluster.recordEvent(about, type, reason, message).catch(() => undefined);
  }

  /** Copies of the trust bundle that must be current: every issued Secret and bundle ConfigMap. */
  private bundleCopies(bundlePem: string | undefined): { total: number; current: number } {
    let total = 0;
    let current = 0;
    for (const s of this.cluster.listSecrets()) {
      total++;
      if (bundlePem !== undefined && unb64(s.data?.[CA_CRT]) === bundlePem) current++;
    }
    const namespaces = new Set(this.cluster.listIdentities().map((i) => i.metadata.namespace));
    const conflicted = this.bundleConflicts();
    for (const ns of namespaces) {
      if (conflicted.has(ns!)) continue;
      total++;
      if (bundlePem !== undefined && this.cluster.getConfigMap(ns!, TRUST_BUNDLE_CONFIGMAP)?.data?.[CA_CRT] === bundlePem) current++;
    }
    return { total, current };
  }

  /** Issued leaves, how many the new CA signed, and the latest expiry of the rest. */
  private leaves(newCA: X509Certificate | undefined): { total: number; onNewCA: number; oldMaxNotAfter?: Date } {
    let total = 0;
    let onNewCA = 0;
    let oldMax = 0;
    for (const s of this.cluster.listSecrets()) {
      const pem = unb64(s.data?.[TLS_CRT]);
      if (!pem) continue;
      let leaf: X509Certificate;
      try {
        leaf = new X509Certificate(pem);
      } catch {
        continue;
      }
      total++;
      if (newCA && isIssuedBy(leaf, newCA)) onNewCA++;
      else oldMax = Math.max(oldMax, new Date(leaf.validTo).getTime());
    }
    return { total, onNewCA, ...(oldMax ? { oldMaxNotAfter: new Date(oldMax) } : {}) };
  }
}
