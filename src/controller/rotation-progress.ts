/**
 * What a root rotation waits for, observed from the caches: the trust bundle copies and the
 * issued leaves of live identities. Only Secrets that a live identity controls (controller
 * ownerReference with its UID) and that are its current secretName count: a Secret left behind
 * by a secretName change, or any Secret a tenant labels like ours, never holds a rotation back.
 *
 * Identities that cannot be re-issued (a spec or policy problem, a missing keystore password, a
 * Secret in the way) are named and left out of the counts: they hold the old root in the
 * bundles only until their current certificate expires (its notAfter still moves retireAfter),
 * which bounds the wait by the longest certificate lifetime.
 *
 * Each look walks every identity and issued Secret: at 10,000 that was one task of 100-400 ms on the event loop every
 * rotation check, and 10,000 leaf parses (about 2 s) when a CA was replaced in place. The loops give the event loop
 * back every few milliseconds (src/slice.ts); a caller may pass its own Slicer to share one across several loops.
 */
import type { X509Certificate } from 'node:crypto';
import { SECRET_NAME_SUFFIX } from '../api/constants.ts';
import { CA_CRT, TRUST_BUNDLE_CONFIGMAP, type MutualTLSIdentity, type Secret } from '../api/types.ts';
import type { Cluster } from '../cluster/port.ts';
import type { RotationState } from '../decide/rotation.ts';
import { Slicer } from '../slice.ts';
import { getCondition } from './conditions.ts';
import { issuedFacts } from './leaf-facts.ts';
export { leafParses } from './leaf-facts.ts';

/** Ready=False reasons that a reconcile cannot get past by itself: the admin must act. */
export const CANNOT_REISSUE: ReadonlySet<string> = new Set([
  'InvalidSpec', 'PolicyViolation', 'SecretConflict', 'KeystorePasswordMissing', 'KeystorePasswordInvalid',
]);

export interface IssuedCopy {
  identity: MutualTLSIdentity;
  secret: Secret;
  blocked: boolean;
}

function key(identity: MutualTLSIdentity): string {
  return `${identity.metadata.namespace}/${identity.metadata.name}`;
}

/** The Secret of each live identity that it controls and currently names. */
export async function issuedCopies(cluster: Cluster, slicer = new Slicer()): Promise<IssuedCopy[]> {
  const byUid = new Map<string, MutualTLSIdentity>();
  for (const id of cluster.listIdentities()) {
    if (slicer.due()) await slicer.pause();
    if (id.metadata.uid && !id.metadata.deletionTimestamp) byUid.set(id.metadata.uid, id);
  }
  const out: IssuedCopy[] = [];
  for (const s of cluster.listSecrets()) {
    if (slicer.due()) await slicer.pause();
    const ref = s.metadata.ownerReferences?.find((r) => r.controller === true);
    const identity = ref ? byUid.get(ref.uid) : undefined;
    if (!identity || identity.metadata.namespace !== s.metadata.namespace) continue;
    const wanted = identity.spec?.secretName ?? `${identity.metadata.name}${SECRET_NAME_SUFFIX}`;
    if (s.metadata.name !== wanted) continue;
    const ready = getCondition(identity.status, 'Ready');
    out.push({ identity, secret: s, blocked: ready?.status === 'False' && CANNOT_REISSUE.has(ready.reason) });
  }
  return out;
}

/** Identities that cannot be re-issued now, sorted. */
export async function blockedIdentities(cluster: Cluster, slicer = new Slicer()): Promise<string[]> {
  const out = new Set<string>();
  for (const id of cluster.listIdentities()) {
    if (slicer.due()) await slicer.pause();
    const ready = getCondition(id.status, 'Ready');
    if (!id.metadata.deletionTimestamp && ready?.status === 'False' && CANNOT_REISSUE.has(ready.reason)) out.add(key(id));
  }
  return [...out].sort();
}

/** Copies of the trust bundle that must be current: issued Secrets and bundle ConfigMaps. */
export async function bundleCopies(
  cluster: Cluster,
  copies: IssuedCopy[],
  bundlePem: string | undefined,
  /** Namespaces whose mtls-trust-bundle is someone else's ConfigMap: there is no copy of ours to wait for. */
  conflicted: ReadonlySet<string> = new Set(),
  slicer = new Slicer(),
): Promise<{ total: number; current: number }> {
  let total = 0;
  let current = 0;
  // Compared as the API holds it (canonical base64, one interned string per distinct value): decoding 10,000 copies
  // of a two-root bundle took 30-280 ms per check.
  const bundleB64 = bundlePem === undefined ? undefined : Buffer.from(bundlePem, 'utf8').toString('base64');
  for (const c of copies) {
    if (slicer.due()) await slicer.pause();
    if (c.blocked) continue;
    total++;
    if (bundleB64 !== undefined && c.secret.data?.[CA_CRT] === bundleB64) current++;
  }
  const namespaces = new Set<string>();
  for (const i of cluster.listIdentities()) {
    if (slicer.due()) await slicer.pause();
    namespaces.add(i.metadata.namespace!);
  }
  for (const ns of namespaces) {
    if (conflicted.has(ns)) continue;
    total++;
    if (bundlePem !== undefined && cluster.getConfigMap(ns, TRUST_BUNDLE_CONFIGMAP)?.data?.[CA_CRT] === bundlePem) current++;
  }
  return { total, current };
}

