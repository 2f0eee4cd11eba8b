/**
 * Drives the root rotation (decide/rotation.ts) with side effects: it prepares the new CA,
 * persists each phase in the ConfigMap `mtls-trust-rotation` (always guarded by the
 * resourceVersion it read, so a stale replica cannot move the state backwards), promotes the new
 * CA into the CA Secret when the old root retires, and clears the request annotations it carried
 * out. The same ConfigMap records the CA in use, so a CA Secret replaced in place becomes an
 * unstaged rotation that keeps the old root trusted, and a lost state is recovered from the
 * cluster (the request, the generated root's name, which CA signed the live leaves) instead of
 * starting a second rotation.
 */
import { randomBytes } from 'node:crypto';
import { CA_CRT, LABEL_MANAGED_BY, MANAGED_BY, TLS_CRT, TLS_KEY, type ObjectRef } from '../api/types.ts';
import type { Clock } from '../clock.ts';
import type { Cluster } from '../cluster/port.ts';
import { isRunning, nextRotationStep, recordToData, type RotationState, type TrustRecord } from '../decide/rotation.ts';
import type { Logger } from '../log.ts';
import { bundleFingerprints, generateRootCA, keptRoots, latestExpiry, loadSigningCA, mergeBundles } from '../pki/index.ts';
import type { SigningCA } from '../pki/types.ts';
import {
  ANNOTATION_DISTRUST_ROOT, ANNOTATION_ROTATE_TO, ANNOTATION_ROTATION_ABORT, ANNOTATION_ROTATION_DONE, ANNOTATION_ROTATION_GENERATED,
  ANNOTATION_UNSTAGED_OLD_ROOTS, caSecretFor, ROTATION_CONFIGMAP, type CASource,
} from './ca-source.ts';
import type { ControllerObserver } from './observer.ts';
import { oldLeavesNotAfter, rotationProgress } from './rotation-progress.ts';
import { recoverStaged, recoverUnstaged, unstagedOldRoots, type RecoveryHost } from './rotation-recovery.ts';
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

export class RotationReconciler implements RecoveryHost {
  readonly cluster: Cluster;
  private readonly clock: Clock;
  readonly logger: Logger;
  readonly ca: CASource;
  private readonly config: RotationConfig;
  private readonly observer: ControllerObserver;

  /** Namespaces whose mtls-trust-bundle ConfigMap is someone else's: no copy of ours to wait for. */
  private readonly bundleConflicts: () => ReadonlySet<string>;
  /**
   * While the pod-certificate signer runs: the longest lifetime it issues. Pod certificates live on
   * nodes, not in the cluster, so the old root stays until any one the old CA signed could have
   * expired: until (the moment the new CA began signing) + this, like an old leaf's notAfter.
   */
  private readonly podCertificateLifetimeMs: () => number | undefined;

  constructor(deps: { cluster: Cluster; clock: Clock; logger: Logger; ca: CASource; config: RotationConfig; observer: ControllerObserver; bundleConflicts?: () => ReadonlySet<string>; podCertificateLifetimeMs?: () => number | undefined }) {
    this.bundleConflicts = deps.bundleConflicts ?? (() => new Set());
    this.podCertificateLifetimeMs = deps.podCertificateLifetimeMs ?? (() => undefined);
    this.cluster = deps.cluster;
    this.clock = deps.clock;
    this.logger = deps.logger;
    this.ca = deps.ca;
    this.config = deps.config;
    this.observer = deps.observer;
  }

  get skewMs(): number {
    return this.config.skewMs;
  }

