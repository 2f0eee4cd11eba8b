/**
 * reconcile(namespace/name): read the identity, its Secret and the CA; decide; write at most one
 * Secret (server-side apply) and one status patch. An identity whose Secret is valid gets no
 * write at all. Returns when to look again, or throws for the queue's backoff. What is written
 * once decided (issue, keep, not Ready): outcomes.ts.
 */
import { CA_CRT, TLS_KEY, ANNOTATION_REVISION, ANNOTATION_SPEC_HASH, type MutualTLSIdentity, type Secret } from '../api/types.ts';
import { InvalidSpecError, issuanceHash, resolveSpec, type ResolvedSpec } from '../api/spec.ts';
import type { Clock } from '../clock.ts';
import type { Cluster } from '../cluster/port.ts';
import { needsIssuance } from '../decide/issuance.ts';
import type { Logger } from '../log.ts';
import type { Inspection, SigningCA } from '../pki/types.ts';
import type { CASource } from './ca-source.ts';
import { ManualRenewalLimiter, type RateLimiter } from './limiter.ts';
import { noObserver, type ControllerObserver } from './observer.ts';
import { getCondition, type ConditionInput } from './conditions.ts';
import { IdentityWriter } from './writer.ts';
import { IdentityOutcomes, type ReconcileResult } from './outcomes.ts';
import { casToAsk, forgetAllFacts, forgetFacts, issuedFacts, wholeSecret, type IssuedFacts } from './leaf-facts.ts';
import { SERVICE_ACCOUNT_RETRY_MS, serviceAccountCondition, serviceAccountEvent, serviceAccountRetryMs } from './service-account.ts';
import { ANNOTATION_RENEW_REQUEST, isOwnedBy, unb64, type SecretExtras, type SecretPems } from './secret.ts';
import { buildOutputDataOffThread, resolveKeystoreSpec, usablePassword, type OutputsSpec } from '../outputs/index.ts';

export type { ReconcileResult };

export interface ReconcilerConfig {
  trustDomain: string;
  operatorNamespace: string;
  caSecretName: string;
  /** Whether spec.restartWorkloads is honoured (it needs patch on apps workloads). */
  allowWorkloadRestart?: boolean;
  /** Refuses names an identity may not hold (the name policy); undefined: allowed. */
  checkPolicy?(identity: MutualTLSIdentity, spec: ResolvedSpec): string | undefined;
  /**
   * The ServiceAccount named in the SPIFFE ID (issue 19, point 6). undefined: not looked up. 'condition': a missing
   * one is issued for, flagged with ServiceAccountFound=False and a Warning Event; 'require': refused (Ready=False,
   * ServiceAccountNotFound) until it exists.
   */
  serviceAccountCheck?: 'condition' | 'require';
}

/** Why an identity cannot be made Ready; the reason is the condition's and the Event's. */
class NotReady extends Error {
  readonly reason: string;
  readonly conditions: ConditionInput[];
  constructor(reason: string, message: string, conditions: ConditionInput[] = []) {
    super(message);
    this.reason = reason;
    this.conditions = conditions;
  }
}



/** After start, how long an identity's ServiceAccountFound=True in status is taken as it is when nothing is issued. */
export const SA_TRUST_STATUS_MS = 10 * 60_000;

/**
 * How soon to look again at an identity that is not Ready. Most reasons change only with
 * something that is watched (the identity, the CA Secret); a foreign Secret in the way and a
 * keystore password Secret are not watched, so those are looked at again on a timer.
 */
export const NOT_READY_RETRY_MS: Readonly<Record<string, number>> = {
  SecretConflict: 5 * 60_000,
  KeystorePasswordMissing: 60_000,
  KeystorePasswordInvalid: 60_000,
  ServiceAccountNotFound: SERVICE_ACCOUNT_RETRY_MS,
};

export class Reconciler {
  private readonly cluster: Cluster;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly ca: CASource;
  private readonly config: ReconcilerConfig;
  private readonly observer: ControllerObserver;
  private readonly limiter: RateLimiter | undefined;
  private readonly manualRenewals: ManualRenewalLimiter;
  private readonly write: IdentityWriter;
  private readonly outcomes: IdentityOutcomes;
  private readonly startedAt: number;

