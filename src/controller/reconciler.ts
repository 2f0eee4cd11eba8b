/**
 * reconcile(namespace/name): read the identity, its Secret and the CA; decide; write at most one
 * Secret (server-side apply) and one status patch. An identity whose Secret is valid gets no
 * write at all. Returns when to look again, or throws for the queue's backoff.
 */
import { CA_CRT, TLS_CRT, TLS_KEY, ANNOTATION_REVISION, ANNOTATION_SPEC_HASH, type MutualTLSIdentity, type MutualTLSIdentityStatus, type ObjectRef, type Secret } from '../api/types.ts';
import { InvalidSpecError, issuanceHash, resolveSpec, type ResolvedSpec } from '../api/spec.ts';
import type { Clock } from '../clock.ts';
import type { Cluster } from '../cluster/port.ts';
import { needsIssuance, type IssuanceNeed } from '../decide/issuance.ts';
import { renewalTime } from '../decide/renewal.ts';
import type { Logger } from '../log.ts';
import { inspectIssued, isIssuedBy, issueLeaf } from '../pki/index.ts';
import type { Inspection, SigningCA } from '../pki/types.ts';
import type { CASource } from './ca-source.ts';
import type { RateLimiter } from './limiter.ts';
import { noObserver, type ControllerObserver } from './observer.ts';
import { getCondition, jsonEqual, setCondition } from './conditions.ts';
import { ANNOTATION_RENEW_REQUEST, buildSecret, containsAll, desiredMetadata, isOwnedBy, unb64, type SecretFacts } from './secret.ts';

export interface ReconcileResult {
  /** Look again after this long (the renewal time), if set. */
  requeueAfterMs?: number;
}

export interface ReconcilerConfig {
  trustDomain: string;
  operatorNamespace: string;
  caSecretName: string;
  /** Refuses names an identity may not hold (the name policy); undefined: allowed. */
  checkPolicy?(identity: MutualTLSIdentity, spec: ResolvedSpec): string | undefined;
}

/** Why an identity cannot be made Ready; the reason is the condition's and the Event's. */
class NotReady extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

export class Reconciler {
  private readonly cluster: Cluster;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly ca: CASource;
  private readonly config: ReconcilerConfig;
  private readonly observer: ControllerObserver;
  private readonly limiter: RateLimiter | undefined;

