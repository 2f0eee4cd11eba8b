/**
 * The write half of a reconcile, once the Reconciler (reconciler.ts) has read and decided: issue a
 * certificate and write it, keep a valid one (bringing up to date only what drifted), or mark the
 * identity not Ready.
 */
import { CA_CRT, TLS_CRT, TLS_KEY, type MutualTLSIdentity, type Secret } from '../api/types.ts';
import type { Cluster } from '../cluster/port.ts';
import type { ResolvedSpec } from '../api/spec.ts';
import type { Clock } from '../clock.ts';
import type { IssuanceNeed } from '../decide/issuance.ts';
import { renewalTime } from '../decide/renewal.ts';
import type { Logger } from '../log.ts';
import { ClusterError } from '../cluster/port.ts';
import { issuedInspection, issueLeaf, leafRequestFor } from '../pki/index.ts';
import type { SigningCA } from '../pki/types.ts';
import { carryFacts, rememberFacts, wholeSecret, type IssuedFacts } from './leaf-facts.ts';
import type { ControllerObserver } from './observer.ts';
import { getCondition, type ConditionInput } from './conditions.ts';
import { failedStatus, notReadyStatus, readyStatus, settledIssuing } from './status.ts';
import type { IdentityWriter } from './writer.ts';
import { buildSecret, containsAll, desiredMetadata, fieldManagerFor, unb64, type SecretExtras, type SecretFacts, type SecretPems } from './secret.ts';
import { KEYSTORE_P12, TLS_COMBINED_PEM, TRUSTSTORE_P12 } from '../outputs/index.ts';

const OUTPUT_KEYS = [KEYSTORE_P12, TRUSTSTORE_P12, TLS_COMBINED_PEM];

export interface ReconcileResult {
  /** Look again after this long (the renewal time), if set. */
  requeueAfterMs?: number;
  /**
   * The key holds a re-issue reservation: run it again after this long and not before, whatever
   * events come meanwhile (WorkQueue.hold), unless the identity itself changes.
   */
  holdMs?: number;
}

export class IdentityOutcomes {
  private readonly write: IdentityWriter;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly observer: ControllerObserver;
  private readonly cluster: Cluster;

  constructor(deps: { cluster: Cluster; write: IdentityWriter; clock: Clock; logger: Logger; observer: ControllerObserver }) {
    this.cluster = deps.cluster;
    this.write = deps.write;
    this.clock = deps.clock;
    this.logger = deps.logger;
    this.observer = deps.observer;
  }

