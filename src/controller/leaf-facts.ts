/**
 * What the operator knows of each identity's issued Secret: the inspection of its tls.crt and
 * tls.key (leaf facts, key parameters, whether they match, which CAs signed the leaf), made once per
 * Secret version and remembered (issue 11: "leaf facts parsed once", "cache only what decisions
 * need").
 *
 * Once a reconcile has the facts of a version, the cache may drop that version's tls.crt and
 * tls.key (Cluster.releaseKeyPair): about 1.3 KB of base64 per identity that nothing reads again
 * until a write needs the PEMs. Any change to the Secret is a new resourceVersion, which arrives
 * whole through the watch and is inspected afresh, so a Secret edited by hand is still healed.
 *
 * Facts are kept per Cluster (several operators in one test process never share them) and per
 * identity key, for the Secret version (uid and resourceVersion) they were made from; a Secret
 * read whole from the API when a CA's verdict is missing is inspected in full again.
 */
import type { X509Certificate } from 'node:crypto';
import { TLS_CRT, TLS_KEY, type Secret } from '../api/types.ts';
import type { Cluster } from '../cluster/port.ts';
import { cannotHaveSigned, inspectIssued, inspectIssuedDeferred, leafSignedBy } from '../pki/index.ts';
import { parseCertificates } from '../pki/pem.ts';
import type { Inspection, KeyParams, SigningCA } from '../pki/types.ts';
import { unb64 } from './secret.ts';

export interface IssuedFacts {
  /** The Secret version these facts are of. */
  uid: string | undefined;
  resourceVersion: string;
  hasCert: boolean;
  hasKey: boolean;
  /** No PEM, no parsed certificate or key: see inspectIssued. */
  inspection: Inspection;
  /**
   * The leaf's DER, when the facts were made as the Secret arrived (factsOnArrival), before any CA
   * was known: kept until the first verdicts are made from it, so that they need no whole read.
   */
  leafDer?: Uint8Array;
}

/** Leaves parsed so far (tests: a second look at the same Secrets parses nothing). */
export const leafParses = { count: 0 };

const tables = new WeakMap<Cluster, Map<string, IssuedFacts>>();

function table(cluster: Cluster): Map<string, IssuedFacts> {
  let t = tables.get(cluster);
  if (!t) tables.set(cluster, (t = new Map()));
  return t;
}

/**
 * Every identity's leaf was checked against the same one to three CAs, and its key has one of a few
 * shapes: one shared map of verdicts, and one KeyParams object, per distinct value instead of one per identity.
 */
const SHARED_MAX = 64;
const shared = new Map<string, unknown>();
function share<T>(key: string, value: T): T {
  const known = shared.get(key);
  if (known !== undefined) return known as T;
  if (shared.size >= SHARED_MAX) shared.clear();
  shared.set(key, value);
  return value;
}
function compact(inspection: Inspection): Inspection {
  const out = { ...inspection };
  if (out.leaf?.authorityKeyId) out.leaf = { ...out.leaf, authorityKeyId: share(`a:${out.leaf.authorityKeyId}`, out.leaf.authorityKeyId) };
  if (out.signedBy) out.signedBy = share(`v:${[...out.signedBy].map(([fp, ok]) => `${fp}=${ok}`).join(',')}`, out.signedBy);
  if (out.key) out.key = share<KeyParams>(`k:${out.key.algorithm}/${out.key.size ?? ''}`, out.key);
  return out;
}

/** `f` with more CA verdicts (fingerprint256 -> signed) added to those it has. */
function withVerdicts(f: IssuedFacts, more: Iterable<readonly [string, boolean]> | undefined): IssuedFacts {
  return { ...f, inspection: compact({ ...f.inspection, signedBy: new Map([...f.inspection.signedBy ?? [], ...more ?? []]) }) };
}

function sameVersion(f: IssuedFacts | undefined, secret: Secret): f is IssuedFacts {
  return f !== undefined && secret.metadata.resourceVersion !== undefined &&
    f.resourceVersion === secret.metadata.resourceVersion && f.uid === secret.metadata.uid;
}

/** The CAs a remembered leaf has no verdict for yet (none when the leaf did not parse: there is nothing to ask). */
function unasked(f: IssuedFacts, cas: readonly X509Certificate[]): X509Certificate[] {
  if (!f.inspection.leaf) return [];
  return cas.filter((ca) => !f.inspection.signedBy?.has(ca.fingerprint256));
}

/**
 * The facts of this version of `identityKey`'s Secret, with a verdict for each of `cas`: remembered,
 * or made from its data. When the cache has dropped the data and something is missing, the Secret
 * is read whole (Cluster.wholeSecret); `secret` in the answer is then the one read, which may be a
 * newer version, or undefined when it is gone.
 */