  /** One step of the rotation; returns when to look again. */
  async reconcile(): Promise<{ requeueAfterMs?: number }> {
    const trust = this.ca.trust;
    const { main, rotation, record, annotations } = trust;
    const now = new Date(this.clock.now());
    this.observer.rotationPhase?.(rotation?.phase);
    if (!isRunning(rotation) && main.ca) {
      const requested = annotations[ANNOTATION_ROTATE_TO];
      if (!record.caFingerprint && requested !== undefined && !rotation) {
        // The state ConfigMap is gone (or never was) while a request stands: recover, never restart blind.
        await recoverStaged(this, requested, main.ca, now);
        return { requeueAfterMs: this.config.checkIntervalMs };
      }
      if (!record.caFingerprint && !rotation && unstagedOldRoots(annotations).length > 0) {
        // Gone while an unstaged rotation ran: its replaced roots are found again, never forgotten.
        await recoverUnstaged(this, main.ca, annotations, now);
        return { requeueAfterMs: this.config.checkIntervalMs };
      }
      if (!record.caFingerprint) {
        await this.save({ ...record, caFingerprint: main.ca.fingerprint, caBundlePem: main.ca.bundlePem, seen: seenWith(record.seen, main.ca.fingerprint) });
        return {};
      }
      if (record.caFingerprint !== main.ca.fingerprint) {
        await this.startUnstaged(record, main.ca, now);
        return { requeueAfterMs: this.config.checkIntervalMs };
      }
      if (annotations[ANNOTATION_UNSTAGED_OLD_ROOTS] !== undefined) {
        // The unstaged rotation retired its old roots: nothing left to recover them for.
        await this.cluster.patchSecretAnnotations(this.ca.namespace, this.ca.name, { [ANNOTATION_UNSTAGED_OLD_ROOTS]: null });
      }
    }
    if (isRunning(rotation) && rotation!.unstaged) await this.keepUnstagedRoots(rotation!, annotations);
    const signing = this.ca.current().ca;
    const newCA = trust.next?.ca?.certificate ?? (rotation?.newRootFingerprint === signing?.fingerprint ? signing?.certificate : undefined);
    const running = isRunning(rotation);
    const { blocked, bundles, leaves } = await rotationProgress(this.cluster, running, {
      newCA, bundlePem: signing?.bundlePem, conflicted: this.bundleConflicts(), rotation, podCertificateLifetimeMs: this.podCertificateLifetimeMs(), now,
    });
    const step = nextRotationStep({
      now,
      state: rotation,
      requested: annotations[ANNOTATION_ROTATE_TO],
      abortRequested: annotations[ANNOTATION_ROTATION_ABORT] !== undefined,
      clearedRotation: annotations[ANNOTATION_ROTATION_DONE],
      distrustOld: rotation !== undefined && annotations[ANNOTATION_DISTRUST_ROOT] === rotation.oldRootFingerprint,
      oldRootNotAfter: rotation?.oldBundlePem ? latestExpiry(rotation.oldBundlePem, rotation.keptRootsPem) : undefined,
      blocked,
      bundles,
      leaves,
      propagationDelayMs: this.config.propagationDelayMs,
      skewMs: this.config.skewMs,
    });
    switch (step.kind) {
      case 'none':
        break;
      case 'clearRequest':
        // The done marker names this rotation: a crash before the state records it, and a new
        // identical request, are told apart from the old request still being there.
        await this.cluster.patchSecretAnnotations(this.ca.namespace, this.ca.name, {
          [ANNOTATION_ROTATE_TO]: null, [ANNOTATION_ROTATION_ABORT]: null, [ANNOTATION_ROTATION_GENERATED]: null, [ANNOTATION_ROTATION_DONE]: rotation!.since,
        });
        await this.save({ ...record, rotation: { ...rotation!, requestCleared: true } });
        break;
      case 'start':
        if (main.ca) await this.start(step.request, main.ca, record, now);
        else await this.refuse(record, step.request, `the CA Secret's CA does not load (${main.error}); a rotation needs the old CA: if it expired, replace ${this.ca.ref}'s tls.crt and tls.key with the new CA instead (the old root stays trusted until it expires)`);
        break;
      case 'write':
        await this.save({ ...record, rotation: step.state });
        if (step.transition) this.announce(step.state);
        else if ((step.state.blocked ?? '') !== (rotation?.blocked ?? '') && step.state.blocked) {
          this.event('Warning', 'RotationBlocked', `identities that cannot be re-issued: ${step.state.blocked.split(',').join(', ')}; the rotation does not wait for them, and their old certificates keep the old root trusted until they expire`);
        }
        break;
      case 'retire':
        await this.retire(record, step.state);
        break;
    }
    return running || step.kind === 'start' ? { requeueAfterMs: this.config.checkIntervalMs } : {};
  }

