/**
 * The signing CA and the trust bundle, read from the CA Secret (and, during a root rotation,
 * from the rotation state ConfigMap and the new CA's Secret), checked once per change, and held
 * for every reconcile.
 *
 * Absent and bootstrap on: a self-signed root is generated and stored (create only, so two
 * replicas racing cannot overwrite each other). Present but unusable: the state says why, and
 * nothing signs until the Secret is fixed.
 *
 * During a rotation the bundle is the old roots plus the new ones; the old CA signs while
 * Prepared, the new one once Active.
 */
import { CA_CRT, TLS_CRT, TLS_KEY, TRUST_ROTATION_CONFIGMAP, type Secret } from '../api/types.ts';
import type { Clock } from '../clock.ts';
import { ClusterError, type Cluster } from '../cluster/port.ts';
import { isRunning, rotationFromData, type RotationState } from '../decide/rotation.ts';
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

export interface CASourceOptions {
  namespace: string;
  name: string;
  bootstrap: boolean;
}

export interface TrustView {
  /** The CA Secret's CA, checked (what signs when no rotation runs). */
  main: CAState;
  rotation: RotationState | undefined;
  /** The rotation's new CA, when one runs. */
  next: CAState | undefined;
  annotations: Record<string, string>;
}

export class CASource {
  private view: TrustView = { main: { error: 'the CA has not been loaded yet' }, rotation: undefined, next: undefined, annotations: {} };
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
   * clock (a CA can expire while loaded).
   */
  current(): CAState {
    const { main, rotation, next } = this.view;
    const expired = (ca: SigningCA, what: string): CAState | undefined =>
      this.clock.now() >= ca.notAfter.getTime()
        ? { error: `${what}: the signing certificate expired at ${ca.notAfter.toISOString()}` }
        : undefined;
    if (!isRunning(rotation) || !next?.ca) {
      if (isRunning(rotation) && next?.error) return { error: next.error };
      return main.ca ? (expired(main.ca, `CA Secret ${this.ref}`) ?? main) : main;
    }
    const bundlePem = mergeBundles(main.ca?.bundlePem ?? '', next.ca.bundlePem);
    const signer = rotation!.phase === 'Active' || !main.ca ? next.ca : main.ca;
    return expired(signer, `CA ${signer === next.ca ? rotation!.newRootSecret : this.ref}`) ?? { ca: { ...signer, bundlePem } };
  }

  /** Re-read everything. Calls are serialised; returns true when what signs or is trusted changed. */
  refresh(): Promise<boolean> {
    const run = this.chain.then(() => this.load());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async load(): Promise<boolean> {
    const before = this.summary();
    const { state: main, annotations } = await this.readMain();
    const rotation = rotationFromData(this.cluster.getConfigMap(this.opts.namespace, ROTATION_CONFIGMAP)?.data);
    let next: CAState | undefined;
    if (isRunning(rotation)) next = await this.read(rotation!.newRootSecret, false).then((r) => r.state);
    this.view = { main, rotation, next, annotations };
    const now = this.current();
    this.observer.caLoaded?.(now.ca?.notAfter);
    const after = this.summary();
    if (now.error !== undefined) this.logger.error('CA not ready', { ca: this.ref, reason: 'CANotReady', detail: now.error });
    else if (before !== after) this.logger.info('CA loaded', { ca: this.ref, fingerprint: now.ca.fingerprint, notAfter: now.ca.notAfter.toISOString(), rotation: rotation?.phase ?? 'none' });
    return before !== after;
  }

  private summary(): string {
    const c = this.current();
    return c.ca ? `${c.ca.fingerprint}|${c.ca.bundlePem}` : c.error;
  }

  private readMain(): Promise<{ state: CAState; annotations: Record<string, string> }> {
    return this.read(this.opts.name, this.opts.bootstrap);
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
      const hint = bootstrap || name !== this.opts.name ? 'create it' : 'bootstrap is off: create it';
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
