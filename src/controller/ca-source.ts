/**
 * The signing CA, read from its Secret, checked once per change, and held for every reconcile.
 * Absent and bootstrap on: a self-signed root is generated and stored (create only, so two
 * replicas racing cannot overwrite each other). Present but unusable: the state says why, and
 * nothing signs until the Secret is fixed.
 */
import { CA_CRT, TLS_CRT, TLS_KEY, type Secret } from '../api/types.ts';
import type { Clock } from '../clock.ts';
import { ClusterError, type Cluster } from '../cluster/port.ts';
import type { Logger } from '../log.ts';
import { CAError, type SigningCA } from '../pki/types.ts';
import { generateRootCA, loadSigningCA } from '../pki/index.ts';
import { noObserver, type ControllerObserver } from './observer.ts';
import { b64, unb64 } from './secret.ts';

export type CAState = { ca: SigningCA; error?: undefined } | { ca?: undefined; error: string };

export interface CASourceOptions {
  namespace: string;
  name: string;
  bootstrap: boolean;
}

export class CASource {
  private state: CAState = { error: 'the CA has not been loaded yet' };
  private chain: Promise<void> = Promise.resolve();
  private readonly cluster: Cluster;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly opts: CASourceOptions;
  private readonly observer: ControllerObserver;

  constructor(cluster: Cluster, clock: Clock, logger: Logger, opts: CASourceOptions, observer: ControllerObserver = noObserver) {
    this.observer = observer;
    this.cluster = cluster;
    this.clock = clock;
    this.logger = logger;
    this.opts = opts;
  }

  get ref(): string {
    return `${this.opts.namespace}/${this.opts.name}`;
  }

  /** The CA as last loaded, re-checked against the clock (a CA can expire while loaded). */
  current(): CAState {
    const { ca } = this.state;
    if (ca && this.clock.now() >= ca.notAfter.getTime()) {
      return { error: `CA Secret ${this.ref}: the signing certificate expired at ${ca.notAfter.toISOString()}` };
    }
    return this.state;
  }

  /** Re-read the Secret. Calls are serialised; returns true when the CA changed. */
  refresh(): Promise<boolean> {
    const run = this.chain.then(() => this.load());
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async load(): Promise<boolean> {
    const before = this.state.ca?.fingerprint ?? this.state.error;
    const state = await this.read();
    this.state = state;
    this.observer.caLoaded?.(state.ca?.notAfter);
    const after = state.ca?.fingerprint ?? state.error;
    if (state.error !== undefined) this.logger.error('CA not ready', { ca: this.ref, reason: 'CANotReady', message: state.error });
    else if (before !== after) this.logger.info('CA loaded', { ca: this.ref, fingerprint: after, notAfter: state.ca.notAfter.toISOString() });
    return before !== after;
  }

  private async read(): Promise<CAState> {
    let secret: Secret | undefined;
    try {
      secret = await this.cluster.getSecret(this.opts.namespace, this.opts.name);
      if (!secret && this.opts.bootstrap) secret = await this.bootstrap();
    } catch (err) {
      return { error: `CA Secret ${this.ref} could not be read: ${(err as Error).message}` };
    }
    if (!secret) {
      return { error: `CA Secret ${this.ref} does not exist and bootstrap is off: create it (tls.crt, tls.key, optional ca.crt)` };
    }
    const data = secret.data ?? {};
    const certPem = unb64(data[TLS_CRT]);
    const keyPem = unb64(data[TLS_KEY]);
    if (!certPem || !keyPem) {
      return { error: `CA Secret ${this.ref} must hold tls.crt and tls.key` };
    }
    const bundlePem = unb64(data[CA_CRT]);
    try {
      const ca = await loadSigningCA({ certPem, keyPem, ...(bundlePem ? { bundlePem } : {}) }, new Date(this.clock.now()));
      return { ca };
    } catch (err) {
      const why = err instanceof CAError ? err.message : 'the CA material could not be loaded';
      return { error: `CA Secret ${this.ref}: ${why}` };
    }
  }

  private async bootstrap(): Promise<Secret | undefined> {
    this.logger.warn('CA Secret absent: generating a self-signed root CA; production should bring its own CA', { ca: this.ref });
    const root = await generateRootCA({ commonName: 'mtls-operator root CA', now: new Date(this.clock.now()) });
    const secret: Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: this.opts.name,
        namespace: this.opts.namespace,
        labels: { 'app.kubernetes.io/created-by': 'mtls-operator' },
      },
      type: 'kubernetes.io/tls',
      data: { [TLS_CRT]: b64(root.certPem), [TLS_KEY]: b64(root.keyPem), [CA_CRT]: b64(root.certPem) },
    };
    try {
      return await this.cluster.createSecret(secret);
    } catch (err) {
      // Another replica won the race: use what it stored.
      if (ClusterError.isConflict(err)) return this.cluster.getSecret(this.opts.namespace, this.opts.name);
      throw err;
    }
  }
}