/**
 * The leaf's expiry, and whether `ca` signed it: the facts the reconciler keeps per Secret version
 * (leaf-facts.ts), so a rotation check parses nothing the reconciler has parsed, and a CA not asked
 * about before costs one parse per leaf, once. Before, every rotation check parsed and verified
 * every leaf: about 5 s of one core, on the event loop, every 10 s at 10,000 identities.
 */
async function factsOf(cluster: Cluster, c: IssuedCopy, ca: X509Certificate | undefined): Promise<{ notAfter: number; signed: boolean } | undefined> {
  const seen = await issuedFacts(cluster, key(c.identity), c.secret, ca ? [ca] : []);
  const leaf = seen.facts?.inspection.leaf;
  if (!leaf) return undefined;
  return { notAfter: leaf.notAfter, signed: ca !== undefined && seen.facts!.inspection.signedBy?.get(ca.fingerprint256) === true };
}

/**
 * Leaves of identities that can be re-issued, how many the new CA signed, and the latest expiry
 * of every other unexpired leaf (blocked ones included). Expired leaves verify nothing: skipped.
 */
export async function leafProgress(cluster: Cluster, copies: IssuedCopy[], newCA: X509Certificate | undefined, now: Date, slicer = new Slicer()): Promise<{ total: number; onNewCA: number; oldMaxNotAfter?: Date }> {
  let total = 0;
  let onNewCA = 0;
  let oldMax = 0;
  for (const c of copies) {
    if (slicer.due()) await slicer.pause();
    const f = await factsOf(cluster, c, newCA);
    if (!f) continue;
    const onNew = f.signed;
    if (!c.blocked) {
      total++;
      if (onNew) onNewCA++;
    }
    if (!onNew && f.notAfter > now.getTime()) oldMax = Math.max(oldMax, f.notAfter);
  }
  return { total, onNewCA, ...(oldMax ? { oldMaxNotAfter: new Date(oldMax) } : {}) };
}

/** How many live leaves a CA signed (recovering a lost state: did it sign anything yet?). */
export async function leavesSignedBy(cluster: Cluster, copies: IssuedCopy[], ca: X509Certificate, slicer = new Slicer()): Promise<number> {
  let signed = 0;
  for (const c of copies) {
    if (slicer.due()) await slicer.pause();
    if ((await factsOf(cluster, c, ca))?.signed === true) signed++;
  }
  return signed;
}

/**
 * Old leaves, counting pod certificates: the old CA signed them until the rotation went Active (or
 * until now, before), each living at most `lifetimeMs`, so the latest could expire then.
 */
export function withPodCertificates<T extends { oldMaxNotAfter?: Date }>(leaves: T, rotation: RotationState | undefined, lifetimeMs: number | undefined, now: Date): T {
  if (lifetimeMs === undefined) return leaves;
  const lastOldSigning = rotation?.phase === 'Active' ? Date.parse(rotation.since) : now.getTime();
  const until = lastOldSigning + lifetimeMs;
  if (until <= now.getTime() || (leaves.oldMaxNotAfter && leaves.oldMaxNotAfter.getTime() >= until)) return leaves;
  return { ...leaves, oldMaxNotAfter: new Date(until) };
}

/** The latest notAfter of the live leaves that `ca` did not sign (the old ones out there now). */
export async function oldLeavesNotAfter(cluster: Cluster, ca: X509Certificate, now: Date): Promise<Date | undefined> {
  const slicer = new Slicer();
  return (await leafProgress(cluster, await issuedCopies(cluster, slicer), ca, now, slicer)).oldMaxNotAfter;
}

/**
 * Everything nextRotationStep reads of the cluster, in one walk with one Slicer; nothing while no rotation runs
 * (on a restart over 10,000 identities the first look parsed every leaf on the event loop for nothing, issue 11).
 */
export async function rotationProgress(
  cluster: Cluster,
  running: boolean,
  p: { newCA?: X509Certificate; bundlePem?: string; conflicted: ReadonlySet<string>; rotation?: RotationState; podCertificateLifetimeMs?: number; now: Date },
): Promise<{ blocked: string[]; bundles: { total: number; current: number }; leaves: { total: number; onNewCA: number; oldMaxNotAfter?: Date } }> {
  if (!running) return { blocked: [], bundles: { total: 0, current: 0 }, leaves: { total: 0, onNewCA: 0 } };
  const slicer = new Slicer();
  const copies = await issuedCopies(cluster, slicer);
  const blocked = await blockedIdentities(cluster, slicer);
  const bundles = await bundleCopies(cluster, copies, p.bundlePem, p.conflicted, slicer);
  const leaves = withPodCertificates(await leafProgress(cluster, copies, p.newCA, p.now, slicer), p.rotation, p.podCertificateLifetimeMs, p.now);
  return { blocked, bundles, leaves };
}