export async function issuedFacts(
  cluster: Cluster,
  identityKey: string,
  secret: Secret,
  cas: readonly X509Certificate[],
): Promise<{ facts: IssuedFacts; secret: Secret } | { facts: undefined; secret: undefined }> {
  const t = table(cluster);
  let f: IssuedFacts | undefined = t.get(identityKey);
  if (!sameVersion(f, secret)) f = undefined;
  let missing = f ? unasked(f, cas) : cas;
  // A CA whose key identifier is not the leaf's authority key identifier did not sign it: no need for the data.
  if (f && missing.length > 0) {
    const leaf = f.inspection.leaf!;
    const refused = missing.filter((ca) => cannotHaveSigned(leaf, ca));
    if (refused.length > 0) {
      f = withVerdicts(f, refused.map((ca) => [ca.fingerprint256, false] as const));
      t.set(identityKey, f);
      missing = missing.filter((ca) => !refused.includes(ca));
    }
  }
  if (f && missing.length === 0) return { facts: f, secret };
  // Made as the Secret arrived: the verdicts come from the leaf kept for them, which then goes.
  if (f?.leafDer) {
    leafParses.count++;
    const { leafDer, ...rest } = f;
    f = withVerdicts(rest, leafSignedBy(leafDer, missing));
    t.set(identityKey, f);
    return { facts: f, secret };
  }
  const whole = await wholeSecret(cluster, secret);
  if (!whole) return { facts: undefined, secret: undefined };
  if (f && !sameVersion(f, whole)) f = undefined;
  const certPem = unb64(whole.data?.[TLS_CRT]);
  if (f) {
    leafParses.count++;
    const more = certPem ? leafSignedBy(certPem, missing) : undefined;
    f = withVerdicts(f, more);
  } else {
    const keyPem = unb64(whole.data?.[TLS_KEY]);
    if (certPem) leafParses.count++;
    f = {
      uid: whole.metadata.uid,
      resourceVersion: whole.metadata.resourceVersion ?? '',
      hasCert: !!certPem,
      hasKey: !!keyPem,
      inspection: compact(inspectIssued({ ...(certPem ? { certPem } : {}), ...(keyPem ? { keyPem } : {}) }, cas)),
    };
  }
  if (f.resourceVersion !== '') t.set(identityKey, f);
  return { facts: f, secret: whole };
}

/**
 * The CAs a leaf is checked against when inspected: the signing CA and every root of the trust bundle. During a
 * rotation the new root is in the bundle before it signs, and every Secret is rewritten (and so inspected afresh)
 * for that bundle: when it starts to sign, the verdicts are already there and no Secret has to be read whole.
 */
let asked: { ca: SigningCA; cas: X509Certificate[] } | undefined;
export function casToAsk(ca: SigningCA): X509Certificate[] {
  if (asked?.ca === ca) return asked.cas;
  const parsed = parseCertificates(ca.bundlePem, 'trust bundle');
  const cas = [ca.certificate];
  for (const c of parsed.ok ? parsed.certs : []) if (!cas.some((k) => k.fingerprint256 === c.fingerprint256)) cas.push(c);
  asked = { ca, cas };
  return cas;
}

/** `secret` with its key pair: read back when the cache dropped it (a cluster without releaseKeyPair keeps everything). */
export function wholeSecret(cluster: Cluster, secret: Secret): Promise<Secret | undefined> {
  return cluster.wholeSecret ? cluster.wholeSecret(secret) : Promise.resolve(secret);
}

/**
 * The facts of an issued Secret as the cache receives it (a list page or a watch event: ClusterHandlers.issuedSecretArrived),
 * with a verdict for each of `cas` (arrival-cas.ts: the CA certificates found before any CA is loaded). A restart then
 * inspects each Secret while its list is still being read, and the cache never holds the 10,000 key pairs at once.
 * With no `cas` (nothing found to ask yet), the leaf's DER is kept for the verdicts of the first reconcile.
 * false: nothing to remember (no tls.crt or tls.key), the cache keeps the Secret whole.
 */
export function factsOnArrival(cluster: Cluster, identityKey: string, secret: Secret, cas: readonly X509Certificate[] = []): boolean {
  const certPem = unb64(secret.data?.[TLS_CRT]);
  const keyPem = unb64(secret.data?.[TLS_KEY]);
  if (!certPem || !keyPem || secret.metadata.resourceVersion === undefined) return false;
  const t = table(cluster);
  if (sameVersion(t.get(identityKey), secret)) return true; // a relist brings known versions again: nothing to parse
  leafParses.count++;
  const { inspection, leafDer } = inspectIssuedDeferred({ certPem, keyPem }, cas);
  t.set(identityKey, {
    uid: secret.metadata.uid,
    resourceVersion: secret.metadata.resourceVersion,
    hasCert: true,
    hasKey: true,
    inspection: compact(inspection),
    ...(leafDer ? { leafDer } : {}),
  });
  return true;
}

/** Remember facts the caller knows without parsing (a leaf it has just issued and written as `written`). */
export function rememberFacts(cluster: Cluster, identityKey: string, written: Secret, inspection: Inspection): void {
  if (written.metadata.resourceVersion === undefined) return;
  table(cluster).set(identityKey, {
    uid: written.metadata.uid,
    resourceVersion: written.metadata.resourceVersion,
    hasCert: true,
    hasKey: true,
    inspection: compact(inspection),
  });
}

/**
 * The facts of an earlier version carried to `written`, a write that changed neither tls.crt nor
 * tls.key (a new trust bundle, labels, outputs).
 */
export function carryFacts(cluster: Cluster, identityKey: string, from: IssuedFacts, written: Secret): void {
  if (written.metadata.resourceVersion === undefined) return;
  table(cluster).set(identityKey, { ...from, uid: written.metadata.uid, resourceVersion: written.metadata.resourceVersion });
}

/** The facts remembered for this exact Secret version, if any. */
export function knownFacts(cluster: Cluster, identityKey: string, secret: Secret): IssuedFacts | undefined {
  const f = table(cluster).get(identityKey);
  return sameVersion(f, secret) ? f : undefined;
}

/** The identity is gone: so are its facts. */
export function forgetFacts(cluster: Cluster, identityKey: string): void {
  table(cluster).delete(identityKey);
}

/** A new operator process (a Reconciler) starts knowing nothing: a restart inspects every Secret again. */
export function forgetAllFacts(cluster: Cluster): void {
  tables.delete(cluster);
}

/** How many identities have facts remembered (tests, metrics). */
export function factsCount(cluster: Cluster): number {
  return table(cluster).size;
}