  constructor(deps: { cluster: Cluster; clock: Clock; logger: Logger; ca: CASource; config: ReconcilerConfig; observer?: ControllerObserver; limiter?: RateLimiter }) {
    this.observer = deps.observer ?? noObserver;
    this.limiter = deps.limiter;
    this.cluster = deps.cluster;
    this.clock = deps.clock;
    this.logger = deps.logger;
    this.ca = deps.ca;
    this.config = deps.config;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace, name] = splitKey(key);
    const identity = this.cluster.getIdentity(namespace, name);
    if (!identity || identity.metadata.deletionTimestamp) {
      this.observer.identityRemoved?.(namespace, name);
      return {}; // its Secret goes with it (ownerReference)
    }
    try {
      return await this.reconcileIdentity(identity);
    } catch (err) {
      if (!(err instanceof NotReady)) throw err;
      await this.markNotReady(identity, err.reason, err.message);
      return {};
    }
  }

  private async reconcileIdentity(identity: MutualTLSIdentity): Promise<ReconcileResult> {
    const { namespace, name } = identity.metadata as { namespace: string; name: string };
    let spec: ResolvedSpec;
    try {
      spec = resolveSpec(identity, { trustDomain: this.config.trustDomain });
    } catch (err) {
      if (err instanceof InvalidSpecError) throw new NotReady('InvalidSpec', err.message);
      throw err;
    }
    const violation = this.config.checkPolicy?.(identity, spec);
    if (violation) throw new NotReady('PolicyViolation', violation);
    if (namespace === this.config.operatorNamespace && spec.secretName === this.config.caSecretName) {
      throw new NotReady('SecretConflict', `Secret ${namespace}/${spec.secretName} is the operator's CA Secret and is never written for an identity`);
    }
    const caState = this.ca.current();
    if (!caState.ca) throw new NotReady('CANotReady', caState.error);
    const ca = caState.ca;

    const secret = await this.cluster.getSecret(namespace, spec.secretName);
    if (secret && !isOwnedBy(secret, identity)) {
      throw new NotReady('SecretConflict', `Secret ${namespace}/${spec.secretName} exists and is not owned by this identity: it is left untouched; choose another secretName or delete that Secret`);
    }
    const data = secret?.data ?? {};
    const certPem = unb64(data[TLS_CRT]);
    const keyPem = unb64(data[TLS_KEY]);
    const inspection = inspectIssued({ ...(certPem ? { certPem } : {}), ...(keyPem ? { keyPem } : {}) });
    const specHash = issuanceHash(spec);
    const annotations = secret?.metadata.annotations ?? {};
    const now = new Date(this.clock.now());
    const renewRequest = identity.metadata.annotations?.[ANNOTATION_RENEW_REQUEST];
    const need = needsIssuance({
      now,
      secretExists: secret !== undefined,
      hasCert: !!certPem,
      hasKey: !!keyPem,
      inspection,
      specHash,
      ...(annotations[ANNOTATION_SPEC_HASH] ? { issuedSpecHash: annotations[ANNOTATION_SPEC_HASH] } : {}),
      wanted: { dnsNames: spec.dnsNames, ipAddresses: spec.ipAddresses, uris: [spec.spiffeId] },
      ...(spec.renewBeforeMs !== undefined ? { renewBeforeMs: spec.renewBeforeMs } : {}),
      issuedByCurrentCA: (leaf) => isIssuedBy(leaf, ca.certificate),
      ...(renewRequest ? { renewRequest } : {}),
      ...(annotations[ANNOTATION_RENEW_REQUEST] ? { honouredRenewRequest: annotations[ANNOTATION_RENEW_REQUEST] } : {}),
    });
    const revision = Number(annotations[ANNOTATION_REVISION] ?? identity.status?.revision ?? 0) || 0;
    // A CA change re-issues every leaf: take turns, so the API server sees a steady rate.
    const wait = need?.reason === 'IncorrectIssuer' || (!need && unb64(data[CA_CRT]) !== ca.bundlePem) ? this.limiter?.take() ?? 0 : 0;
    if (wait > 0) return { requeueAfterMs: wait };
    if (need) return this.issue(identity, spec, ca, need, inspection, secret, { specHash, revision: revision + 1, renewed: !!inspection.leaf, ...(renewRequest ? { renewRequest } : {}) });
    return this.keep(identity, spec, ca, secret!, inspection, { specHash, revision, ...(renewRequest ? { renewRequest } : {}) });
  }

  /** Issue a certificate and write it: Secret first (one apply), then status. */
  private async issue(
    identity: MutualTLSIdentity,
    spec: ResolvedSpec,
    ca: SigningCA,
    need: IssuanceNeed,
    inspection: Inspection,
    existing: Secret | undefined,
    facts: { specHash: string; revision: number; renewed: boolean; renewRequest?: string },
  ): Promise<ReconcileResult> {
    const { namespace, name } = identity.metadata as { namespace: string; name: string };
    const log = { namespace, name, reason: need.reason };
    this.logger.info('issuing certificate', { ...log, message: need.message });
    const reuseKeyPem =
      spec.rotationPolicy === 'Never' && inspection.keyPem && inspection.key &&
      inspection.key.algorithm === spec.key.algorithm && inspection.key.size === spec.key.size
        ? inspection.keyPem
        : undefined;
    let secretFacts: SecretFacts;
    try {
      const issued = await issueLeaf(ca, {
        ...(spec.commonName ? { commonName: spec.commonName } : {}),
        dnsNames: spec.dnsNames,
        ipAddresses: spec.ipAddresses,
        uris: [spec.spiffeId],
        durationMs: spec.durationMs,
        usages: spec.usages,
        key: spec.key,
        encoding: spec.encoding,
        now: new Date(this.clock.now()),
        ...(reuseKeyPem ? { reuseKeyPem } : {}),
      });
      secretFacts = {
        serialNumber: issued.serialNumber,
        notAfter: issued.notAfter,
        spiffeId: spec.spiffeId,
        caFingerprint: ca.fingerprint,
        specHash: facts.specHash,
        revision: facts.revision,
        ...(facts.renewRequest ? { renewRequest: facts.renewRequest } : {}),
      };
      await this.writeSecret(buildSecret(identity, spec, issued, secretFacts), existing);
      const status = this.readyStatus(identity, spec, issued.notBefore, issued.notAfter, issued.serialNumber, facts.revision, {
        type: 'Issuing', status: 'False', reason: need.reason,
        message: `issued serial ${issued.serialNumber} (${need.message})`,
      });
      await this.writeStatus(identity, status);
      if (issued.clamped) {
        const message = `the CA expires at ${ca.notAfter.toISOString()}, before the requested duration: the certificate's notAfter was cut to it; rotate or renew the CA`;
        this.event(identity, 'Warning', 'CAExpiresSoon', message);
        this.logger.warn('certificate lifetime cut to the CA', { ...log, serial: issued.serialNumber, message });
      }
      const event = facts.renewed ? 'Renewed' : 'Issued';
      this.event(identity, 'Normal', event, `${event} certificate serial ${issued.serialNumber}, valid until ${issued.notAfter.toISOString()} (${need.reason}: ${need.message})`);
      this.logger.info('certificate issued', { ...log, serial: issued.serialNumber, notAfter: issued.notAfter.toISOString() });
      const renewal = renewalTime(issued.notBefore, issued.notAfter, spec.renewBeforeMs);
      this.observer.issuance?.(namespace, name, need.reason, 'success');
      this.observer.identityState?.(namespace, name, { ready: true, reason: 'Ready', notAfter: issued.notAfter, renewalTime: renewal });
      return { requeueAfterMs: renewal.getTime() - this.clock.now() };
    } catch (err) {
      this.observer.issuance?.(namespace, name, need.reason, 'failure');
      await this.markIssuanceFailed(identity, need, err as Error);
      throw err;
    }
  }

  /** The Secret holds a valid certificate: sync what may have drifted, write nothing else. */
  private async keep(
    identity: MutualTLSIdentity,
    spec: ResolvedSpec,
    ca: SigningCA,
    secret: Secret,
    inspection: Inspection,
    facts: { specHash: string; revision: number; renewRequest?: string },
  ): Promise<ReconcileResult> {
    const leaf = inspection.leaf!;
    const notBefore = new Date(leaf.validFrom);
    const notAfter = new Date(leaf.validTo);
    const serial = leaf.serialNumber.toLowerCase();
    const secretFacts: SecretFacts = {
      serialNumber: serial, notAfter, spiffeId: spec.spiffeId, caFingerprint: ca.fingerprint,
      specHash: facts.specHash, revision: facts.revision,
      ...(facts.renewRequest ? { renewRequest: facts.renewRequest } : {}),
    };
    const want = desiredMetadata(identity, spec, secretFacts);
    const bundleStale = unb64(secret.data?.[CA_CRT]) !== ca.bundlePem;
    if (bundleStale || !containsAll(secret.metadata.labels, want.labels) || !containsAll(secret.metadata.annotations, want.annotations) || secret.type !== 'kubernetes.io/tls') {
      const pems = { certChainPem: unb64(secret.data?.[TLS_CRT])!, keyPem: unb64(secret.data?.[TLS_KEY])!, caPem: ca.bundlePem };
      await this.writeSecret(buildSecret(identity, spec, pems, secretFacts), secret);
      this.logger.info('Secret metadata or trust bundle brought up to date', { namespace: identity.metadata.namespace, name: identity.metadata.name, reason: bundleStale ? 'TrustBundleChanged' : 'SecretOutOfDate', serial });
    }
    const prevIssuing = getCondition(identity.status, 'Issuing');
    const issuing = prevIssuing && prevIssuing.status === 'False'
      ? { type: 'Issuing', status: 'False' as const, reason: prevIssuing.reason, message: prevIssuing.message }
      : { type: 'Issuing', status: 'False' as const, reason: 'UpToDate', message: 'the Secret holds a valid certificate' };
    await this.writeStatus(identity, this.readyStatus(identity, spec, notBefore, notAfter, serial, facts.revision, issuing));
    const renewal = renewalTime(notBefore, notAfter, spec.renewBeforeMs);
    this.observer.identityState?.(identity.metadata.namespace!, identity.metadata.name, { ready: true, reason: 'Ready', notAfter, renewalTime: renewal });
    return { requeueAfterMs: renewal.getTime() - this.clock.now() };
  }

  private readyStatus(
    identity: MutualTLSIdentity, spec: ResolvedSpec, notBefore: Date, notAfter: Date, serial: string, revision: number,
    issuing: { type: string; status: 'True' | 'False'; reason: string; message: string },
  ): MutualTLSIdentityStatus {
    const generation = identity.metadata.generation ?? 0;
    const now = new Date(this.clock.now());
    const renewal = renewalTime(notBefore, notAfter, spec.renewBeforeMs);
    let conditions = setCondition(identity.status?.conditions, {
      type: 'Ready', status: 'True', reason: 'Ready',
      message: `certificate is valid until ${notAfter.toISOString()} and renews at ${renewal.toISOString()}`,
    }, generation, now);
    conditions = setCondition(conditions, issuing, generation, now);
    return {
      ...identity.status,
      conditions,
      observedGeneration: generation,
      notBefore: notBefore.toISOString(),
      notAfter: notAfter.toISOString(),
      renewalTime: renewal.toISOString(),
      serialNumber: serial,
      spiffeID: spec.spiffeId,
      secretName: spec.secretName,
      revision,
      failedIssuanceAttempts: 0,
      lastFailureTime: undefined,
    };
  }

  private async markNotReady(identity: MutualTLSIdentity, reason: string, message: string): Promise<void> {
    const generation = identity.metadata.generation ?? 0;
    const now = new Date(this.clock.now());
    const prev = getCondition(identity.status, 'Ready');
    const status: MutualTLSIdentityStatus = {
      ...identity.status,
      observedGeneration: generation,
      conditions: setCondition(identity.status?.conditions, { type: 'Ready', status: 'False', reason, message }, generation, now),
    };
    this.observer.identityState?.(identity.metadata.namespace!, identity.metadata.name, { ready: false, reason });
    const changed = await this.writeStatus(identity, status);
    if (changed && (prev?.reason !== reason || prev?.message !== message)) {
      this.event(identity, 'Warning', reason, message);
      this.logger.warn('identity not ready', { namespace: identity.metadata.namespace, name: identity.metadata.name, reason, message });
    }
  }

  private async markIssuanceFailed(identity: MutualTLSIdentity, need: IssuanceNeed, err: Error): Promise<void> {
    const generation = identity.metadata.generation ?? 0;
    const now = new Date(this.clock.now());
    const message = `issuance failed (${need.reason}): ${err.message}`;
    let conditions = setCondition(identity.status?.conditions, { type: 'Issuing', status: 'True', reason: need.reason, message }, generation, now);
    if (!getCondition(identity.status, 'Ready') || need.reason !== 'RenewalTimeReached') {
      conditions = setCondition(conditions, { type: 'Ready', status: 'False', reason: 'IssuanceFailed', message }, generation, now);
    }
    const status: MutualTLSIdentityStatus = {
      ...identity.status,
      observedGeneration: generation,
      conditions,
      failedIssuanceAttempts: (identity.status?.failedIssuanceAttempts ?? 0) + 1,
      lastFailureTime: now.toISOString(),
    };
    this.logger.error('issuance failed', { namespace: identity.metadata.namespace, name: identity.metadata.name, reason: need.reason, message: err.message });
    this.event(identity, 'Warning', 'IssuanceFailed', message);
    await this.writeStatus(identity, status).catch((e: Error) =>
      this.logger.warn('status write failed', { namespace: identity.metadata.namespace, name: identity.metadata.name, message: e.message }));
  }

  /**
   * One write carries key, chain and bundle. A new Secret is created (never overwriting one
   * that appeared meanwhile: 409, and the next reconcile sees whose it is); an existing one is
   * applied with the resourceVersion we read, so a change since then refuses the write.
   */
  private async writeSecret(secret: Secret, existing: Secret | undefined): Promise<void> {
    if (!existing) {
      await this.cluster.createSecret(secret);
      return;
    }
    const rv = existing.metadata.resourceVersion;
    await this.cluster.applySecret({ ...secret, metadata: { ...secret.metadata, ...(rv ? { resourceVersion: rv } : {}) } });
  }

  /** Patch status only when it differs; returns whether it wrote. */
  private async writeStatus(identity: MutualTLSIdentity, status: MutualTLSIdentityStatus): Promise<boolean> {
    const clean = JSON.parse(JSON.stringify(status)) as MutualTLSIdentityStatus;
    if (jsonEqual(clean, identity.status ?? {})) return false;
    // A merge patch removes a field only when it is sent as null.
    const patch: Record<string, unknown> = { ...clean };
    for (const k of Object.keys(identity.status ?? {})) if (!(k in clean)) patch[k] = null;
    await this.cluster.patchIdentityStatus(identity.metadata.namespace!, identity.metadata.name, patch as MutualTLSIdentityStatus);
    return true;
  }

  private event(identity: MutualTLSIdentity, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const about: ObjectRef = {
      apiVersion: identity.apiVersion, kind: identity.kind,
      namespace: identity.metadata.namespace!, name: identity.metadata.name,
      ...(identity.metadata.uid ? { uid: identity.metadata.uid } : {}),
    };
    this.cluster.recordEvent(about, type, reason, message).catch((err: Error) =>
      this.logger.warn('event not recorded', { namespace: about.namespace, name: about.name, reason, message: err.message }));
  }
}

export function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}