  constructor(deps: { cluster: Cluster; clock: Clock; logger: Logger; ca: CASource; config: ReconcilerConfig; observer?: ControllerObserver; limiter?: RateLimiter; manualRenewals?: ManualRenewalLimiter }) {
    this.manualRenewals = deps.manualRenewals ?? new ManualRenewalLimiter({ clock: deps.clock });
    this.observer = deps.observer ?? noObserver;
    this.limiter = deps.limiter;
    this.write = new IdentityWriter(deps.cluster, deps.logger, deps.config.allowWorkloadRestart ?? false);
    this.cluster = deps.cluster;
    this.clock = deps.clock;
    this.logger = deps.logger;
    this.ca = deps.ca;
    this.config = deps.config;
    this.outcomes = new IdentityOutcomes({ cluster: deps.cluster, write: this.write, clock: deps.clock, logger: deps.logger, observer: this.observer });
    this.startedAt = deps.clock.now();
    forgetAllFacts(deps.cluster);
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace, name] = splitKey(key);
    const identity = this.cluster.getIdentity(namespace, name);
    if (!identity || identity.metadata.deletionTimestamp) {
      this.observer.identityRemoved?.(namespace, name);
      forgetFacts(this.cluster, key);
      return {}; // its Secret goes with it (ownerReference)
    }
    try {
      return await this.reconcileIdentity(identity);
    } catch (err) {
      if (!(err instanceof NotReady)) throw err;
      await this.outcomes.markNotReady(identity, err.reason, err.message, err.conditions);
      const retry = NOT_READY_RETRY_MS[err.reason];
      return retry === undefined ? {} : { requeueAfterMs: retry };
    }
  }

  private async reconcileIdentity(identity: MutualTLSIdentity): Promise<ReconcileResult> {
    const { namespace, name } = identity.metadata as { namespace: string; name: string };
    let spec: ResolvedSpec;
    let outputs: OutputsSpec;
    try {
      spec = resolveSpec(identity, { trustDomain: this.config.trustDomain });
      outputs = resolveKeystoreSpec(identity.spec);
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

    const key = `${namespace}/${name}`;
    const { secret, facts } = await this.readIssued(identity, spec.secretName, ca);
    // Keystores need their password before any key is made.
    const passwordSecret = outputs.pkcs12 ? await this.cluster.getSecret(namespace, outputs.pkcs12.passwordSecretRef.name) : undefined;
    const password = usablePassword(outputs, passwordSecret, namespace, identity.metadata.name);
    if ('reason' in password) throw new NotReady(password.reason, password.message);
    // Keystores are built in a worker thread: the password KDF never blocks the event loop.
    const extras = async (pems: SecretPems | undefined, existing: Secret | undefined): Promise<SecretExtras> => {
      if (!pems && (outputs.pkcs12 || outputs.combinedPem)) throw new Error('internal: keystores and the combined PEM need the Secret read whole');
      const out = await buildOutputDataOffThread({ outputs, pems: pems!, passwordSecret, existing, namespace, identity: identity.metadata.name });
      if (!out.ok) throw new NotReady(out.reason, out.message);
      return out;
    };
    const inspection = facts?.inspection ?? {};
    const specHash = issuanceHash(spec);
    const annotations = secret?.metadata.annotations ?? {};
    const now = new Date(this.clock.now());
    const renewRequest = identity.metadata.annotations?.[ANNOTATION_RENEW_REQUEST];
    const need = needsIssuance({
      now,
      secretExists: secret !== undefined,
      hasCert: facts?.hasCert ?? false,
      hasKey: facts?.hasKey ?? false,
      inspection,
      specHash,
      ...(annotations[ANNOTATION_SPEC_HASH] ? { issuedSpecHash: annotations[ANNOTATION_SPEC_HASH] } : {}),
      wanted: { dnsNames: spec.dnsNames, ipAddresses: spec.ipAddresses, uris: [spec.spiffeId] },
      ...(spec.renewBeforeMs !== undefined ? { renewBeforeMs: spec.renewBeforeMs } : {}),
      caNotAfter: ca.notAfter,
      issuedByCurrentCA: () => inspection.signedBy?.get(ca.certificate.fingerprint256) === true,
      ...(renewRequest ? { renewRequest } : {}),
      ...(annotations[ANNOTATION_RENEW_REQUEST] ? { honouredRenewRequest: annotations[ANNOTATION_RENEW_REQUEST] } : {}),
    });
    const saCondition = await this.serviceAccountCondition(identity, namespace, spec, !!need);
    if (saCondition?.status === 'False' && this.config.serviceAccountCheck === 'require') {
      throw new NotReady('ServiceAccountNotFound', `${saCondition.message}; the operator runs with --require-service-account=true and issues no certificate for it until it exists`, [saCondition]);
    }
    const more = saCondition ? [saCondition] : [];
    const revision = Number(annotations[ANNOTATION_REVISION] ?? identity.status?.revision ?? 0) || 0;
    // A CA change re-issues every leaf: take turns, so the API server sees a steady rate.
    // Renewals too: a renewed CA ends the wait of every leaf that was cut to the old one at once.
    // The limit is a reservation: a key that must wait gets its own slot and waits in the queue
    // without doing work (no read, parse or verify) until then, when this reconcile is admitted.
    const rateLimited = need?.reason === 'IncorrectIssuer' || need?.reason === 'RenewalTimeReached' || (!need && unb64(secret?.data?.[CA_CRT]) !== ca.bundlePem);
    if (!rateLimited) this.limiter?.cancel(key);
    const wait = rateLimited ? this.limiter?.reserve(key) ?? 0 : 0;
    if (wait > 0) return { holdMs: wait };
    // Manual renewals: at most one per identity per interval; a sooner request waits its turn.
    const manualWait = need?.reason === 'ManuallyTriggered' ? this.manualRenewals.take(identity.metadata.uid ?? `${namespace}/${identity.metadata.name}`) : 0;
    if (manualWait > 0) {
      this.logger.info('manual renewal rate-limited', { namespace, name: identity.metadata.name, reason: 'ManuallyTriggered', retryInMs: manualWait });
      return { requeueAfterMs: manualWait };
    }
    // Without keystores or a combined PEM nothing reads the PEMs again until a write: the cache may drop them.
    const release = !outputs.pkcs12 && !outputs.combinedPem;
    const result = need
      ? await this.outcomes.issue(identity, spec, ca, need, await this.keyToReuse(spec, secret, inspection), secret, extras, { specHash, revision: revision + 1, renewed: !!inspection.leaf, conditions: more, release, ...(renewRequest ? { renewRequest } : {}) })
      : await this.outcomes.keep(identity, spec, ca, secret!, facts!, extras, { specHash, revision, conditions: more, release, ...(renewRequest ? { renewRequest } : {}) });
    if (!saCondition) return result;
    this.noteServiceAccount(identity, saCondition);
    // Not watched: a ServiceAccount created later clears the condition on the next look.
    if (saCondition.status === 'False') {
      const retry = serviceAccountRetryMs(getCondition(identity.status, 'ServiceAccountFound'), this.clock.now());
      return { requeueAfterMs: Math.min(result.requeueAfterMs ?? retry, retry) };
    }
    return result;
  }

  /**
   * The identity's Secret and what its tls.crt and tls.key hold (leaf-facts.ts), or a SecretConflict when another
   * owns that name. The facts are remembered per Secret version; the data is read whole only when they are not.
   */
  private async readIssued(identity: MutualTLSIdentity, secretName: string, ca: SigningCA): Promise<{ secret?: Secret; facts?: IssuedFacts }> {
    const { namespace, name } = identity.metadata as { namespace: string; name: string };
    const cached = await this.cluster.getSecret(namespace, secretName);
    const conflict = (s: Secret | undefined) => {
      if (s && !isOwnedBy(s, identity)) {
        throw new NotReady('SecretConflict', `Secret ${namespace}/${secretName} exists and is not owned by this identity: it is left untouched; choose another secretName or delete that Secret`);
      }
    };
    conflict(cached);
    if (!cached) return {};
    const seen = await issuedFacts(this.cluster, `${namespace}/${name}`, cached, casToAsk(ca));
    conflict(seen.secret);
    return seen.secret ? { secret: seen.secret, facts: seen.facts } : {};
  }

  /** rotationPolicy Never: the private key found, when it is the kind the spec asks for (read whole: the cache may not hold it). */
  private async keyToReuse(spec: ResolvedSpec, secret: Secret | undefined, inspection: Inspection): Promise<string | undefined> {
    const key = inspection.key;
    if (spec.rotationPolicy !== 'Never' || !secret || !key || key.algorithm !== spec.key.algorithm || key.size !== spec.key.size) return undefined;
    const whole = await wholeSecret(this.cluster, secret);
    if (!whole || whole.metadata.resourceVersion !== secret.metadata.resourceVersion) {
      throw new Error(`Secret ${secret.metadata.namespace}/${secret.metadata.name} changed while its key was read (rotationPolicy Never): looking again`);
    }
    return unb64(whole.data?.[TLS_KEY]);
  }

  /**
   * ServiceAccountFound, looked up (a cached GET) -- except in the first SA_TRUST_STATUS_MS after start for an identity
   * that needs no certificate and whose status already says True: a restart over 10,000 valid identities would
   * otherwise cost 10,000 GETs to learn what status says (issue 11: a restart re-verifies everything in 15 s). An
   * issuance always looks it up.
   */
  private async serviceAccountCondition(identity: MutualTLSIdentity, namespace: string, spec: ResolvedSpec, issuing: boolean): Promise<ConditionInput | undefined> {
    if (!this.config.serviceAccountCheck) return undefined;
    const prev = getCondition(identity.status, 'ServiceAccountFound');
    if (!issuing && prev?.status === 'True' && prev.observedGeneration === identity.metadata.generation && this.clock.now() - this.startedAt < SA_TRUST_STATUS_MS) {
      return { type: prev.type, status: prev.status, reason: prev.reason, message: prev.message };
    }
    return serviceAccountCondition(this.cluster, namespace, spec);
  }

  private noteServiceAccount(identity: MutualTLSIdentity, cond: ConditionInput): void {
    const event = serviceAccountEvent(getCondition(identity.status, 'ServiceAccountFound'), cond);
    if (!event) return;
    this.write.event(identity, event.type, cond.reason, event.message);
    if (event.type === 'Warning') this.logger.warn('service account not found', { namespace: identity.metadata.namespace, name: identity.metadata.name, reason: cond.reason, message: cond.message });
  }
}

export function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}
