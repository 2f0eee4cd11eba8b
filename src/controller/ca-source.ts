/**
 * The signing CA and the trust bundle, read from the CA Secret (and, during a root rotation,
 * from the rotation state ConfigMap and the new CA's Secret), checked once per change, and held
 * for every reconcile.
 *
 * Bootstrap happens only on a first install: absent CA Secret, bootstrap on, and no sign that a
 * CA was ever in use (the state ConfigMap records every CA fingerprint; issued Secrets count
 * too). Once a CA existed, a missing or unusable CA Secret stops issuance (CANotReady, a Warning
 * Event, the CA metric) and leaves every issued Secret as it is, until the admin fixes it.
 *
 * The rotation state, not the CA Secrets' health, decides trust: while a rotation runs the
 * bundle is the recorded old and new bundles, the old CA signs while Prepared and the new one
 * once Active, each only when it loads and is the one recorded (by fingerprint). A CA Secret
 * replaced in place keeps the recorded old bundle trusted until the rotation reconciler records
 * an unstaged rotation.
 */
import { CA_CRT, TLS_CRT, TLS_KEY, TRUST_ROTATION_CONFIGMAP, type ConfigMap, type ObjectRef, type Secret } from '../api/types.ts';
import type { Clock } from '../clock.ts';
import { ClusterError, type Cluster } from '../cluster/port.ts';
import { caEverSeen, isRunning, recordFromData, type RotationState, type TrustRecord } from '../decide/rotation.ts';
import type { Logger } from '../log.ts';
import { CAError, type SigningCA } from '../pki/types.ts';
import { generateRootCA, loadSigningCA, mergeBundles } from '../pki/index.ts';
import { noObserver, type ControllerObserver } from './observer.ts';
import { b64, unb64 } from './secret.ts';

export type CAState = { ca: SigningCA; error?: undefined } | { ca?: undefined; error: string };

/** The CA Secret annotation that asks for a root rotation: a Secret name, or `generate`. */
export const ANNOTATION_ROTATE_TO = 'mtls.dev/rotate-to';
/** The CA Secret annotation that aborts a rotation that is not yet Active. */
export const ANNOTATION_ROTATION_ABORT = 'mtls.dev/rotation-abort';
/** The rotation state, in the operator namespace. */
export const ROTATION_CONFIGMAP = TRUST_ROTATION_CONFIGMAP;
/** The CA Secret annotation that drops a compromised old root at once: its fingerprint. */
export const ANNOTATION_DISTRUST_ROOT = 'mtls.dev/distrust-root';
/** Set on the CA Secret when a rotation's request is cleared: that rotation's `since`. */
export const ANNOTATION_ROTATION_DONE = 'mtls.dev/rotation-done';
/** The Secret a `generate` request created, recorded on the CA Secret before the Secret exists. */
export const ANNOTATION_ROTATION_GENERATED = 'mtls.dev/rotation-generated';
/**
 * Set by the operator on the CA Secret while an unstaged rotation runs (the CA Secret replaced in
 * place): the fingerprints of the roots it replaced, comma-separated. A lost state is recovered
 * with them (rotation-recovery.ts); removed when the rotation retires those roots.
 */
export const ANNOTATION_UNSTAGED_OLD_ROOTS = 'mtls.dev/unstaged-old-roots';

export interface CASourceOptions {
  namespace: string;
  name: string;
  bootstrap: boolean;
}

export interface TrustView {
  /** The CA Secret's CA, checked (what signs when no rotation runs). */
  main: CAState;
  /** The state ConfigMap: the rotation and the CA in use. */
  record: TrustRecord;
  /** The state ConfigMap's resourceVersion (every write of it is guarded by it); undefined: absent. */
  resourceVersion: string | undefined;
  rotation: RotationState | undefined;
  /** The rotation's new CA, when one runs. */
  next: CAState | undefined;
  annotations: Record<string, string>;
}

export class CASource {
  private view: TrustView = { main: { error: 'the CA has not been loaded yet' }, record: { rotation: undefined, seen: [] }, resourceVersion: undefined, rotation: undefined, next: undefined, annotations: {} };
  /** The last CA handed out with a rotation's bundle (withBundle). */
  private derived: { base: SigningCA; key: string; ca: SigningCA } | undefined;
  private lastError: string | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly cluster: Cluster;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly opts: CASourceOptions;
  private readonly observer: ControllerObserver;

  constructor(cluster: Cluster, clock: Clock, logger: Logger, opts: CASourceOptions, observer: ControllerObserver = noObserver) {
    this.cluster = cluster;
    this.clock = clock;
    this.logger = logger;
    this.opts = opts;
    this.observer = observer;
  }

  get ref(): string {
    return `${this.opts.namespace}/${this.opts.name}`;
  }

  get namespace(): string {
    return this.opts.namespace;
  }