  /** Issue a certificate and write it: Secret first (one apply), then status. */
  async issue(
    identity: MutualTLSIdentity,
    spec: ResolvedSpec,
    ca: SigningCA,
    need: IssuanceNeed,
    /** rotationPolicy Never: the key found, when it is the kind the spec asks for. */
    reuseKeyPem: string | undefined,
    existing: Secret | undefined,
    extras: (pems: SecretPems | undefined, existing: Secret | undefined) => Promise<SecretExtras>,
    facts: { specHash: string; revision: number; renewed: boolean; renewRequest?: string; conditions: ConditionInput[]; release: boolean },
  ): Promise<ReconcileResult> {
    const { namespace, name } = identity.metadata as { namespace: string; name: string };
    const log = { namespace, name, reason: need.reason };
    this.logger.info('issuing certificate', { ...log, detail: need.message });
    let secretFacts: SecretFacts;
    try {
      const issued = await issueLeaf(ca, leafRequestFor(spec, new Date(this.clock.now()), reuseKeyPem));
      secretFacts = {
        serialNumber: issued.serialNumber,
        notAfter: issued.notAfter,
        spiffeId: spec.spiffeId,
        caFingerprint: ca.fingerprint,
        specHash: facts.specHash,
        revision: facts.revision,
        ...(facts.renewRequest ? { renewRequest: facts.renewRequest } : {}),
      };
      const written = await this.write.secret(buildSecret(identity, spec, issued, secretFacts, await extras(issued, existing)), existing, fieldManagerFor(identity));
      if (facts.release) this.release(written, () => rememberFacts(this.cluster, `${namespace}/${name}`, written, issuedInspection(issued, spec.key, ca.certificate)));
      await this.write.staleSecrets(identity, spec.secretName);
      const restarted = await this.write.restartWorkloads(identity, spec, issued.serialNumber, ca.bundlePem, facts.renewed);
      await this.write.status(identity, readyStatus(identity, spec, {
        notBefore: issued.notBefore, notAfter: issued.notAfter, serial: issued.serialNumber, revision: facts.revision,
        issuing: { type: 'Issuing', status: 'False', reason: need.reason, message: `issued serial ${issued.serialNumber} (${need.message})` },
        workloadsRestartedFor: restarted.serial, workloadsTrustBundle: restarted.bundle, caNotAfter: ca.notAfter, conditions: facts.conditions,
      }, new Date(this.clock.now())));
      if (issued.clamped) {
        const message = `the CA expires at ${ca.notAfter.toISOString()}, before the requested duration: the certificate's notAfter was cut to it; rotate or renew the CA`;
        this.write.event(identity, 'Warning', 'CAExpiresSoon', message);
        this.logger.warn('certificate lifetime cut to the CA', { ...log, serial: issued.serialNumber, message });
      }
      const event = facts.renewed ? 'Renewed' : 'Issued';
      this.write.event(identity, 'Normal', event, `${event} certificate serial ${issued.serialNumber}, valid until ${issued.notAfter.toISOString()} (${need.reason}: ${need.message})`);
      this.logger.info('certificate issued', { ...log, serial: issued.serialNumber, notAfter: issued.notAfter.toISOString() });
      const renewal = renewalTime(issued.notBefore, issued.notAfter, spec.renewBeforeMs, ca.notAfter);
      this.observer.issuance?.(namespace, name, need.reason, 'success');
      this.observer.identityState?.(namespace, name, { ready: true, reason: 'Ready', notAfter: issued.notAfter, renewalTime: renewal });
      return { requeueAfterMs: renewal.getTime() - this.clock.now() };
    } catch (err) {
      this.observer.issuance?.(namespace, name, need.reason, 'failure');
      // The namespace is going, and this identity with it: no Warning, no status, nothing to say.
      if (!ClusterError.isNamespaceTerminating(err)) await this.markIssuanceFailed(identity, need, err as Error);
      throw err;
    }
  }

  /** The Secret holds a valid certificate: sync what may have drifted, write nothing else. */
  async keep(
    identity: MutualTLSIdentity,
    spec: ResolvedSpec,
    ca: SigningCA,
    secret: Secret,
    issued: IssuedFacts,
    extras: (pems: SecretPems | undefined, existing: Secret | undefined) => Promise<SecretExtras>,
    facts: { specHash: string; revision: number; renewRequest?: string; conditions: ConditionInput[]; release: boolean },
  ): Promise<ReconcileResult> {
    const { namespace, name } = identity.metadata as { namespace: string; name: string };
    const leaf = issued.inspection.leaf!;
    const notBefore = new Date(leaf.notBefore);
    const notAfter = new Date(leaf.notAfter);
    const serial = leaf.serialNumber;
    const secretFacts: SecretFacts = {
      serialNumber: serial, notAfter, spiffeId: spec.spiffeId, caFingerprint: ca.fingerprint,
      specHash: facts.specHash, revision: facts.revision,
      ...(facts.renewRequest ? { renewRequest: facts.renewRequest } : {}),
    };
    // The PEMs, when the cache still holds them; read whole only when something needs them (outputs, a write).
    let pems = pemsOf(secret, ca.bundlePem);
    if (!pems && !facts.release) pems = await this.pemsRead(secret, ca.bundlePem);
    const extra = await extras(pems, secret);
    const want = desiredMetadata(identity, spec, secretFacts, extra);
    const bundleStale = unb64(secret.data?.[CA_CRT]) !== ca.bundlePem;
    const outputsStale = !sameOutputs(secret.data, extra.data);
    if (bundleStale || outputsStale || !containsAll(secret.metadata.labels, want.labels) || !containsAll(secret.metadata.annotations, want.annotations) || secret.type !== 'kubernetes.io/tls') {
      pems ??= await this.pemsRead(secret, ca.bundlePem);
      const written = await this.write.secret(buildSecret(identity, spec, pems, secretFacts, extra), secret, fieldManagerFor(identity));
      this.logger.info('Secret brought up to date', { namespace, name, reason: bundleStale ? 'TrustBundleChanged' : outputsStale ? 'OutputsChanged' : 'SecretOutOfDate', serial });
      // The same tls.crt and tls.key: the facts hold for the version written.
      if (facts.release) this.release(written, () => carryFacts(this.cluster, `${namespace}/${name}`, issued, written));
    } else if (facts.release) this.release(secret);
    await this.write.staleSecrets(identity, spec.secretName);
    // A new trust bundle restarts opted-in workloads once (a program that reads ca.crt only at
    // start must trust a new root before peers present it); a crash between the Secret write and
    // the restart restarts them now, still once for this serial and bundle.
    const restarted = await this.write.restartWorkloads(identity, spec, serial, ca.bundlePem, true);
    await this.write.status(identity, readyStatus(identity, spec, {
      notBefore, notAfter, serial, revision: facts.revision, issuing: settledIssuing(identity),
      workloadsRestartedFor: restarted.serial, workloadsTrustBundle: restarted.bundle, caNotAfter: ca.notAfter, conditions: facts.conditions,
    }, new Date(this.clock.now())));
    const renewal = renewalTime(notBefore, notAfter, spec.renewBeforeMs, ca.notAfter);
    this.observer.identityState?.(identity.metadata.namespace!, identity.metadata.name, { ready: true, reason: 'Ready', notAfter, renewalTime: renewal });
    return { requeueAfterMs: renewal.getTime() - this.clock.now() };
  }

