/**
 * A lost rotation state (the ConfigMap `mtls-trust-rotation` deleted or emptied) is recovered from
 * what is in the cluster, never restarted blind (issue 20.3):
 *
 *   - a staged rotation leaves its request on the CA Secret (`mtls.dev/rotate-to`) and the name
 *     of a generated root (`mtls.dev/rotation-generated`): the new root already in the CA Secret
 *     means it finished; live leaves signed by the new root mean it was Active; otherwise it is
 *     Prepared again with the same new root;
 *   - an unstaged rotation (the CA Secret replaced in place) has no request: while it runs the
 *     operator keeps the fingerprints of the roots it replaced on the CA Secret
 *     (`mtls.dev/unstaged-old-roots`), and their PEM is found again in the issued bundles and
 *     trust-bundle ConfigMaps, authenticated by those fingerprints (a tenant can write its own
 *     Secret's ca.crt, but cannot make a certificate with a given SHA-256 fingerprint).
 *
 * Until the state is back, CASource.current() signs nothing and changes no bundle.
 */
import { DEFAULT_DURATION, MAX_DURATION } from '../api/constants.ts';
import { parseDuration } from '../api/duration.ts';
import { CA_CRT, TRUST_BUNDLE_CONFIGMAP } from '../api/types.ts';
import type { Cluster } from '../cluster/port.ts';
import type { RotationState, TrustRecord } from '../decide/rotation.ts';
import type { Logger } from '../log.ts';
import { certificatesWithFingerprints, keptRoots, latestExpiry } from '../pki/index.ts';
import type { SigningCA } from '../pki/types.ts';
import { ANNOTATION_DISTRUST_ROOT, ANNOTATION_UNSTAGED_OLD_ROOTS, type CASource } from './ca-source.ts';
import { isOurConfigMap } from './bundles.ts';
import { issuedCopies, leavesSignedBy, oldLeavesNotAfter } from './rotation-progress.ts';
import { unb64 } from './secret.ts';

/** What recovery needs of the rotation reconciler. */
export interface RecoveryHost {
  readonly cluster: Cluster;
  readonly ca: CASource;
  readonly logger: Logger;
  readonly skewMs: number;
  save(record: TrustRecord): Promise<void>;
  start(request: string, old: SigningCA, record: TrustRecord, now: Date, recovered: boolean): Promise<void>;
  target(request: string, now: Date, create: boolean): Promise<{ name: string; secret: Awaited<ReturnType<Cluster['getSecret']>> } | undefined>;
  loadTarget(name: string, secret: Awaited<ReturnType<Cluster['getSecret']>>, now: Date): Promise<SigningCA>;
  event(type: 'Normal' | 'Warning', reason: string, message: string): void;
}

/** The fingerprints an unstaged rotation keeps on the CA Secret, as the annotation says them. */
export function unstagedOldRoots(annotations: Record<string, string>): string[] {
  return (annotations[ANNOTATION_UNSTAGED_OLD_ROOTS] ?? '').split(',').map((f) => f.trim()).filter((f) => /^[0-9a-f]{64}$/.test(f));
}

/**
 * Copies of old leaves already replaced are no longer in the cluster, but may still be in use: an
 * old root stays until any of them could have expired (the longest lifetime an identity asks for,
 * capped by the old roots' own expiry) plus skew. Retiring sooner could fail handshakes.
 */
async function retireAfterRecovery(host: RecoveryHost, now: Date, oldNotAfter: Date | undefined, newCA: SigningCA): Promise<Date> {
  const longest = Math.max(parseDuration(DEFAULT_DURATION), ...host.cluster.listIdentities().map((i) => {
    try {
      return parseDuration(i.spec?.duration ?? DEFAULT_DURATION);
    } catch {
      return parseDuration(MAX_DURATION);
    }
  }));
  const live = (await oldLeavesNotAfter(host.cluster, newCA.certificate, now))?.getTime() ?? 0;
  const cap = oldNotAfter?.getTime() ?? Number.POSITIVE_INFINITY;
  return new Date(Math.max(Math.min(now.getTime() + longest, cap), live) + host.skewMs);
}

/**
 * No state but a standing request: find out how far the rotation got. The new root already
 * in the CA Secret: it finished (the request is cleared). Leaves signed by it: it was Active.
 * Otherwise Prepared again, with the same new root.
 */