  get name(): string {
    return this.opts.name;
  }

  /** What was last read, for the rotation reconciler. */
  get trust(): TrustView {
    return this.view;
  }

  /**
   * The CA that signs now, with the trust bundle leaves must carry, re-checked against the
   * clock (a CA can expire while loaded). An error: nothing signs, and nothing that is out there
   * changes (no bundle loses a root).
   */
  current(): CAState {
    const { main, rotation, next, record, annotations } = this.view;
    const expired = (ca: SigningCA, what: string): CAState | undefined =>
      this.clock.now() >= ca.notAfter.getTime()
        ? { error: `${what}: the signing certificate expired at ${ca.notAfter.toISOString()}; nothing is issued from it` }
        : undefined;
    if (!isRunning(rotation)) {
      if (!main.ca) return main;
      const lost = annotations[ANNOTATION_ROTATE_TO] !== undefined || annotations[ANNOTATION_UNSTAGED_OLD_ROOTS] !== undefined;
      if (!record.caFingerprint && lost && this.cluster.listSecrets().length > 0) {
        // The state ConfigMap is gone while a rotation was requested or running: the rotation
        // reconciler first finds out from the cluster how far it got; until then nothing signs
        // and no bundle changes.
        return { error: `the root rotation state (ConfigMap ${this.opts.namespace}/${ROTATION_CONFIGMAP}) is missing while a rotation is requested or running: recovering it from the cluster before anything is issued` };
      }
      const stale = expired(main.ca, `CA Secret ${this.ref}`);
      if (stale) return stale;
      if (record.caFingerprint && record.caBundlePem && record.caFingerprint !== main.ca.fingerprint && annotations[ANNOTATION_DISTRUST_ROOT] !== record.caFingerprint) {
        // Replaced in place: the old roots stay trusted (the unstaged rotation takes it from here).
        return { ca: this.withBundle(main.ca, [record.caBundlePem, main.ca.bundlePem]) };
      }
      return main;
    }
    const r = rotation!;
    const oldBundle = r.oldBundlePem ?? main.ca?.bundlePem ?? '';
    const newBundle = r.newBundlePem ?? next?.ca?.bundlePem ?? '';
    const distrusted = r.phase === 'Active' && annotations[ANNOTATION_DISTRUST_ROOT] === r.oldRootFingerprint;
    const bundles = distrusted ? [newBundle] : [oldBundle, newBundle];
    if (r.phase === 'Prepared') {
      if (!main.ca) return { error: `root rotation Prepared: the old CA (${this.ref}) signs until Active, and it does not load: ${main.error}` };
      if (main.ca.fingerprint !== r.oldRootFingerprint) return { error: `root rotation Prepared: CA Secret ${this.ref} no longer holds the recorded old CA (${r.oldRootFingerprint.slice(0, 16)}…): nothing is issued; restore it or abort the rotation` };
      return expired(main.ca, `root rotation Prepared: the old CA (${this.ref})`) ?? { ca: this.withBundle(main.ca, bundles) };
    }
    const signer = next?.ca;
    const where = `${this.opts.namespace}/${r.newRootSecret}`;
    if (!signer) return { error: `root rotation Active: the new CA (${where}) signs, and it does not load: ${next?.error ?? 'not read yet'}` };
    if (signer.fingerprint !== r.newRootFingerprint) return { error: `root rotation Active: Secret ${where} no longer holds the recorded new CA (${r.newRootFingerprint.slice(0, 16)}…): nothing is issued; restore it` };
    return expired(signer, `root rotation Active: the new CA (${where})`) ?? { ca: this.withBundle(signer, bundles) };
  }

  /**
   * The CA with the trust bundle a rotation gives it: the same object for as long as the CA and the bundles are
   * the same (current() is called on every reconcile; a new object each time merged the bundles and lost every
   * per-CA cache: 3 ms per re-issue during a CA change, issue 11).
   */
  private withBundle(ca: SigningCA, bundles: string[]): SigningCA {
    const key = bundles.join('\u0000');
    const last = this.derived;
    if (last && last.base === ca && last.key === key) return last.ca;
    const derived = { ...ca, bundlePem: mergeBundles(...bundles) };
    this.derived = { base: ca, key, ca: derived };
    return derived;
  }

  /** Whether a CA has ever been in use here: then a missing CA Secret is never replaced by a new root. */
  everSeen(): boolean {
    return caEverSeen(this.view.record) || this.cluster.listSecrets().length > 0;
  }

  /** The rotation reconciler wrote the state: later writes are guarded by its resourceVersion (the watch re-reads the rest). */
  wrote(configMap: ConfigMap): void {
    this.view = { ...this.view, resourceVersion: configMap.metadata.resourceVersion };
  }

