/**
 * The signer `mtls.dev/identity`: answers each PodCertificateRequest that names it and has no
 * terminal condition yet, exactly once. reconcile(namespace, name) reads the request from the
 * watch cache, the identities of its namespace and the CA, decides (decide/podcert.ts) and writes
 * the status subresource once, guarded by the resourceVersion read: a request answered meanwhile
 * (by another replica, or by us before a restart) answers 409 and is not signed again. Every
 * answer is also an Event on the request. Signing takes a token of the operator's rate limiter
 * (the one CA-change re-issues use), so a storm of pods is signed at a steady rate.
 */
import { InvalidSpecError, resolveSpec } from '../api/spec.ts';
import { PCR_KIND, CERTIFICATES_GROUP, terminalCondition, type MetaCondition, type PodCertificateRequest } from '../api/podcert-types.ts';
import type { MutualTLSIdentity } from '../api/types.ts';
import { DEFAULT_DURATION, DEFAULT_SERVICE_ACCOUNT, MAX_DURATION } from '../api/constants.ts';
import { parseDuration } from '../api/duration.ts';
import type { ResolvedSpec } from '../api/spec.ts';
import type { Clock } from '../clock.ts';
import { ClusterError, type Cluster, type PodCertificateCluster } from '../cluster/port.ts';
import { beginRefreshAt, decidePodCertificate, type IdentityCandidate, POD_CERT_BACKDATE_MS } from '../decide/podcert.ts';
import type { Logger } from '../log.ts';
import { issueLeafForKey, requestedKey } from '../pki/index.ts';
import type { KeyUsage } from '../api/types.ts';
import type { CASource } from './ca-source.ts';
import type { RateLimiter } from './limiter.ts';

/** Queue keys of requests: `<namespace>/@pcr:<name>` (the namespace first, for the queue's fair lanes). */
export const PCR_KEY_MARK = '/@pcr:';
export const pcrKey = (namespace: string, name: string): string => `${namespace}${PCR_KEY_MARK}${name}`;

export interface PodSignerConfig {
  trustDomain: string;
  checkPolicy?(identity: MutualTLSIdentity, spec: ResolvedSpec): string | undefined;
}

export class PodCertificateSigner {
  private readonly pods: PodCertificateCluster;
  private readonly cluster: Cluster;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly ca: CASource;
  private readonly limiter: RateLimiter | undefined;
  private readonly config: PodSignerConfig;

  constructor(deps: { pods: PodCertificateCluster; cluster: Cluster; clock: Clock; logger: Logger; ca: CASource; limiter?: RateLimiter; config: PodSignerConfig }) {
    this.pods = deps.pods;
    this.cluster = deps.cluster;
    this.clock = deps.clock;
    this.logger = deps.logger;
    this.ca = deps.ca;
    this.limiter = deps.limiter;
    this.config = deps.config;
  }

  /**
   * The longest lifetime a pod certificate can get: the default duration (SPIFFE-only) or the
   * duration of an identity that opts in (the root rotation waits this long for old ones).
   */
  longestLifetimeMs(): number {
    let longest = parseDuration(DEFAULT_DURATION);
    for (const id of this.cluster.listIdentities()) {
      if (id.spec?.podCertificates !== true) continue;
      try {
        longest = Math.max(longest, parseDuration(id.spec.duration ?? DEFAULT_DURATION));
      } catch {
        longest = Math.max(longest, parseDuration(MAX_DURATION));
      }
    }
    return longest;
  }

  /** Keys of every request still waiting for an answer (start, relist). */
  pending(): string[] {
    return this.pods.listRequests().filter((r) => !terminalCondition(r)).map((r) => pcrKey(r.metadata.namespace!, r.metadata.name));
  }

  async reconcile(key: string): Promise<{ requeueAfterMs?: number }> {
    const at = key.indexOf(PCR_KEY_MARK);
    const namespace = key.slice(0, at);
    const name = key.slice(at + PCR_KEY_MARK.length);
    const request = this.pods.getRequest(namespace, name);
    if (!request || terminalCondition(request) || request.metadata.deletionTimestamp) return {};
    const wait = this.limiter?.reserve(key) ?? 0;
    if (wait > 0) return { requeueAfterMs: wait };
    try {
      return await this.sign(request);
    } catch (err) {
      // Retried with backoff; the pod's owner sees why it waits. A 409 is someone's answer: nothing to say.
      if (!ClusterError.isConflict(err)) this.event(request, 'Warning', 'AnswerDelayed', `not answered yet, retrying: ${(err as Error).message}`);
      throw err;
    }
  }