  /** The CA Secret was replaced in place: Active at once, the old roots kept in every bundle. */
  private async startUnstaged(record: TrustRecord, ca: SigningCA, now: Date): Promise<void> {
    const oldBundlePem = record.caBundlePem ?? '';
    // The old leaves out there now, before they are re-issued: the old root stays until they expired.
    const oldMax = await oldLeavesNotAfter(this.cluster, ca.certificate, now);
    const state: RotationState = {
      phase: 'Active', request: '', since: now.toISOString(), newRootSecret: this.ca.name,
      retireAfter: new Date((oldMax?.getTime() ?? now.getTime()) + this.config.skewMs).toISOString(),
      newRootFingerprint: ca.fingerprint, oldRootFingerprint: record.caFingerprint!, oldBundlePem, newBundlePem: ca.bundlePem,
      keptRootsPem: keptRoots(oldBundlePem, ca.bundlePem), unstaged: true, requestCleared: true, done: 0, total: 0,
      message: `CA Secret ${this.ca.ref} was replaced in place: the new CA signs; the old root stays in every bundle until every leaf is re-issued and the old ones expired (set ${ANNOTATION_DISTRUST_ROOT}=${record.caFingerprint} on it to drop a compromised old root at once)`,
    };
    await this.save({ ...record, rotation: state, seen: seenWith(record.seen, ca.fingerprint) });
    await this.keepUnstagedRoots(state, this.ca.trust.annotations);
    this.logger.warn('CA replaced in place: unstaged root rotation', { reason: 'RotationUnstaged', oldRoot: record.caFingerprint, newRoot: ca.fingerprint });
    this.event('Warning', 'RotationUnstaged', state.message);
  }

  /**
   * While an unstaged rotation runs, the CA Secret names the roots it replaced (fingerprints
   * only: the admin's object, read by the recovery if the state is lost).
   */
  private async keepUnstagedRoots(state: RotationState, annotations: Record<string, string>): Promise<void> {
    const inNew = new Set(bundleFingerprints(state.newBundlePem ?? ''));
    const want = bundleFingerprints(state.oldBundlePem ?? '').filter((f) => !inNew.has(f)).join(',');
    if (want && annotations[ANNOTATION_UNSTAGED_OLD_ROOTS] !== want) {
      await this.cluster.patchSecretAnnotations(this.ca.namespace, this.ca.name, { [ANNOTATION_UNSTAGED_OLD_ROOTS]: want });
    }
  }

  /** The request's new root: the named Secret, or the one a `generate` already made (recorded on the CA Secret). */
  /** (RecoveryHost) */
  async target(request: string, now: Date, create: boolean): Promise<{ name: string; secret: Awaited<ReturnType<Cluster['getSecret']>> } | undefined> {
    if (request !== 'generate') return { name: request, secret: await this.cluster.getSecret(this.ca.namespace, request) };
    let name = this.ca.trust.annotations[ANNOTATION_ROTATION_GENERATED];
    if (name) {
      const secret = await this.cluster.getSecret(this.ca.namespace, name);
      if (secret || !create) return secret ? { name, secret } : undefined;
    } else {
      if (!create) return undefined;
      // The name is recorded before the Secret (and its key) exists: whatever fails after this,
      // the next try creates or reuses that one Secret, and no other CA key is ever left behind.
      name = `${this.ca.name}-${randomBytes(5).toString('hex')}`;
      await this.cluster.patchSecretAnnotations(this.ca.namespace, this.ca.name, { [ANNOTATION_ROTATION_GENERATED]: name });
    }
    const root = await generateRootCA({ commonName: `mtls-operator root CA ${now.toISOString().slice(0, 10)}`, now });
    const secret = await this.cluster.createSecret(caSecretFor(this.ca.namespace, name, root.certPem, root.keyPem, root.certPem));
    return { name, secret };
  }

  /** (RecoveryHost) */
  async loadTarget(name: string, secret: Awaited<ReturnType<Cluster['getSecret']>>, now: Date): Promise<SigningCA> {
    const certPem = unb64(secret?.data?.[TLS_CRT]);
    const keyPem = unb64(secret?.data?.[TLS_KEY]);
    const bundlePem = unb64(secret?.data?.[CA_CRT]);
    if (!certPem || !keyPem) throw new Error(`Secret ${this.ca.namespace}/${name} must exist and hold tls.crt and tls.key`);
    return loadSigningCA({ certPem, keyPem, ...(bundlePem ? { bundlePem } : {}) }, now);
  }