  /** Re-read everything. Calls are serialised; returns true when what signs or is trusted changed. */
  refresh(): Promise<boolean> {
    const run = this.chain.then(() => this.load());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async load(): Promise<boolean> {
    const before = this.summary();
    const cm = this.cluster.getConfigMap(this.opts.namespace, ROTATION_CONFIGMAP);
    const record = recordFromData(cm?.data);
    const rotation = record.rotation;
    this.view = { ...this.view, record, resourceVersion: cm?.metadata.resourceVersion, rotation };
    const { state: main, annotations } = await this.read(this.opts.name, this.opts.bootstrap && !this.everSeen());
    let next: CAState | undefined;
    if (isRunning(rotation)) next = rotation!.newRootSecret === this.opts.name ? main : await this.read(rotation!.newRootSecret, false).then((r) => r.state);
    this.view = { main, record, resourceVersion: cm?.metadata.resourceVersion, rotation, next, annotations };
    const now = this.current();
    this.observer.caLoaded?.(now.ca?.notAfter);
    const after = this.summary();
    if (now.error !== undefined) {
      this.logger.error('CA not ready', { ca: this.ref, reason: 'CANotReady', detail: now.error });
      if (now.error !== this.lastError) {
        const about: ObjectRef = { apiVersion: 'v1', kind: 'Secret', namespace: this.opts.namespace, name: this.opts.name };
        this.cluster.recordEvent(about, 'Warning', 'CANotReady', `${now.error}; issued Secrets are left as they are`).catch(() => undefined);
      }
    } else if (before !== after) this.logger.info('CA loaded', { ca: this.ref, fingerprint: now.ca.fingerprint, notAfter: now.ca.notAfter.toISOString(), rotation: rotation?.phase ?? 'none' });
    this.lastError = now.error;
    return before !== after;
  }

  private summary(): string {
    const c = this.current();
    return c.ca ? `${c.ca.fingerprint}|${c.ca.bundlePem}` : c.error;
  }

  private async read(name: string, bootstrap: boolean): Promise<{ state: CAState; annotations: Record<string, string> }> {
    const ref = `${this.opts.namespace}/${name}`;
    let secret: Secret | undefined;
    try {
      secret = await this.cluster.getSecret(this.opts.namespace, name);
      if (!secret && bootstrap) secret = await this.bootstrap();
    } catch (err) {
      return { state: { error: `CA Secret ${ref} could not be read: ${(err as Error).message}` }, annotations: {} };
    }
    if (!secret) {
      const seen = this.view.record.caFingerprint;
      const hint = name !== this.opts.name || bootstrap
        ? 'create it'
        : this.everSeen()
          ? `a CA was in use before${seen ? ` (fingerprint ${seen})` : ''}, so no new root is generated: re-create it with the CA's tls.crt and tls.key`
          : 'bootstrap is off: create it';
      return { state: { error: `CA Secret ${ref} does not exist and ${hint} (tls.crt, tls.key, optional ca.crt)` }, annotations: {} };
    }
    const annotations = secret.metadata.annotations ?? {};
    const data = secret.data ?? {};
    const certPem = unb64(data[TLS_CRT]);
    const keyPem = unb64(data[TLS_KEY]);
    if (!certPem || !keyPem) return { state: { error: `CA Secret ${ref} must hold tls.crt and tls.key` }, annotations };
    const bundlePem = unb64(data[CA_CRT]);
    try {
      const ca = await loadSigningCA({ certPem, keyPem, ...(bundlePem ? { bundlePem } : {}) }, new Date(this.clock.now()));
      return { state: { ca }, annotations };
    } catch (err) {
      const why = err instanceof CAError ? err.message : 'the CA material could not be loaded';
      return { state: { error: `CA Secret ${ref}: ${why}` }, annotations };
    }
  }

  private async bootstrap(): Promise<Secret | undefined> {
    this.logger.warn('CA Secret absent: generating a self-signed root CA; production should bring its own CA', { ca: this.ref });
    const root = await generateRootCA({ commonName: 'mtls-operator root CA', now: new Date(this.clock.now()) });
    try {
      return await this.cluster.createSecret(caSecretFor(this.opts.namespace, this.opts.name, root.certPem, root.keyPem, root.certPem));
    } catch (err) {
      // Another replica won the race: use what it stored.
      if (ClusterError.isConflict(err)) return this.cluster.getSecret(this.opts.namespace, this.opts.name);
      throw err;
    }
  }
}

/** A CA Secret as the operator writes one (bootstrap, a generated rotation root). */
export function caSecretFor(namespace: string, name: string, certPem: string, keyPem: string, bundlePem: string): Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/created-by': 'mtls-operator' } },
    type: 'kubernetes.io/tls',
    data: { [TLS_CRT]: b64(certPem), [TLS_KEY]: b64(keyPem), [CA_CRT]: b64(bundlePem) },
  };
}