  private async sign(request: PodCertificateRequest): Promise<{ requeueAfterMs?: number }> {
    const namespace = request.metadata.namespace!;
    const name = request.metadata.name;
    const spec = request.spec;
    const keyBytes = (b64?: string) => (b64 ? Buffer.from(b64, 'base64') : undefined);
    const requested = requestedKey(keyBytes(spec.stubPKCS10Request), keyBytes(spec.pkixPublicKey));
    const caState = this.ca.current();
    const now = new Date(this.clock.now());
    const decision = decidePodCertificate({
      now,
      trustDomain: this.config.trustDomain,
      namespace,
      serviceAccountName: spec.serviceAccountName,
      maxExpirationSeconds: spec.maxExpirationSeconds ?? 86_400,
      defaultDurationMs: parseDuration(DEFAULT_DURATION),
      key: requested.ok ? { ok: true, key: requested.key } : requested,
      userAnnotationKeys: Object.keys(spec.unverifiedUserAnnotations ?? {}),
      ca: caState.ca ? { ok: true, notBefore: caState.ca.notBefore, notAfter: caState.ca.notAfter } : { ok: false, message: caState.error },
      identities: this.candidates(namespace, spec.serviceAccountName),
    });
    const log = { namespace, name, pod: spec.podName, serviceAccount: spec.serviceAccountName };
    if (decision.kind !== 'Issue') {
      await this.answer(request, { conditions: [condition(decision.kind, decision.reason, decision.message, now)] });
      this.event(request, 'Warning', decision.reason, `${decision.kind}: ${decision.message}`);
      this.logger.warn(`pod certificate request ${decision.kind.toLowerCase()}`, { ...log, reason: decision.reason, message: decision.message });
      return {};
    }
    const ca = caState.ca!;
    const rsa = requested.ok && requested.key.algorithm === 'RSA';
    const usages: KeyUsage[] = ['digital signature', ...(rsa ? ['key encipherment' as const] : []), 'server auth', 'client auth'];
    const issued = await issueLeafForKey(ca, {
      spki: (requested as { spki: Buffer }).spki,
      uris: decision.uris,
      dnsNames: decision.dnsNames,
      ipAddresses: decision.ipAddresses,
      durationMs: decision.durationMs,
      usages,
      now,
      backdateMs: POD_CERT_BACKDATE_MS,
    });
    const refresh = beginRefreshAt(issued.notBefore, issued.notAfter, decision.renewBeforeMs);
    const message = `issued serial ${issued.serialNumber} for ${decision.uris[0]}, valid until ${issued.notAfter.toISOString()} (${decision.message})`;
    await this.answer(request, {
      conditions: [condition('Issued', 'Issued', message, now)],
      certificateChain: issued.certChainPem,
      notBefore: iso(issued.notBefore),
      beginRefreshAt: iso(refresh),
      notAfter: iso(issued.notAfter),
    });
    this.event(request, 'Normal', 'Issued', message);
    this.logger.info('pod certificate issued', { ...log, reason: decision.identity ? 'IdentityNames' : 'SpiffeOnly', serial: issued.serialNumber, notAfter: issued.notAfter.toISOString() });
    return {};
  }

  /** Identities of the namespace that run as `serviceAccountName`, resolved and checked against the name policy. */
  private candidates(namespace: string, serviceAccountName: string): IdentityCandidate[] {
    const out: IdentityCandidate[] = [];
    for (const id of this.cluster.listIdentities()) {
      if (id.metadata.namespace !== namespace || id.metadata.deletionTimestamp) continue;
      const optedIn = id.spec?.podCertificates === true;
      try {
        const spec = resolveSpec(id, { trustDomain: this.config.trustDomain });
        if (spec.serviceAccountName !== serviceAccountName) continue;
        const violation = optedIn ? this.config.checkPolicy?.(id, spec) : undefined;
        out.push({
          name: id.metadata.name, optedIn, dnsNames: spec.dnsNames, ipAddresses: spec.ipAddresses, durationMs: spec.durationMs,
          ...(spec.renewBeforeMs !== undefined ? { renewBeforeMs: spec.renewBeforeMs } : {}),
          ...(violation ? { violation } : {}),
        });
      } catch (err) {
        if (!(err instanceof InvalidSpecError)) throw err;
        if ((id.spec?.serviceAccountName ?? DEFAULT_SERVICE_ACCOUNT) !== serviceAccountName) continue;
        out.push({ name: id.metadata.name, optedIn, invalid: err.message, dnsNames: [], ipAddresses: [], durationMs: 0 });
      }
    }
    return out;
  }

  /** The one status write: a 409 means someone answered (or the request changed) since our read. */
  private async answer(request: PodCertificateRequest, status: PodCertificateRequest['status']): Promise<void> {
    try {
      await this.pods.updateRequestStatus({ ...request, status });
    } catch (err) {
      if (ClusterError.isNotFound(err)) return; // the pod (and its request) went away
      throw err; // 409: retried; the re-read finds the answer and stops there
    }
  }

  private event(request: PodCertificateRequest, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const m = request.metadata;
    const about = { apiVersion: request.apiVersion ?? `${CERTIFICATES_GROUP}/v1`, kind: PCR_KIND, namespace: m.namespace!, name: m.name, ...(m.uid ? { uid: m.uid } : {}) };
    this.cluster.recordEvent(about, type, reason, message).catch((err: Error) =>
      this.logger.warn('event not recorded', { namespace: m.namespace, name: m.name, reason, detail: err.message }));
  }
}

function condition(type: string, reason: string, message: string, now: Date): MetaCondition {
  return { type, status: 'True', reason, message: message.slice(0, 32_000), lastTransitionTime: iso(now) };
}

/** RFC 3339 in whole seconds, as metav1.Time serialises. */
function iso(d: Date): string {
  return new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
