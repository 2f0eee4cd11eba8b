/**
 * What the caches keep of an object, whatever a tenant puts in it (issue 19, point 1).
 *
 * Anyone with write access in a namespace can create Secrets and ConfigMaps carrying the label
 * app.kubernetes.io/managed-by=mtls-operator, up to the API server's ~1.5 MB per object and
 * 256 KiB of annotations. Kept whole, 250 of them ran the 192 MB heap out. So every object is
 * reduced on arrival to what the operator's decisions read:
 *
 *   Secret:    data only when its controller ownerReference is an identity the identity cache
 *              holds with that uid (one Secret per live identity), and then only the keys the
 *              operator writes, each at most DATA_VALUE_MAX_CHARS; any other Secret is kept as
 *              bounded metadata and marked partial (a read of it goes to the API server).
 *   ConfigMap: at most CONFIGMAP_MAX_KEYS entries, each at most DATA_VALUE_MAX_CHARS.
 *   metadata:  labels and annotations with keys up to META_KEY_MAX_CHARS and values up to
 *              META_VALUE_MAX_CHARS, the operator's own keys first, at most META_MAX_ENTRIES;
 *              at most OWNER_REFS_MAX ownerReferences.
 *
 * A value over its bound is dropped, never truncated: a dropped tls.crt reads as missing and the
 * identity's next write replaces it. The bounds are far above anything the operator writes (an
 * RSA-4096 chain is ~5 KB) and at the CRD's secretTemplate limits for labels and annotations.
 */
import { CA_CRT, GROUP, KIND, LABEL_MANAGED_BY, TLS_CRT, TLS_KEY, type ObjectMeta, type Secret } from '../api/types.ts';
import { KEYSTORE_P12, TLS_COMBINED_PEM, TRUSTSTORE_P12 } from '../outputs/spec.ts';
import { intern, internFields } from './intern.ts';

/** Base64 characters of one kept Secret data value, or characters of one ConfigMap value. */
export const DATA_VALUE_MAX_CHARS = 64 * 1024;
export const META_KEY_MAX_CHARS = 316;
export const META_VALUE_MAX_CHARS = 1024;
export const META_MAX_ENTRIES = 64;
export const OWNER_REFS_MAX = 8;
export const CONFIGMAP_MAX_KEYS = 8;
/**
 * The rotation state ConfigMap (the operator's own, in its namespace, watched by name) records the phase, both
 * bundles, the CA fingerprints seen and the last refusal: more keys than a trust bundle, all of them needed.
 */
export const STATE_CONFIGMAP_MAX_KEYS = 64;

/** The Secret keys the operator writes and reads back. */
export const OWNED_SECRET_KEYS: readonly string[] = [TLS_CRT, TLS_KEY, CA_CRT, KEYSTORE_P12, TRUSTSTORE_P12, TLS_COMBINED_PEM];

const OWN_PREFIX = `${GROUP}/`;
const partial = new WeakSet<object>();

/** Whether the cache holds only this Secret's metadata (its data must be read from the API). */
export function isPartial(secret: Secret): boolean {
  return partial.has(secret);
}

function ours(key: string): boolean {
  return key.startsWith(OWN_PREFIX) || key === LABEL_MANAGED_BY;
}

/** Labels or annotations within the bounds: the operator's keys first, then the rest in key order. */
export function boundedMap(m: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!m) return undefined;
  const keys = Object.keys(m).filter((k) => k.length <= META_KEY_MAX_CHARS && m[k]!.length <= META_VALUE_MAX_CHARS);
  keys.sort((a, b) => Number(ours(b)) - Number(ours(a)) || (a < b ? -1 : a > b ? 1 : 0));
  const out: Record<string, string> = {};
  for (const k of keys.slice(0, META_MAX_ENTRIES)) out[k] = intern(m[k]!);
  return out;
}

export function boundedMeta(meta: ObjectMeta): ObjectMeta {
  const out: ObjectMeta = { ...meta };
  if (meta.labels) out.labels = boundedMap(meta.labels);
  if (meta.annotations) out.annotations = boundedMap(meta.annotations);
  if (meta.ownerReferences) {
    out.ownerReferences = meta.ownerReferences.slice(0, OWNER_REFS_MAX).map((r) => ({ ...r, apiVersion: intern(r.apiVersion), kind: intern(r.kind) }));
  }
  internFields(out, ['namespace', 'creationTimestamp', 'deletionTimestamp']);
  return out;
}

/** The uid of a live identity namespace/name in the identity cache, if any. */
export type IdentityUid = (namespace: string, name: string) => string | undefined;

/** Whether the Secret's controller is an identity the cache holds (same name and uid). */
export function ownedByLiveIdentity(secret: Secret, uidOf: IdentityUid): boolean {
  const ns = secret.metadata.namespace ?? '';
  return (secret.metadata.ownerReferences ?? []).some((r) =>
    r.controller === true && r.kind === KIND && r.apiVersion.startsWith(OWN_PREFIX) && r.uid !== '' &&
    uidOf(ns, r.name) === r.uid);
}

/**
 * Every issued Secret carries the same ca.crt (one or two roots, ~1 KB of base64 each). The cache keeps one string
 * per distinct bundle instead of one per Secret (10,000 identities: ~10 MB less heap). At most BUNDLES_SHARED
 * distinct values are remembered (a rotation has two or three); a value beyond them is kept as it came.
 */
const BUNDLES_SHARED = 8;
const bundles = new Map<string, string>();
export function sharedBundle(v: string): string {
  const known = bundles.get(v);
  if (known !== undefined) {
    bundles.delete(v);
    bundles.set(v, known); // most recently seen last
    return known;
  }
  bundles.set(v, v);
  if (bundles.size > BUNDLES_SHARED) bundles.delete(bundles.keys().next().value!);
  return v;
}

/** A labelled Secret as the cache keeps it (see the module comment). */
export function reduceSecret(secret: Secret, uidOf: IdentityUid): Secret {
  // Rest, not `delete`: an object a property was deleted from becomes a dictionary (~400 bytes more each).
  const { data: _data, ...rest } = secret;
  const out: Secret = { ...rest, metadata: boundedMeta(secret.metadata) };
  internFields(out, ['type']);
  if (!ownedByLiveIdentity(secret, uidOf)) {
    if (secret.data && Object.keys(secret.data).length > 0) partial.add(out);
    return out;
  }
  const data: Record<string, string> = {};
  for (const k of OWNED_SECRET_KEYS) {
    const v = secret.data?.[k];
    if (v !== undefined && v.length <= DATA_VALUE_MAX_CHARS) data[k] = k === CA_CRT ? sharedBundle(v) : v;
  }
  if (secret.data) out.data = data;
  return out;
}

/** A ConfigMap as the cache keeps it: bounded metadata, at most a few bounded entries. */
export function reduceData(data: Record<string, string> | undefined, maxKeys = CONFIGMAP_MAX_KEYS): Record<string, string> | undefined {
  if (!data) return undefined;
  const out: Record<string, string> = {};
  for (const k of Object.keys(data).sort().slice(0, maxKeys)) {
    if (data[k]!.length <= DATA_VALUE_MAX_CHARS) out[k] = data[k]!;
  }
  return out;
}