export async function recoverStaged(host: RecoveryHost, request: string, main: SigningCA, now: Date): Promise<void> {
  const record: TrustRecord = { rotation: undefined, seen: [main.fingerprint] };
  const target = await host.target(request, now, false);
  let next: SigningCA | undefined;
  try {
    if (target) next = await host.loadTarget(target.name, target.secret, now);
  } catch {
    next = undefined;
  }
  if (next && next.fingerprint === main.fingerprint) {
    const state: RotationState = {
      phase: 'Retired', request, since: now.toISOString(), newRootSecret: target!.name, newRootFingerprint: next.fingerprint,
      oldRootFingerprint: '', done: 0, total: 0, message: 'recovered after the rotation state was lost: the new root is already the CA Secret\'s; clearing the request',
    };
    await host.save({ ...record, caFingerprint: main.fingerprint, caBundlePem: main.bundlePem, rotation: state });
    host.event('Warning', 'RotationRecovered', state.message);
    return;
  }
  const signed = next ? await leavesSignedBy(host.cluster, await issuedCopies(host.cluster), next.certificate) : 0;
  if (!next || signed === 0) {
    await host.start(request, main, { ...record, caFingerprint: main.fingerprint, caBundlePem: main.bundlePem }, now, target !== undefined);
    if (target) host.event('Warning', 'RotationRecovered', 'the rotation state was lost before the new CA signed anything: Prepared again with the same new root');
    return;
  }
  const state: RotationState = {
    phase: 'Active', request, since: now.toISOString(), newRootSecret: target!.name, newRootFingerprint: next.fingerprint,
    oldRootFingerprint: main.fingerprint, oldBundlePem: main.bundlePem, newBundlePem: next.bundlePem, keptRootsPem: keptRoots(main.bundlePem, next.bundlePem, main),
    retireAfter: (await retireAfterRecovery(host, now, main.notAfter, next)).toISOString(),
    done: signed, total: 0,
    message: `recovered after the rotation state was lost: ${signed} live leaves are signed by the new root, so the rotation was Active; it resumes there`,
  };
  await host.save({ ...record, caFingerprint: main.fingerprint, caBundlePem: main.bundlePem, rotation: state, seen: [main.fingerprint, next.fingerprint] });
  host.logger.warn('root rotation state recovered', { reason: 'RotationRecovered', phase: 'Active', newRoot: next.fingerprint });
  host.event('Warning', 'RotationRecovered', state.message);
}

/**
 * No state, no request, and the CA Secret says an unstaged rotation was running: resume it Active
 * with the replaced roots found again, so no bundle loses them before their leaves could expire.
 */
export async function recoverUnstaged(host: RecoveryHost, main: SigningCA, annotations: Record<string, string>, now: Date): Promise<void> {
  const wanted = unstagedOldRoots(annotations).filter((f) => f !== main.fingerprint);
  const distrusted = annotations[ANNOTATION_DISTRUST_ROOT];
  const bundles = [
    ...(await issuedCopies(host.cluster)).map((c) => unb64(c.secret.data?.[CA_CRT]) ?? ''),
    ...host.cluster.listConfigMaps().filter((cm) => cm.metadata.name === TRUST_BUNDLE_CONFIGMAP && isOurConfigMap(cm)).map((cm) => cm.data?.[CA_CRT] ?? ''),
  ];
  const { pem, missing } = certificatesWithFingerprints(bundles, wanted.filter((f) => f !== distrusted));
  const seen = [...new Set([...wanted, main.fingerprint])];
  if (!pem) {
    const message = `the rotation state was lost during an unstaged rotation, and no bundle in the cluster still holds the replaced roots (${wanted.map((f) => f.slice(0, 16)).join(', ')}…): the CA Secret's CA alone is trusted from now on`;
    await host.save({ rotation: undefined, caFingerprint: main.fingerprint, caBundlePem: main.bundlePem, seen });
    host.logger.warn('root rotation state lost, replaced roots not found', { reason: 'RotationRecovered', detail: message });
    host.event('Warning', 'RotationRecovered', message);
    return;
  }
  const state: RotationState = {
    phase: 'Active', request: '', since: now.toISOString(), newRootSecret: host.ca.name,
    retireAfter: (await retireAfterRecovery(host, now, latestExpiry(pem, undefined), main)).toISOString(),
    newRootFingerprint: main.fingerprint, oldRootFingerprint: wanted[0]!, oldBundlePem: pem, newBundlePem: main.bundlePem,
    keptRootsPem: '', unstaged: true, requestCleared: true, done: 0, total: 0,
    message: `recovered after the rotation state was lost during an unstaged rotation: the replaced roots stay in every bundle until the leaves they signed could have expired${missing.length > 0 ? ` (not found anywhere, so not kept: ${missing.map((f) => f.slice(0, 16)).join(', ')}…)` : ''}`,
  };
  await host.save({ rotation: state, caFingerprint: wanted[0]!, caBundlePem: pem, seen });
  host.logger.warn('root rotation state recovered', { reason: 'RotationRecovered', phase: 'Active', unstaged: true });
  host.event('Warning', 'RotationRecovered', state.message);
}