  /** Remember the facts of `secret` (if `remember`), then let the cache drop its key pair (leaf-facts.ts). */
  private release(secret: Secret, remember?: () => void): void {
    const rv = secret.metadata.resourceVersion;
    if (!this.cluster.releaseKeyPair || rv === undefined) return;
    remember?.();
    this.cluster.releaseKeyPair(secret.metadata.namespace ?? '', secret.metadata.name, rv);
  }

  /** The PEMs of exactly this version of the Secret, read whole (the cache dropped them). */
  private async pemsRead(secret: Secret, caPem: string): Promise<SecretPems> {
    const whole = await wholeSecret(this.cluster, secret);
    const pems = whole && whole.metadata.resourceVersion === secret.metadata.resourceVersion ? pemsOf(whole, caPem) : undefined;
    if (!pems) throw new Error(`Secret ${secret.metadata.namespace}/${secret.metadata.name} changed while it was read whole: looking again`);
    return pems;
  }

  async markNotReady(identity: MutualTLSIdentity, reason: string, message: string, also: ConditionInput[] = []): Promise<void> {
    const prev = getCondition(identity.status, 'Ready');
    this.observer.identityState?.(identity.metadata.namespace!, identity.metadata.name, { ready: false, reason });
    const changed = await this.write.status(identity, notReadyStatus(identity, reason, message, new Date(this.clock.now()), also));
    if (changed && (prev?.reason !== reason || prev?.message !== message)) {
      this.write.event(identity, 'Warning', reason, message);
      this.logger.warn('identity not ready', { namespace: identity.metadata.namespace, name: identity.metadata.name, reason, message });
    }
  }

  private async markIssuanceFailed(identity: MutualTLSIdentity, need: IssuanceNeed, err: Error): Promise<void> {
    const message = `issuance failed (${need.reason}): ${err.message}`;
    this.logger.error('issuance failed', { namespace: identity.metadata.namespace, name: identity.metadata.name, reason: need.reason, detail: err.message });
    this.write.event(identity, 'Warning', 'IssuanceFailed', message);
    await this.write.status(identity, failedStatus(identity, need, message, new Date(this.clock.now()))).catch((e: Error) =>
      this.logger.warn('status write failed', { namespace: identity.metadata.namespace, name: identity.metadata.name, detail: e.message }));
  }
}

/** tls.crt and tls.key of a Secret with the trust bundle to write, or undefined when the cache does not hold them. */
function pemsOf(secret: Secret, caPem: string): SecretPems | undefined {
  const certChainPem = unb64(secret.data?.[TLS_CRT]);
  const keyPem = unb64(secret.data?.[TLS_KEY]);
  return certChainPem && keyPem ? { certChainPem, keyPem, caPem } : undefined;
}

/** Whether the Secret's extra outputs (keystores, combined PEM) are exactly the wanted ones. */
function sameOutputs(have: Record<string, string> | undefined, want: Record<string, string>): boolean {
  return OUTPUT_KEYS.every((k) => have?.[k] === want[k]);
}