  /** (RecoveryHost) */
  async start(request: string, old: SigningCA, record: TrustRecord, now: Date, recovered = false): Promise<void> {
    const target = await this.target(request, now, true);
    const secretName = target!.name;
    let next: SigningCA;
    try {
      next = await this.loadTarget(secretName, target!.secret, now);
      if (next.fingerprint === old.fingerprint) throw new Error(`it holds the CA that already signs (${old.fingerprint})`);
    } catch (err) {
      await this.refuse(record, request, `root rotation to ${secretName} refused: ${(err as Error).message}`);
      return;
    }
    const state: RotationState = {
      phase: 'Prepared', request, since: now.toISOString(), newRootSecret: secretName,
      newRootFingerprint: next.fingerprint, oldRootFingerprint: old.fingerprint,
      oldBundlePem: old.bundlePem, newBundlePem: next.bundlePem, keptRootsPem: keptRoots(old.bundlePem, next.bundlePem, old),
      done: 0, total: 0,
      message: recovered
        ? 'the rotation state was lost before the new CA signed anything: Prepared again with the same new root'
        : 'the new root is being added to every trust bundle; the old CA still signs',
    };
    const { refused: _r, ...rest } = record;
    await this.save({ ...rest, caFingerprint: old.fingerprint, caBundlePem: old.bundlePem, rotation: state, seen: seenWith(seenWith(record.seen, old.fingerprint), next.fingerprint) });
    this.announce(state);
  }

  /** A request that cannot be carried out: said once (state, Event, log) per request and reason. */
  private async refuse(record: TrustRecord, request: string, message: string): Promise<void> {
    const refused = `${request}: ${message}`;
    if (record.refused === refused) return;
    this.logger.error('root rotation refused', { reason: 'RotationRefused', detail: message });
    this.event('Warning', 'RotationRefused', message);
    await this.save({ ...record, refused });
  }

  /**
   * The old root leaves: a staged rotation's new CA becomes the CA Secret (its roots plus the
   * other roots the admin kept in the old ca.crt), then the state says Retired and records the
   * new CA as the one in use.
   */
  private async retire(record: TrustRecord, state: RotationState): Promise<void> {
    const bundle = mergeBundles(state.newBundlePem ?? '', state.keptRootsPem ?? '');
    if (!state.unstaged) {
      const next = await this.cluster.getSecret(this.ca.namespace, state.newRootSecret);
      const certPem = unb64(next?.data?.[TLS_CRT]);
      const keyPem = unb64(next?.data?.[TLS_KEY]);
      if (!certPem || !keyPem) throw new Error(`Secret ${this.ca.namespace}/${state.newRootSecret} lost its CA material before the old root retired`);
      const loaded = await loadSigningCA({ certPem, keyPem, ...(unb64(next!.data![CA_CRT]) ? { bundlePem: unb64(next!.data![CA_CRT])! } : {}) }, new Date(this.clock.now()));
      if (loaded.fingerprint !== state.newRootFingerprint) throw new Error(`Secret ${this.ca.namespace}/${state.newRootSecret} no longer holds the recorded new CA: not promoted`);
      if (this.ca.trust.main.ca?.fingerprint !== state.newRootFingerprint) {
        await this.cluster.applySecret(caSecretFor(this.ca.namespace, this.ca.name, certPem, keyPem, bundle || loaded.bundlePem));
      }
    }
    await this.save({ ...record, rotation: state, caFingerprint: state.newRootFingerprint, caBundlePem: bundle, seen: seenWith(record.seen, state.newRootFingerprint) });
    this.announce(state);
  }

  /** Every write of the state: a replace guarded by the resourceVersion read, or a create. */
  async save(record: TrustRecord): Promise<void> {
    const rv = this.ca.trust.resourceVersion;
    const written = await this.cluster.writeConfigMap({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: ROTATION_CONFIGMAP, namespace: this.ca.namespace, labels: { [LABEL_MANAGED_BY]: MANAGED_BY }, ...(rv ? { resourceVersion: rv } : {}) },
      data: recordToData(record),
    });
    // A later write of this reconcile must not be refused because of this one.
    this.ca.wrote(written);
  }

  private announce(state: RotationState): void {
    this.logger.info('root rotation', { reason: `Rotation${state.phase}`, phase: state.phase, newRoot: state.newRootFingerprint, detail: state.message });
    this.event('Normal', `Rotation${state.phase}`, `${state.phase}: ${state.message}`);
  }

  /** (RecoveryHost) */
  event(type: 'Normal' | 'Warning', reason: string, message: string): void {
    const about: ObjectRef = { apiVersion: 'v1', kind: 'ConfigMap', namespace: this.ca.namespace, name: ROTATION_CONFIGMAP };
    this.cluster.recordEvent(about, type, reason, message).catch(() => undefined);
  }
}

function seenWith(seen: string[], fingerprint: string): string[] {
  return seen.includes(fingerprint) ? seen : [...seen, fingerprint];
}
